"""The centre's inventory: GPU models, partitions, nodes and their states, capacity phases."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from aisc.access import authorize
from aisc.audit.service import record
from aisc.cluster.catalogue import CATALOGUE
from aisc.cluster.models import CapacityPhase, GpuModel, Node, NodeState, Partition
from aisc.cluster.schemas import NodeIn, NodeStateIn, PartitionIn, PhaseIn
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, NotFound, ValidationFailed


def list_gpu_models(ctx: Ctx) -> list[GpuModel]:
    authorize(ctx, "cluster.read")
    return list(ctx.db.execute(select(GpuModel).order_by(GpuModel.code)).scalars())


def get_gpu_model(ctx: Ctx, *, code: str) -> GpuModel:
    authorize(ctx, "cluster.read")
    model = ctx.db.get(GpuModel, code)
    if model is None:
        raise NotFound(f"GPU model {code!r} is not in the catalogue", field="gpu_model")
    return model


def ensure_catalogue(ctx: Ctx) -> list[GpuModel]:
    """Insert the published catalogue entries that are missing (idempotent)."""
    authorize(ctx, "cluster.manage")
    added = []
    for spec in CATALOGUE:
        if ctx.db.get(GpuModel, spec["code"]) is None:
            model = GpuModel(**spec)
            ctx.db.add(model)
            ctx.db.flush()
            record(
                ctx,
                action="gpu_model.create",
                object_type="gpu_model",
                object_id=model.code,
                after=spec,
            )
            added.append(model)
    return added


# --- partitions ---------------------------------------------------------------------------


def list_partitions(ctx: Ctx) -> list[Partition]:
    authorize(ctx, "cluster.read")
    return list(ctx.db.execute(select(Partition).order_by(Partition.name)).scalars())


def upsert_partition(ctx: Ctx, *, data: PartitionIn) -> tuple[Partition, bool]:
    """Create the partition, or update it if the name exists. Returns (partition, created)."""
    authorize(ctx, "cluster.manage")
    partition = ctx.db.execute(
        select(Partition).where(Partition.name == data.name)
    ).scalar_one_or_none()
    if partition is None:
        partition = Partition(**data.model_dump(), created_at=ctx.now)
        ctx.db.add(partition)
        ctx.db.flush()
        record(
            ctx,
            action="partition.create",
            object_type="partition",
            object_id=partition.id,
            after=row_dict(partition),
        )
        return partition, True
    before = row_dict(partition)
    partition.max_walltime_hours = data.max_walltime_hours
    partition.description = data.description
    ctx.db.flush()
    if before != row_dict(partition):
        record(
            ctx,
            action="partition.update",
            object_type="partition",
            object_id=partition.id,
            before=before,
            after=row_dict(partition),
        )
    return partition, False


# --- nodes ----------------------------------------------------------------------------------


def list_nodes(
    ctx: Ctx,
    *,
    partition: str | None = None,
    state: NodeState | None = None,
    gpu_model: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[Node]:
    authorize(ctx, "cluster.read")
    query = select(Node).order_by(Node.name)
    if partition is not None:
        query = query.join(Partition).where(Partition.name == partition)
    if state is not None:
        query = query.where(Node.state == state)
    if gpu_model is not None:
        query = query.where(Node.gpu_model_code == gpu_model)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def get_node(ctx: Ctx, *, name: str) -> Node:
    authorize(ctx, "cluster.read")
    return _node(ctx.db, name)


def _node(db: Session, name: str) -> Node:
    node = db.execute(select(Node).where(Node.name == name)).scalar_one_or_none()
    if node is None:
        raise NotFound(f"node {name!r} not found", field="name")
    return node


def upsert_node(ctx: Ctx, *, data: NodeIn, field_prefix: str = "") -> tuple[Node, bool]:
    """Create the node, or update it if the name exists. Returns (node, created)."""
    authorize(ctx, "cluster.manage")
    if ctx.db.get(GpuModel, data.gpu_model) is None:
        raise ValidationFailed(
            f"{field_prefix}gpu_model: unknown GPU model {data.gpu_model!r}",
            field=f"{field_prefix}gpu_model",
        )
    partition = ctx.db.execute(
        select(Partition).where(Partition.name == data.partition)
    ).scalar_one_or_none()
    if partition is None:
        raise ValidationFailed(
            f"{field_prefix}partition: unknown partition {data.partition!r}",
            field=f"{field_prefix}partition",
        )
    if data.state is not NodeState.UP and not data.state_reason.strip():
        raise ValidationFailed(
            f"{field_prefix}state_reason: a node that is {data.state.value} needs a reason",
            field=f"{field_prefix}state_reason",
        )
    values = {
        "gpu_model_code": data.gpu_model,
        "gpu_count": data.gpu_count,
        "cpu_cores": data.cpu_cores,
        "memory_gb": data.memory_gb,
        "partition_id": partition.id,
        "rack": data.rack,
        "leaf_switch": data.leaf_switch,
        "installed_on": data.installed_on,
        "retired_on": data.retired_on,
    }
    node = ctx.db.execute(select(Node).where(Node.name == data.name)).scalar_one_or_none()
    if node is None:
        node = Node(
            name=data.name,
            state=data.state,
            state_reason=data.state_reason.strip(),
            state_changed_at=ctx.now,
            **values,
        )
        ctx.db.add(node)
        ctx.db.flush()
        record(
            ctx, action="node.create", object_type="node", object_id=node.name, after=row_dict(node)
        )
        return node, True
    before = row_dict(node)
    for key, value in values.items():
        setattr(node, key, value)
    if node.state is not data.state:
        node.state, node.state_reason, node.state_changed_at = (
            data.state,
            data.state_reason.strip(),
            ctx.now,
        )
    ctx.db.flush()
    if before != row_dict(node):
        record(
            ctx,
            action="node.update",
            object_type="node",
            object_id=node.name,
            before=before,
            after=row_dict(node),
        )
    return node, False


def set_node_state(ctx: Ctx, *, name: str, data: NodeStateIn) -> Node:
    """Record a node going up, draining, down or into maintenance (with the reason why)."""
    authorize(ctx, "cluster.manage")
    node = _node(ctx.db, name)
    if data.state is not NodeState.UP and not data.reason.strip():
        raise ValidationFailed(f"a node set to {data.state.value} needs a reason", field="reason")
    before = {"state": node.state, "reason": node.state_reason}
    node.state = data.state
    node.state_reason = data.reason.strip()
    node.state_changed_at = ctx.now
    ctx.db.flush()
    record(
        ctx,
        action="node.state",
        object_type="node",
        object_id=node.name,
        before=before,
        after={"state": node.state, "reason": node.state_reason},
    )
    return node


def installed_nodes(ctx: Ctx, *, on: date) -> list[Node]:
    """The nodes in service on ``on`` (installed, not yet retired)."""
    authorize(ctx, "cluster.read")
    return [
        n
        for n in ctx.db.execute(select(Node)).scalars()
        if n.installed_on <= on and (n.retired_on is None or n.retired_on > on)
    ]


# --- capacity phases ------------------------------------------------------------------------


def list_phases(ctx: Ctx) -> list[CapacityPhase]:
    authorize(ctx, "cluster.read")
    return list(ctx.db.execute(select(CapacityPhase).order_by(CapacityPhase.target_date)).scalars())


def upsert_phase(ctx: Ctx, *, data: PhaseIn) -> tuple[CapacityPhase, bool]:
    authorize(ctx, "cluster.manage")
    phase = ctx.db.execute(
        select(CapacityPhase).where(CapacityPhase.name == data.name)
    ).scalar_one_or_none()
    clash = ctx.db.execute(
        select(CapacityPhase).where(CapacityPhase.target_date == data.target_date)
    ).scalar_one_or_none()
    if clash is not None and clash is not phase:
        raise Conflict(
            f"phase {clash.name!r} already targets {data.target_date}", field="target_date"
        )
    if phase is None:
        phase = CapacityPhase(**data.model_dump())
        ctx.db.add(phase)
        ctx.db.flush()
        record(
            ctx,
            action="phase.create",
            object_type="capacity_phase",
            object_id=phase.id,
            after=row_dict(phase),
        )
        return phase, True
    before = row_dict(phase)
    phase.target_date, phase.target_pflops, phase.note = (
        data.target_date,
        data.target_pflops,
        data.note,
    )
    ctx.db.flush()
    record(
        ctx,
        action="phase.update",
        object_type="capacity_phase",
        object_id=phase.id,
        before=before,
        after=row_dict(phase),
    )
    return phase, False
