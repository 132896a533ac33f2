"""An award is created by an approval; its subsidy cap is committed in the ledger."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aisc.applications.models import RequestKind
from aisc.db.base import Base, UTCDateTime, enum_column


class AwardStatus(enum.StrEnum):
    OFFERED = "offered"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    TERMINATED = "terminated"


CLOSED = frozenset({AwardStatus.COMPLETED, AwardStatus.TERMINATED})  # after close-out


class Award(Base):
    __tablename__ = "awards"
    __table_args__ = (
        CheckConstraint("subsidy_rate_bp BETWEEN 0 AND 10000", name="rate_range"),
        CheckConstraint("subsidy_cap_cents >= 0", name="cap_non_negative"),
        CheckConstraint("list_value_cents >= 0", name="list_non_negative"),
        CheckConstraint("end_date > start_date", name="dates_ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("schemes.id"), nullable=False, index=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id"), unique=True, nullable=False
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id"), nullable=False, index=True
    )
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    status: Mapped[AwardStatus] = mapped_column(
        enum_column(AwardStatus, "award_status"), nullable=False
    )
    kind: Mapped[RequestKind] = mapped_column(
        enum_column(RequestKind, "award_kind"), nullable=False
    )
    gpu_model_code: Mapped[str] = mapped_column(ForeignKey("gpu_models.code"), nullable=False)
    partition_id: Mapped[int | None] = mapped_column(ForeignKey("partitions.id"))
    gpu_cards: Mapped[int | None] = mapped_column(Integer)
    gpu_hours: Mapped[int | None] = mapped_column(BigInteger)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date] = mapped_column(Date, nullable=False)
    months: Mapped[int] = mapped_column(Integer, nullable=False)
    subsidy_rate_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    list_value_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    subsidy_cap_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class HoldKind(enum.StrEnum):
    """Why an award is held (suspended): by hand, or by a rule the worker applies."""

    MANUAL = "manual"  # an officer's decision (``aisc award suspend``)
    REPORT_OVERDUE = "report_overdue"  # a progress report past its grace period
    INVOICE_OVERDUE = "invoice_overdue"  # the applicant's share unpaid past the policy's days
    CONDITION = "condition"  # a condition of approval not met by its date


class AwardHold(Base):
    """One reason an award is suspended. The award is suspended while any hold is open and
    active again when the last one is lifted, so that lifting one reason (a report accepted)
    never lifts another (an invoice still unpaid)."""

    __tablename__ = "award_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    kind: Mapped[HoldKind] = mapped_column(enum_column(HoldKind, "hold_kind"), nullable=False)
    # What the hold is about (a report's or an invoice's id), "" for a manual hold.
    ref: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    reason: Mapped[str] = mapped_column(String(1000), nullable=False)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    placed_by: Mapped[str] = mapped_column(String(200), nullable=False)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(200))


class ChangeKind(enum.StrEnum):
    """A variation of an award after its approval (``aisc.awards.changes``)."""

    EXTENSION = "extension"  # later end date, same compute and money (pooled awards)
    TOP_UP = "top_up"  # more compute and more commitment (a committee decision)
    REDUCTION = "reduction"  # less compute ahead; the difference is released
    EARLY_END = "early_end"  # dedicated cards end early; the unused commitment is released


class AwardChange(Base):
    """One change to an award, as decided: what it was before and after, why, who decided.

    Rows are only ever inserted; the award's own columns hold the current terms."""

    __tablename__ = "award_changes"
    __table_args__ = (
        CheckConstraint("committed_cents >= 0", name="committed_non_negative"),
        CheckConstraint("released_cents >= 0", name="released_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    kind: Mapped[ChangeKind] = mapped_column(
        enum_column(ChangeKind, "award_change_kind"), nullable=False
    )
    effective_date: Mapped[date] = mapped_column(Date, nullable=False)
    before: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False)
    after: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False)
    committed_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    released_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    decided_by: Mapped[str] = mapped_column(String(300), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
