from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Response
from pydantic import Field

from aisc.allocations.schemas import Utilisation
from aisc.allocations.service import utilisation
from aisc.cluster import service
from aisc.cluster.inventory import import_inventory
from aisc.cluster.models import NodeState
from aisc.cluster.pflops import capacity_report
from aisc.cluster.schemas import (
    CapacityReport,
    GpuModelRead,
    ImportResult,
    NodeIn,
    NodeRead,
    NodeStateIn,
    PartitionIn,
    PartitionRead,
    PhaseIn,
)
from aisc.errors import ValidationFailed
from aisc.http import PagingDep, Uow, requires
from aisc.reports.plots import capacity_plot
from aisc.schemas import Day, Schema

router = APIRouter(tags=["cluster"])
NodeName = Path(min_length=1, max_length=100)


class InventoryUpload(Schema):
    format: Literal["yaml", "csv"]
    content: str = Field(max_length=20_000_000)


@router.get(
    "/gpu-models", response_model=list[GpuModelRead], dependencies=[requires("cluster.read")]
)
def list_gpu_models(uow: Uow) -> list[GpuModelRead]:
    with uow() as ctx:
        return [GpuModelRead.model_validate(m) for m in service.list_gpu_models(ctx)]


@router.get(
    "/gpu-models/{code}", response_model=GpuModelRead, dependencies=[requires("cluster.read")]
)
def get_gpu_model(code: str, uow: Uow) -> GpuModelRead:
    with uow() as ctx:
        return GpuModelRead.model_validate(service.get_gpu_model(ctx, code=code))


@router.get(
    "/cluster/partitions",
    response_model=list[PartitionRead],
    dependencies=[requires("cluster.read")],
)
def list_partitions(uow: Uow) -> list[PartitionRead]:
    with uow() as ctx:
        return [PartitionRead.model_validate(p) for p in service.list_partitions(ctx)]


@router.put(
    "/cluster/partitions", response_model=PartitionRead, dependencies=[requires("cluster.manage")]
)
def put_partition(data: PartitionIn, uow: Uow) -> PartitionRead:
    """Create a partition, or update the one with this name."""
    with uow() as ctx:
        return PartitionRead.model_validate(service.upsert_partition(ctx, data=data)[0])


@router.get(
    "/cluster/nodes", response_model=list[NodeRead], dependencies=[requires("cluster.read")]
)
def list_nodes(
    uow: Uow,
    page: PagingDep,
    partition: str | None = None,
    state: NodeState | None = None,
    gpu_model: str | None = None,
) -> list[NodeRead]:
    with uow() as ctx:
        return [
            NodeRead.of(n)
            for n in service.list_nodes(
                ctx,
                partition=partition,
                state=state,
                gpu_model=gpu_model,
                limit=page.limit,
                offset=page.offset,
            )
        ]


@router.put("/cluster/nodes", response_model=NodeRead, dependencies=[requires("cluster.manage")])
def put_node(data: NodeIn, uow: Uow) -> NodeRead:
    """Create a node, or update the one with this name."""
    with uow() as ctx:
        return NodeRead.of(service.upsert_node(ctx, data=data)[0])


@router.get(
    "/cluster/nodes/{name}", response_model=NodeRead, dependencies=[requires("cluster.read")]
)
def get_node(uow: Uow, name: str = NodeName) -> NodeRead:
    with uow() as ctx:
        return NodeRead.of(service.get_node(ctx, name=name))


@router.put(
    "/cluster/nodes/{name}/state",
    response_model=NodeRead,
    dependencies=[requires("cluster.manage")],
)
def set_node_state(data: NodeStateIn, uow: Uow, name: str = NodeName) -> NodeRead:
    with uow() as ctx:
        return NodeRead.of(service.set_node_state(ctx, name=name, data=data))


@router.post(
    "/cluster/import", response_model=ImportResult, dependencies=[requires("cluster.manage")]
)
def import_file(data: InventoryUpload, uow: Uow) -> ImportResult:
    """Import an inventory file; all or nothing, errors with line numbers."""
    with uow() as ctx:
        return import_inventory(ctx, text=data.content, fmt=data.format)


@router.get(
    "/cluster/phases", response_model=list[PhaseIn], dependencies=[requires("cluster.read")]
)
def list_phases(uow: Uow) -> list[PhaseIn]:
    with uow() as ctx:
        return [
            PhaseIn(
                name=p.name, target_date=p.target_date, target_pflops=p.target_pflops, note=p.note
            )
            for p in service.list_phases(ctx)
        ]


@router.get(
    "/cluster/capacity", response_model=CapacityReport, dependencies=[requires("cluster.read")]
)
def capacity(
    uow: Uow, as_of: Day | None = None, reference_model: str | None = None
) -> CapacityReport:
    """Installed PFLOPS on each precision basis, and what each phase target implies."""
    with uow() as ctx:
        return capacity_report(ctx, as_of=as_of or ctx.now.date(), reference_model=reference_model)


@router.get(
    "/cluster/utilisation", response_model=Utilisation, dependencies=[requires("capacity.read")]
)
def allocated(uow: Uow, as_of: Day | None = None) -> Utilisation:
    """Installed, allocatable and committed GPU cards per month; allocated % of installed."""
    with uow() as ctx:
        return utilisation(ctx, today=as_of or ctx.now.date())


@router.get(
    "/cluster/capacity/plot",
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
    dependencies=[requires("capacity.read")],
)
def plot(uow: Uow, format: str = "png", as_of: Day | None = None) -> Response:
    """Supply against commitments over the scheme's months, as PNG or SVG."""
    if format not in ("png", "svg"):
        raise ValidationFailed(f"format: {format!r} is not one of png, svg", field="format")
    with uow() as ctx:
        body = capacity_plot(utilisation(ctx, today=as_of or ctx.now.date()), fmt=format)
    return Response(body, media_type="image/png" if format == "png" else "image/svg+xml")
