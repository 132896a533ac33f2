"""Ledger entries. Rows are only ever inserted: corrections are new entries.

Kinds and their meaning (amounts are always positive):
- budget: money given to the scheme;
- earmark: money set aside for a purpose (e.g. security) and not available to awards;
- commitment: an award's subsidy cap, reserved at approval;
- disbursement: subsidy paid out against an award's commitment;
- release: unspent commitment handed back to the fund;
- reversal: disbursed subsidy handed back to its award's commitment (a credit note).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aisc.db.base import Base, UTCDateTime, enum_column


class EntryKind(enum.StrEnum):
    BUDGET = "budget"
    EARMARK = "earmark"
    COMMITMENT = "commitment"
    DISBURSEMENT = "disbursement"
    RELEASE = "release"
    REVERSAL = "reversal"


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "(kind IN ('commitment', 'disbursement', 'release', 'reversal')) "
            "= (award_id IS NOT NULL)",
            name="award_entries_name_award",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("schemes.id"), nullable=False, index=True)
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind, "entry_kind"), nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    award_id: Mapped[int | None] = mapped_column(ForeignKey("awards.id"), index=True)
    label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    memo: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)


class SpendKind(enum.StrEnum):
    SPEND = "spend"
    REVERSAL = "reversal"


class EarmarkSpend(Base):
    """Money paid out of an earmark (``aisc.ledger.earmarks``). Rows are only ever inserted: a
    spend recorded in error is cancelled by a reversal row naming it, never edited.

    The earmark is named by its label (the ledger's earmark entries with that label, summed);
    what remains of it is those entries less spends plus reversals, never below zero.
    """

    __tablename__ = "earmark_spends"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "(kind = 'reversal') = (reverses_id IS NOT NULL)", name="reversal_names_spend"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("schemes.id"), nullable=False, index=True)
    earmark: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[SpendKind] = mapped_column(
        enum_column(SpendKind, "earmark_spend_kind"), nullable=False
    )
    vendor: Mapped[str] = mapped_column(String(200), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    spent_on: Mapped[date] = mapped_column(Date, nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    evidence_ref: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("earmark_spends.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
