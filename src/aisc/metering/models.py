"""Usage records. ``key`` is unique: ingesting the same accounting twice changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aisc.db.base import Base, UTCDateTime


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (CheckConstraint("gpu_seconds >= 0", name="gpu_seconds_non_negative"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    source: Mapped[str] = mapped_column(String(50), nullable=False)  # local, slurm
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    gpu_model_code: Mapped[str] = mapped_column(ForeignKey("gpu_models.code"), nullable=False)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The invoice line that billed it (none yet; dedicated awards' usage is never billed by use).
    # Not indexed on purpose: billing sets it on every record once, and without an index the
    # update can stay on its page (PostgreSQL HOT updates; the table has free space for it).
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("charges.id"))
