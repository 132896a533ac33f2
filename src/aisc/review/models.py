"""Reviews and decisions.

A score row keeps the weight its criterion had when it was given, so changing the scheme's
weights later does not rewrite past totals.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aisc.applications.models import RequestKind
from aisc.db.base import Base, UTCDateTime, enum_column


class ReviewAssignment(Base):
    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id"), nullable=False, index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("people.id"), nullable=False, index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    conflict: Mapped[bool | None] = mapped_column(Boolean)  # None until declared
    conflict_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    scores: Mapped[list[ReviewScore]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ReviewScore.criterion_code"
    )


class ReviewScore(Base):
    __tablename__ = "review_scores"
    __table_args__ = (
        UniqueConstraint("assignment_id", "criterion_code"),
        CheckConstraint("score BETWEEN 0 AND 10", name="score_range"),
        CheckConstraint("weight BETWEEN 1 AND 100", name="weight_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("review_assignments.id", ondelete="CASCADE"), nullable=False
    )
    criterion_code: Mapped[str] = mapped_column(String(50), nullable=False)
    weight: Mapped[int] = mapped_column(Integer, nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")


class DecisionOutcome(enum.StrEnum):
    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    DEFER = "defer"
    REJECT = "reject"


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(
            "subsidy_rate_bp IS NULL OR subsidy_rate_bp BETWEEN 0 AND 10000", name="rate_range"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id"), nullable=False, index=True
    )
    outcome: Mapped[DecisionOutcome] = mapped_column(
        enum_column(DecisionOutcome, "outcome"), nullable=False
    )
    # ``aisc.review.schemas.Reason`` as JSON objects ({"code", "text"}).
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON, nullable=False, default=list)
    conditions: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    granted_kind: Mapped[RequestKind | None] = mapped_column(
        enum_column(RequestKind, "granted_kind")
    )
    granted_gpu_model: Mapped[str | None] = mapped_column(String(50))
    granted_cards: Mapped[int | None] = mapped_column(Integer)
    granted_gpu_hours: Mapped[int | None] = mapped_column(BigInteger)
    granted_months: Mapped[int | None] = mapped_column(Integer)
    granted_start: Mapped[date | None] = mapped_column(Date)
    subsidy_rate_bp: Mapped[int | None] = mapped_column(Integer)
    exceptional_justification: Mapped[str] = mapped_column(Text, nullable=False, default="")
    granted_partition: Mapped[str | None] = mapped_column(String(50))
    capacity_override_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    capacity_override_justification: Mapped[str] = mapped_column(Text, nullable=False, default="")
    price_list_id: Mapped[int | None] = mapped_column(ForeignKey("price_lists.id"))
    list_value_cents: Mapped[int | None] = mapped_column(BigInteger)
    subsidy_cap_cents: Mapped[int | None] = mapped_column(BigInteger)
