"""Progress reports due on an award's schedule, and the conditions its approval carries.

A report moves due -> submitted -> accepted, or submitted -> changes_requested -> submitted
(``aisc.progress.service.REPORT_MOVES``); whether it is overdue or was late is computed from the
dates, never stored. A condition is open until the secretariat marks it met or waived; an open
condition past its due date reads as overdue.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aisc.db.base import Base, UTCDateTime, enum_column


class ReportKind(enum.StrEnum):
    PROGRESS = "progress"
    FINAL = "final"


class ReportStatus(enum.StrEnum):
    DUE = "due"  # scheduled, nothing submitted yet
    SUBMITTED = "submitted"  # waiting for the secretariat
    CHANGES_REQUESTED = "changes_requested"  # sent back with a note; the lead resubmits
    ACCEPTED = "accepted"


class ConditionStatus(enum.StrEnum):
    OPEN = "open"
    MET = "met"
    WAIVED = "waived"


class ReportingPlan(Base):
    """The committee's own reporting cadence for one award (months after its start at which
    progress reports fall due), recorded with the decision; without one the scheme's applies."""

    __tablename__ = "reporting_plans"

    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), primary_key=True)
    report_months: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ProgressReport(Base):
    __tablename__ = "progress_reports"
    __table_args__ = (UniqueConstraint("award_id", "kind", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    kind: Mapped[ReportKind] = mapped_column(enum_column(ReportKind, "report_kind"), nullable=False)
    # 1, 2, ... among the award's progress reports; 1 for the final report.
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[ReportStatus] = mapped_column(
        enum_column(ReportStatus, "report_status"), nullable=False
    )
    narrative: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # aisc.progress.schemas.Milestone, Outputs and Attachment as JSON.
    milestones: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(Text)
    review_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class AwardCondition(Base):
    __tablename__ = "award_conditions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    due_date: Mapped[date | None] = mapped_column(Date)
    # Met before the first allocation may be used: a hold from activation until met or waived.
    holds_allocation: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[ConditionStatus] = mapped_column(
        enum_column(ConditionStatus, "condition_status"), nullable=False
    )
    evidence: Mapped[str] = mapped_column(Text, nullable=False, default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
