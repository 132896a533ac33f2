from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field, model_validator

from aisc.cluster.models import Node, NodeState
from aisc.schemas import Day, ReadSchema, Schema

NodeName = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
PartitionName = Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_-]*$")


class GpuModelRead(ReadSchema):
    code: str
    name: str
    vendor: str
    memory_gb: int
    memory_bandwidth_gbps: int
    interconnect_gbps: int
    fp8_dense_gflops: int
    bf16_dense_gflops: int
    tf32_dense_gflops: int
    fp64_dense_gflops: int
    sparsity_2x: bool
    inference_oriented: bool


class PartitionIn(Schema):
    name: str = PartitionName
    max_walltime_hours: int = Field(gt=0, le=24 * 365)
    description: str = Field(default="", max_length=2000)


class PartitionRead(ReadSchema):
    id: int
    name: str
    max_walltime_hours: int
    description: str


class NodeIn(Schema):
    name: str = NodeName
    gpu_model: str = Field(min_length=1, max_length=50)
    gpu_count: int = Field(ge=0, le=64)
    cpu_cores: int = Field(gt=0, le=4096)
    memory_gb: int = Field(gt=0, le=65536)
    partition: str = PartitionName
    rack: str = Field(default="", max_length=50)
    leaf_switch: str = Field(default="", max_length=50)
    installed_on: Day
    retired_on: Day | None = None
    state: NodeState = NodeState.UP
    state_reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _dates(self) -> NodeIn:
        if self.retired_on is not None and self.retired_on <= self.installed_on:
            raise ValueError("retired_on must be after installed_on")
        return self


class NodeRead(ReadSchema):
    id: int
    name: str
    gpu_model: str
    gpu_count: int
    cpu_cores: int
    memory_gb: int
    partition: str
    rack: str
    leaf_switch: str
    state: NodeState
    state_reason: str
    state_changed_at: datetime
    installed_on: date
    retired_on: date | None

    @classmethod
    def of(cls, node: Node) -> NodeRead:
        return cls(
            id=node.id,
            name=node.name,
            gpu_model=node.gpu_model_code,
            gpu_count=node.gpu_count,
            cpu_cores=node.cpu_cores,
            memory_gb=node.memory_gb,
            partition=node.partition.name,
            rack=node.rack,
            leaf_switch=node.leaf_switch,
            state=node.state,
            state_reason=node.state_reason,
            state_changed_at=node.state_changed_at,
            installed_on=node.installed_on,
            retired_on=node.retired_on,
        )


class NodeStateIn(Schema):
    state: NodeState
    reason: str = Field(default="", max_length=2000)


class PhaseIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    target_date: Day
    target_pflops: int = Field(gt=0, le=10_000_000)
    note: str = Field(default="", max_length=2000)


class ImportResult(ReadSchema):
    partitions_created: int
    partitions_updated: int
    nodes_created: int
    nodes_updated: int
    phases_created: int
    phases_updated: int


class BasisFigures(ReadSchema):
    """PFLOPS on each precision basis."""

    fp8_dense: Decimal
    fp8_sparse: Decimal
    bf16_dense: Decimal
    bf16_sparse: Decimal


class ModelInstalled(ReadSchema):
    gpu_model: str
    gpus: int
    nodes: int
    pflops: BasisFigures


class PhaseImplication(ReadSchema):
    """What a PFLOPS target means in GPUs and 8-GPU nodes of the reference model."""

    basis: str
    gpus: int
    nodes: int


class PhaseReport(ReadSchema):
    name: str
    target_date: date
    target_pflops: int
    installed_pflops: BasisFigures
    implies: list[PhaseImplication]


class CapacityReport(ReadSchema):
    as_of: date
    reference_model: str | None
    installed_gpus: int
    installed_nodes: int
    installed_pflops: BasisFigures
    by_model: list[ModelInstalled]
    phases: list[PhaseReport]
