"""QOS grants: the privileged tiers an award may use, and until when, and how much.

Every award may use the standard tiers (``STANDARD_TIERS``). The privileged ones
(``PRIVILEGED_TIERS``: the top of the priority order) only through a grant recorded here, by
the secretariat or an operator. A grant is in force from ``granted_at`` until it expires or
is revoked; revoked grants stay, so the record of who could use what, when, is complete.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aisc.db.base import Base, UTCDateTime, enum_column
from aisc.jobs.models import JobQos

STANDARD_TIERS = frozenset({JobQos.SCAVENGER, JobQos.OVERBURN, JobQos.STANDARD})
PRIVILEGED_TIERS = frozenset({JobQos.HERO, JobQos.DEBUG})


class QosGrant(Base):
    __tablename__ = "qos_grants"
    __table_args__ = (CheckConstraint("gpu_hours IS NULL OR gpu_hours > 0", name="limit_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(
        ForeignKey("awards.id", ondelete="CASCADE"), nullable=False, index=True
    )
    qos: Mapped[JobQos] = mapped_column(enum_column(JobQos, "grant_qos"), nullable=False)
    # GPU-hours the award may run in this tier under the grant (None: no limit of its own).
    gpu_hours: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    granted_by: Mapped[str] = mapped_column(String(100), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))

    def in_force(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)
