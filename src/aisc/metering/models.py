"""Usage records and the buckets that rate them.

``key`` is unique: ingesting the same accounting twice changes nothing. Each record is added,
as it is ingested, to the open bucket of its award, GPU model and month (of its end); billing
charges whole buckets and closes them, so a month's run touches a few hundred buckets, never
the records themselves. A record that arrives after its bucket was billed opens a new bucket
(the next generation), which the next run bills: nothing is lost or billed twice.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
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
    bucket_id: Mapped[int | None] = mapped_column(ForeignKey("usage_buckets.id"), index=True)


class UsageBucket(Base):
    """Usage of one award and GPU model ending in one month, as one billable quantity."""

    __tablename__ = "usage_buckets"
    __table_args__ = (
        UniqueConstraint("award_id", "gpu_model_code", "month", "generation"),
        CheckConstraint("gpu_seconds >= 0", name="gpu_seconds_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    gpu_model_code: Mapped[str] = mapped_column(ForeignKey("gpu_models.code"), nullable=False)
    month: Mapped[date] = mapped_column(Date, nullable=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The invoice line that billed it; an open bucket has none. Dedicated awards' buckets are
    # never billed by use (their card-month charge covers them).
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("charges.id"), index=True)
