"""An allocation realises an award on a partition: dedicated cards or pooled GPU-hours.

Its state is derived, not stored, so it can never disagree with the calendar or the award:
scheduled before its start, active until its end, ended after; suspended while its award is.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aisc.applications.models import RequestKind
from aisc.db.base import Base, UTCDateTime, enum_column


class AllocationState(enum.StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (
        CheckConstraint("end_date > start_date", name="dates_ordered"),
        CheckConstraint(
            "(kind = 'dedicated' AND gpu_cards > 0 AND gpu_hours IS NULL) OR "
            "(kind = 'pooled' AND gpu_hours > 0 AND gpu_cards IS NULL)",
            name="shape",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    kind: Mapped[RequestKind] = mapped_column(
        enum_column(RequestKind, "allocation_kind"), nullable=False
    )
    gpu_model_code: Mapped[str] = mapped_column(ForeignKey("gpu_models.code"), nullable=False)
    partition_id: Mapped[int] = mapped_column(
        ForeignKey("partitions.id"), nullable=False, index=True
    )
    gpu_cards: Mapped[int | None] = mapped_column(Integer)
    gpu_hours: Mapped[int | None] = mapped_column(BigInteger)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    # Nodes held for a dedicated allocation of whole nodes while it is active (JSON list), bound
    # by the scheduling loop; its jobs run there, others' only if preemptible.
    node_names: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
