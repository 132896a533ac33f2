"""A job: a command (argument list, never a shell string) on a shape of GPUs for a walltime.

States and who may change them: ``aisc.jobs.lifecycle`` (the one transition table).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aisc.db.base import Base, UTCDateTime, enum_column
from aisc.jobs.placement import NOWHERE, Placement, PlacementType


class JobState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.TIMEOUT, JobState.CANCELLED})


class Backend(enum.StrEnum):
    """Where a job runs: the local executor, or handed over to Slurm."""

    LOCAL = "local"
    SLURM = "slurm"


class StopReason(enum.StrEnum):
    """Why the platform asked a job to stop (none yet: the empty value)."""

    NONE = ""
    WALLTIME = "walltime"
    CANCEL = "cancel"
    PREEMPT = "preempt"


class JobQos(enum.StrEnum):
    SCAVENGER = "scavenger"
    OVERBURN = "overburn"
    STANDARD = "standard"
    HERO = "hero"
    DEBUG = "debug"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("nodes >= 1 AND gpus_per_node >= 0", name="shape"),
        CheckConstraint("walltime_s > 0", name="walltime_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), nullable=False, index=True)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    partition_id: Mapped[int] = mapped_column(ForeignKey("partitions.id"), nullable=False)
    gpu_model_code: Mapped[str] = mapped_column(ForeignKey("gpu_models.code"), nullable=False)
    nodes: Mapped[int] = mapped_column(Integer, nullable=False)
    gpus_per_node: Mapped[int] = mapped_column(Integer, nullable=False)
    walltime_s: Mapped[int] = mapped_column(Integer, nullable=False)
    command: Mapped[list[str]] = mapped_column(JSON, nullable=False)  # the argument list
    environment: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    workdir: Mapped[str] = mapped_column(Text, nullable=False, default="")
    qos: Mapped[JobQos] = mapped_column(enum_column(JobQos, "job_qos"), nullable=False)
    preemptible: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    state: Mapped[JobState] = mapped_column(
        enum_column(JobState, "job_state"), nullable=False, index=True
    )
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    estimated_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    placement: Mapped[Placement] = mapped_column(PlacementType, nullable=False, default=NOWHERE)
    # The local executor's slices (``aisc.executors.local.Slice`` as JSON objects).
    processes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Why the platform asked the job to stop (walltime, cancel, preempt) and when (for the
    # SIGTERM -> grace -> SIGKILL sequence).
    stop_reason: Mapped[StopReason] = mapped_column(
        enum_column(StopReason, "job_stop_reason"), nullable=False, default=StopReason.NONE
    )
    stop_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_dir: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # A Slurm job is handed over in two steps: ``handed_at`` is committed before the submission
    # (so a crash in between is found again by the job's Slurm name, never submitted twice),
    # ``backend_id`` after it.
    backend: Mapped[Backend] = mapped_column(
        enum_column(Backend, "job_backend"), nullable=False, default=Backend.LOCAL
    )
    backend_id: Mapped[str | None] = mapped_column(String(64), index=True)
    backend_state: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    handed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
