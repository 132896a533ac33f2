"""GPU models with their published specifications.

Throughput is stored as dense GFLOPS (integers, so no float creeps into capacity arithmetic);
sparse figures are twice dense where the vendor states structured sparsity.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aisc.db.base import Base, UTCDateTime, enum_column


class GpuModel(Base):
    __tablename__ = "gpu_models"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    vendor: Mapped[str] = mapped_column(String(100), nullable=False)
    memory_gb: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_bandwidth_gbps: Mapped[int] = mapped_column(Integer, nullable=False)
    interconnect_gbps: Mapped[int] = mapped_column(Integer, nullable=False)
    fp8_dense_gflops: Mapped[int] = mapped_column(BigInteger, nullable=False)
    bf16_dense_gflops: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tf32_dense_gflops: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fp64_dense_gflops: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sparsity_2x: Mapped[bool] = mapped_column(Boolean, nullable=False)
    inference_oriented: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class NodeState(enum.StrEnum):
    UP = "up"
    DRAINING = "draining"
    DOWN = "down"
    MAINTENANCE = "maintenance"


class Partition(Base):
    """A set of nodes with one scheduling purpose (training, inference, sandbox)."""

    __tablename__ = "partitions"
    __table_args__ = (CheckConstraint("max_walltime_hours > 0", name="walltime_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    max_walltime_hours: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (
        CheckConstraint("gpu_count >= 0", name="gpus_non_negative"),
        CheckConstraint("cpu_cores > 0", name="cpus_positive"),
        CheckConstraint("memory_gb > 0", name="memory_positive"),
        CheckConstraint("retired_on IS NULL OR retired_on > installed_on", name="retired_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    gpu_model_code: Mapped[str] = mapped_column(ForeignKey("gpu_models.code"), nullable=False)
    gpu_count: Mapped[int] = mapped_column(Integer, nullable=False)
    cpu_cores: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_gb: Mapped[int] = mapped_column(Integer, nullable=False)
    partition_id: Mapped[int] = mapped_column(
        ForeignKey("partitions.id"), nullable=False, index=True
    )
    rack: Mapped[str] = mapped_column(String(50), nullable=False, default="")
    leaf_switch: Mapped[str] = mapped_column(String(50), nullable=False, default="")
    state: Mapped[NodeState] = mapped_column(enum_column(NodeState, "node_state"), nullable=False)
    state_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    installed_on: Mapped[date] = mapped_column(Date, nullable=False)
    retired_on: Mapped[date | None] = mapped_column(Date)

    partition: Mapped[Partition] = relationship(lazy="joined")


class CapacityPhase(Base):
    """A dated capacity target, as announced (e.g. 1,300 PFLOPS at opening)."""

    __tablename__ = "capacity_phases"
    __table_args__ = (CheckConstraint("target_pflops > 0", name="target_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    target_date: Mapped[date] = mapped_column(Date, unique=True, nullable=False)
    target_pflops: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
