"""Binding dedicated allocations to whole nodes.

An active dedicated allocation of at least one node's worth of cards holds that many whole
nodes of its partition and GPU model. Nodes stay bound while the allocation lives (a binding
only changes when a bound node leaves the inventory); new bindings prefer idle nodes, then
nodes in a leaf switch the allocation already uses. Ended or suspended allocations let their
nodes go. Every change is audited. The local executor's loop runs jobs on the bound nodes; the
Slurm sync turns them into reservations.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from aisc.access import authorize
from aisc.allocations.models import Allocation, AllocationState
from aisc.allocations.service import effective_state
from aisc.applications.models import RequestKind
from aisc.audit.service import record
from aisc.awards.models import Award
from aisc.cluster import capacity as core_capacity
from aisc.cluster.models import Node, NodeState
from aisc.context import Ctx


def bind_dedicated(ctx: Ctx, nodes: list[Node], busy_by: Mapping[str, set[int]]) -> dict[str, str]:
    """Hold whole nodes for active dedicated allocations; returns node name -> award id.

    ``busy_by`` names, per node, the awards whose jobs run there now. The scheduler's loop
    and the Slurm sync run it as the system; it changes what allocations hold.
    """
    authorize(ctx, "allocation.manage")
    today = ctx.now.date()
    rows = ctx.db.execute(
        select(Allocation, Award)
        .join(Award, Award.id == Allocation.award_id)
        .where(Allocation.kind == RequestKind.DEDICATED)
        .order_by(Allocation.id)
    ).all()
    by_name = {n.name: n for n in nodes}
    taken: set[str] = set()
    reserved: dict[str, str] = {}
    for allocation, award in rows:
        bound = list(allocation.node_names)
        live = (
            effective_state(allocation, award.status, today) is AllocationState.ACTIVE
            and (allocation.gpu_cards or 0) >= core_capacity.NODE_SIZE
        )
        if not live:
            if bound:
                allocation.node_names = []
                record(
                    ctx,
                    action="allocation.unbind",
                    object_type="allocation",
                    object_id=allocation.id,
                    before={"nodes": bound},
                )
            continue
        kind = [
            n
            for n in nodes
            if n.partition_id == allocation.partition_id
            and n.gpu_model_code == allocation.gpu_model_code
        ]
        size = max((n.gpu_count for n in kind), default=core_capacity.NODE_SIZE) or 1
        need = -(-(allocation.gpu_cards or 0) // size)
        keep = [name for name in bound if name in by_name and name not in taken][:need]
        leaves = {by_name[name].leaf_switch for name in keep}
        spare = [
            n
            for n in kind
            if n.name not in taken and n.name not in keep and n.state is NodeState.UP
        ]
        # Idle nodes first, then nodes in a leaf the allocation already uses, then by name.
        spare.sort(
            key=lambda n: (
                bool(busy_by.get(n.name, set()) - {award.id}),
                n.leaf_switch not in leaves,
                n.leaf_switch,
                n.name,
            )
        )
        chosen = keep + [n.name for n in spare[: max(0, need - len(keep))]]
        if chosen != bound:
            allocation.node_names = chosen
            record(
                ctx,
                action="allocation.bind",
                object_type="allocation",
                object_id=allocation.id,
                before={"nodes": bound},
                after={"nodes": chosen},
            )
        taken.update(chosen)
        reserved.update(dict.fromkeys(chosen, str(award.id)))
    return reserved
