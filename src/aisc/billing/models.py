"""Charges, invoices, credit notes and burn notifications.

An invoice is issued once per award and month and never changes; its lines are the charges it
carries. Corrections are credit notes that reference the invoice. Every amount is integer cents
and every line satisfies ``list = subsidy + payable`` (a database constraint).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from aisc.awards.models import AwardStatus
from aisc.db.base import Base, UTCDateTime, enum_column

_SPLIT = "list_cents = subsidy_cents + payable_cents"
_NON_NEGATIVE = "subsidy_cents >= 0 AND payable_cents >= 0"


# Payment terms where the scheme names none (and for invoices issued before terms existed).
DEFAULT_TERMS_DAYS = 30

# Awards whose dedicated allocations are charged (and whose burn is watched).
CHARGED_STATUSES = (AwardStatus.ACTIVE, AwardStatus.SUSPENDED, AwardStatus.COMPLETED)


class ChargeKind(enum.StrEnum):
    DEDICATED = "dedicated"  # cards x days of a dedicated allocation, busy or idle
    POOLED = "pooled"  # GPU-seconds used within the grant
    OVER_AWARD = "over_award"  # GPU-seconds beyond the grant: full list price, no subsidy


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("award_id", "month"),
        CheckConstraint(_SPLIT, name="split"),
        CheckConstraint(_NON_NEGATIVE, name="non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    number: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    month: Mapped[date] = mapped_column(Date, nullable=False, index=True)  # first day
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    issued_by: Mapped[str] = mapped_column(String(200), nullable=False)
    # The payment terms in force when it was issued (the scheme's): due ``terms_days`` after.
    issue_date: Mapped[date] = mapped_column(Date, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    terms_days: Mapped[int] = mapped_column(Integer, nullable=False)
    list_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    subsidy_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payable_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The fund's disbursement of this invoice's subsidy (none when the subsidy is zero).
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))


class BillingRun(Base):
    """One billing run (``charging.run_month``), recorded in its own transaction's commit.

    ``seconds`` is the run's own work (from its start to the last line issued), measured in the
    process that ran it; every server's ``/metrics`` reads the last one from here.
    """

    __tablename__ = "billing_runs"
    __table_args__ = (CheckConstraint("seconds >= 0", name="seconds_non_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[date] = mapped_column(Date, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    seconds: Mapped[float] = mapped_column(Float, nullable=False)
    issued: Mapped[int] = mapped_column(Integer, nullable=False)
    skipped: Mapped[int] = mapped_column(Integer, nullable=False)
    run_by: Mapped[str] = mapped_column(String(200), nullable=False)


class Charge(Base):
    """One line of an invoice."""

    __tablename__ = "charges"
    __table_args__ = (
        CheckConstraint(_SPLIT, name="split"),
        CheckConstraint(_NON_NEGATIVE, name="non_negative"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), nullable=False, index=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    month: Mapped[date] = mapped_column(Date, nullable=False)
    kind: Mapped[ChargeKind] = mapped_column(enum_column(ChargeKind, "charge_kind"), nullable=False)
    gpu_model_code: Mapped[str] = mapped_column(ForeignKey("gpu_models.code"), nullable=False)
    # Card-days (dedicated) or GPU-seconds (pooled, over_award).
    quantity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    list_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    subsidy_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payable_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)


class CreditNote(Base):
    __tablename__ = "credit_notes"
    __table_args__ = (
        CheckConstraint(_SPLIT, name="split"),
        CheckConstraint(_NON_NEGATIVE, name="non_negative"),
        CheckConstraint("list_cents > 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    number: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    issued_by: Mapped[str] = mapped_column(String(200), nullable=False)
    list_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    subsidy_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payable_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The subsidy handed back to the award's commitment (none when it is zero).
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))


class PaymentMethod(enum.StrEnum):
    BANK_TRANSFER = "bank_transfer"
    FPS = "fps"  # Hong Kong's Faster Payment System
    CHEQUE = "cheque"
    OTHER = "other"


class Payment(Base):
    """Money received from the applicant against an invoice's payable share.

    Appended, never changed: a payment recorded in error is reversed by a second row with the
    negative amount that names it (``reverses_id``, once). An invoice's paid amount is the sum
    of its rows; it never exceeds the payable left after credit notes when it is recorded
    (``aisc.billing.receivables.record_payment`` locks the invoice row to keep it so).
    """

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_cents <> 0", name="non_zero"),
        CheckConstraint(
            "(reverses_id IS NULL AND amount_cents > 0) OR "
            "(reverses_id IS NOT NULL AND amount_cents < 0)",
            name="reversal_negative",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    number: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), nullable=False, index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    received_on: Mapped[date] = mapped_column(Date, nullable=False)
    reference: Mapped[str] = mapped_column(String(200), nullable=False)
    method: Mapped[PaymentMethod] = mapped_column(
        enum_column(PaymentMethod, "payment_method"), nullable=False
    )
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), unique=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(200), nullable=False)


class Notification(Base):
    """A burn alert: stored once per award and threshold; it leaves through the outbox
    (``aisc.outbox``, key ``notification:<id>``), which records its delivery."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("award_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(50), nullable=False)  # burn_50 | burn_80 | burn_100
    message: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


def _never_changes(_mapper: object, _connection: object, target: object) -> None:
    raise ValueError(f"{type(target).__name__} rows are never changed once written")


for _model in (Invoice, Charge, CreditNote, Payment):
    event.listen(_model, "before_update", _never_changes)
    event.listen(_model, "before_delete", _never_changes)
