"""The scheme's configuration. The fund itself lives in the ledger, never as a mutable total."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aisc.accounts.models import OrgCategory
from aisc.db.base import Base, UTCDateTime, enum_column


class Scheme(Base):
    __tablename__ = "schemes"
    __table_args__ = (
        CheckConstraint("default_rate_bp BETWEEN 0 AND 10000", name="default_rate_range"),
        CheckConstraint(
            "exceptional_max_bp BETWEEN default_rate_bp AND 10000", name="exceptional_range"
        ),
        CheckConstraint("end_date > start_date", name="dates_ordered"),
        CheckConstraint("review_quorum >= 1", name="quorum_positive"),
        CheckConstraint("capacity_headroom_bp BETWEEN 0 AND 10000", name="headroom_range"),
        CheckConstraint("payment_terms_days BETWEEN 0 AND 365", name="payment_terms_range"),
        CheckConstraint("reminder_days_before BETWEEN 0 AND 365", name="reminder_range"),
        CheckConstraint(
            "overdue_hold_days IS NULL OR overdue_hold_days >= 1", name="overdue_hold_positive"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date] = mapped_column(Date, nullable=False)
    default_rate_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    exceptional_max_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    review_quorum: Mapped[int] = mapped_column(Integer, nullable=False)
    # Share of installed GPU capacity kept back from awards (maintenance, sandbox, PoC).
    capacity_headroom_bp: Mapped[int] = mapped_column(Integer, nullable=False, default=500)
    # Usage beyond an award's grant: "refuse" new jobs at the gateway, or "full_price".
    over_award_policy: Mapped[str] = mapped_column(String(20), nullable=False, default="refuse")
    # Reporting after the award: progress reports due this many months after an award's start
    # (comma-separated), a final report within final_report_days of its end, a reminder
    # report_reminder_days before a due date, a hold report_grace_days after it.
    report_months: Mapped[str] = mapped_column(String(100), nullable=False, default="1,3,9")
    final_report_days: Mapped[int] = mapped_column(Integer, nullable=False, default=60)
    report_reminder_days: Mapped[int] = mapped_column(Integer, nullable=False, default=7)
    report_grace_days: Mapped[int] = mapped_column(Integer, nullable=False, default=14)
    # Receivables (``aisc.billing.receivables``): an invoice is due this many days from issue;
    # the applicant is reminded this many days before; an award whose invoice is overdue by more
    # than ``overdue_hold_days`` is held (None: never).
    payment_terms_days: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    reminder_days_before: Mapped[int] = mapped_column(Integer, nullable=False, default=7)
    overdue_hold_days: Mapped[int | None] = mapped_column(Integer)
    is_demo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    criteria: Mapped[list[SchemeCriterion]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="SchemeCriterion.position"
    )
    categories: Mapped[list[SchemeCategory]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="SchemeCategory.category"
    )

    @property
    def eligible_categories(self) -> set[OrgCategory]:
        return {c.category for c in self.categories if c.eligible}

    def criterion(self, code: str) -> SchemeCriterion | None:
        return next((c for c in self.criteria if c.code == code), None)


class SchemeCriterion(Base):
    __tablename__ = "scheme_criteria"
    __table_args__ = (
        UniqueConstraint("scheme_id", "code"),
        CheckConstraint("weight BETWEEN 1 AND 100", name="weight_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(
        ForeignKey("schemes.id", ondelete="CASCADE"), nullable=False
    )
    code: Mapped[str] = mapped_column(String(50), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    weight: Mapped[int] = mapped_column(Integer, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)


class SchemeCategory(Base):
    __tablename__ = "scheme_categories"
    __table_args__ = (UniqueConstraint("scheme_id", "category"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(
        ForeignKey("schemes.id", ondelete="CASCADE"), nullable=False
    )
    category: Mapped[OrgCategory] = mapped_column(
        enum_column(OrgCategory, "scheme_category"), nullable=False
    )
    eligible: Mapped[bool] = mapped_column(Boolean, nullable=False)
