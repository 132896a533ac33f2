"""Allocations and the capacity check.

The check compares, month by month and per (GPU model, partition), the allocatable supply
(installed cards minus the scheme's headroom) with committed demand (every allocation of an award
that is not terminated or completed). A commitment that does not fit is refused with the months
and the shortfall named, unless an operator's override with a written justification is given,
which is recorded in the audit trail. Checks and inserts run under the scheme lock, so two
approvals cannot both take the last free GPUs.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aisc.access import acting_person, authorize, awards_in_reach, project_of, visible
from aisc.accounts.models import Role
from aisc.accounts.service import get_person, require_role
from aisc.allocations.models import Allocation, AllocationState
from aisc.allocations.schemas import (
    AllocatedMonth,
    AllocationCreate,
    AllocationRead,
    CapacityCheck,
    CapacityMonth,
    CapacityOverride,
    ShortfallRead,
    Utilisation,
)
from aisc.applications.models import Application, RequestKind
from aisc.applications.screening import add_months
from aisc.audit.service import record
from aisc.awards.models import CLOSED, Award, AwardStatus
from aisc.cluster.capacity import (
    Demand,
    Month,
    MonthPosition,
    Pool,
    Supply,
    months_between,
    positions,
    shortfalls,
)
from aisc.cluster.models import Node, Partition
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import CapacityShortfall, InvalidTransition, NotFound, ValidationFailed
from aisc.ledger.service import lock_scheme
from aisc.scheme.service import get_scheme

LIVE_AWARDS = (AwardStatus.OFFERED, AwardStatus.ACTIVE, AwardStatus.SUSPENDED)
# A completed award held its cards for its whole period (which is over): the months it ran
# stay allocated in the figures, and it takes nothing from the months to come.
HELD_AWARDS = (*LIVE_AWARDS, AwardStatus.COMPLETED)


def effective_state(
    allocation: Allocation, award_status: AwardStatus, today: date
) -> AllocationState:
    if today >= allocation.end_date or award_status in CLOSED:
        return AllocationState.ENDED
    if award_status is AwardStatus.SUSPENDED:
        return AllocationState.SUSPENDED
    if today >= allocation.start_date:
        return AllocationState.ACTIVE
    return AllocationState.SCHEDULED


def read_allocation(ctx: Ctx, allocation: Allocation) -> AllocationRead:
    """The allocation as read; ``allocation`` came through ``get_allocation`` or a list."""
    authorize(ctx, "allocation.read")
    award = ctx.db.get(Award, allocation.award_id)
    partition = ctx.db.get(Partition, allocation.partition_id)
    assert award is not None
    assert partition is not None
    return AllocationRead(
        id=allocation.id,
        award_id=allocation.award_id,
        kind=allocation.kind,
        gpu_model=allocation.gpu_model_code,
        partition=partition.name,
        gpu_cards=allocation.gpu_cards,
        gpu_hours=allocation.gpu_hours,
        start_date=allocation.start_date,
        end_date=allocation.end_date,
        state=effective_state(allocation, award.status, ctx.now.date()),
        nodes=list(allocation.node_names),
        created_at=allocation.created_at,
    )


def get_allocation(ctx: Ctx, *, allocation_id: int) -> Allocation:
    """The allocation, if the principal may see it (the project's members and staff)."""
    access = authorize(ctx, "allocation.read")
    allocation = ctx.db.get(Allocation, allocation_id)
    return visible(
        access,
        allocation,
        f"allocation {allocation_id}",
        field="allocation_id",
        application_id=project_of(ctx, allocation.award_id if allocation else None),
    )


def list_allocations(
    ctx: Ctx,
    *,
    award_id: int | None = None,
    partition: str | None = None,
    state: AllocationState | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AllocationRead]:
    access = authorize(ctx, "allocation.read")
    query = select(Allocation).order_by(Allocation.id)
    scope = awards_in_reach(access, Allocation.award_id)
    if scope is not None:
        query = query.where(scope)
    if award_id is not None:
        query = query.where(Allocation.award_id == award_id)
    if partition is not None:
        query = query.join(Partition).where(Partition.name == partition)
    rows = [read_allocation(ctx, a) for a in ctx.db.execute(query).scalars()]
    if state is not None:
        rows = [r for r in rows if r.state is state]
    return rows[offset : offset + limit]


# --- supply and demand from the database -------------------------------------------------


def _supply(db: Session) -> tuple[list[Supply], dict[Pool, int]]:
    rows = db.execute(
        select(
            Node.gpu_model_code, Partition.name, Node.gpu_count, Node.installed_on, Node.retired_on
        ).join(Partition)
    )
    supply: list[Supply] = []
    sizes: dict[Pool, int] = {}
    for model, partition, cards, installed_on, retired_on in rows:
        supply.append(Supply(model, partition, cards, installed_on, retired_on))
        sizes[(model, partition)] = max(sizes.get((model, partition), 0), cards)
    return supply, sizes


def _demand(db: Session) -> list[Demand]:
    rows = db.execute(
        select(
            Allocation.id,
            Allocation.gpu_model_code,
            Partition.name,
            Allocation.start_date,
            Allocation.end_date,
            Allocation.gpu_cards,
            Allocation.gpu_hours,
        )
        .join(Partition, Partition.id == Allocation.partition_id)
        .join(Award, Award.id == Allocation.award_id)
        .where(Award.status.in_(HELD_AWARDS))
    )
    return [
        Demand(
            key=f"allocation {id_}",
            gpu_model=model,
            partition=partition,
            start=start,
            end=end,
            cards=cards,
            gpu_hours=hours,
        )
        for id_, model, partition, start, end, cards, hours in rows
    ]


def _scheme_months(ctx: Ctx) -> list[Month]:
    scheme = get_scheme(ctx)
    return months_between(scheme.start_date, scheme.end_date)


def _positions(
    ctx: Ctx, extra: list[Demand], months: list[Month]
) -> dict[Pool, list[MonthPosition]]:
    supply, sizes = _supply(ctx.db)
    headroom = get_scheme(ctx).capacity_headroom_bp
    return positions(supply, _demand(ctx.db) + extra, months, headroom_bp=headroom, node_size=sizes)


def default_partition(ctx: Ctx, *, gpu_model: str) -> str:
    """The partition with the most cards of ``gpu_model`` (ties by name)."""
    authorize(ctx, "cluster.read")
    rows = ctx.db.execute(
        select(Partition.name, func.sum(Node.gpu_count))
        .join(Node)
        .where(Node.gpu_model_code == gpu_model)
        .group_by(Partition.name)
    ).all()
    if not rows:
        raise ValidationFailed(f"no partition has {gpu_model} GPUs", field="partition")
    return sorted(rows, key=lambda r: (-int(r[1]), r[0]))[0][0]


def _partition_cards(db: Session, partition: str, gpu_model: str) -> int:
    total = db.execute(
        select(func.coalesce(func.sum(Node.gpu_count), 0))
        .join(Partition)
        .where(Partition.name == partition, Node.gpu_model_code == gpu_model)
    ).scalar_one()
    return int(total)


def check(ctx: Ctx, demand: Demand, *, subject: str) -> CapacityCheck:
    """What ``demand`` does to its pool, month by month (nothing is written)."""
    authorize(ctx, "capacity.read")
    return _check(ctx, demand, subject)


def _check(ctx: Ctx, demand: Demand, subject: str) -> CapacityCheck:
    months = [m for m in _scheme_months(ctx) if m.end > demand.start and m.start < demand.end]
    if not months:
        months = months_between(demand.start, demand.end)
    pool = (demand.gpu_model, demand.partition)
    table = _positions(ctx, [demand], months)
    rows = []
    for after in table[pool]:
        # The table includes ``demand``; "before" is the same month without its share.
        committed_before = after.committed - after.by_demand.get(demand.key, 0)
        rows.append(
            CapacityMonth(
                month=after.month.label,
                installed_cards=after.cards(after.installed),
                allocatable_cards=after.cards(after.allocatable),
                committed_before=after.cards(committed_before),
                committed_after=after.cards(after.committed),
                headroom_before=after.cards(after.allocatable - committed_before),
                headroom_after=after.cards(after.headroom),
                shortfall_cards=after.shortfall_cards() if demand.key in after.by_demand else 0,
            )
        )
    found = [
        ShortfallRead(month=s.month, gpu_model=s.gpu_model, partition=s.partition, cards=s.cards)
        for s in shortfalls(table, demand)
    ]
    return CapacityCheck(
        subject=subject,
        gpu_model=demand.gpu_model,
        partition=demand.partition,
        fits=not found,
        shortfalls=found,
        months=rows,
    )


def _enforce(
    ctx: Ctx, demand: Demand, *, subject: str, override: CapacityOverride | None
) -> CapacityCheck:
    """Refuse ``demand`` if it does not fit, unless an operator overrides with a reason."""
    result = _check(ctx, demand, subject)
    if result.fits:
        return result
    named = ", ".join(f"{s.month} short by {s.cards} cards" for s in result.shortfalls)
    if override is None:
        raise CapacityShortfall(
            f"{subject} does not fit the {demand.gpu_model} GPUs of partition "
            f"{demand.partition}: {named}",
            field="capacity",
            details=[s.model_dump() for s in result.shortfalls],
        )
    operator = get_person(
        ctx, person_id=acting_person(ctx, override.by_id, field="capacity_override.by_id")
    )
    require_role(operator, Role.OPERATOR, field="capacity_override.by_id")
    if not override.justification.strip():
        raise ValidationFailed(
            "capacity_override.justification: a written reason is needed",
            field="capacity_override.justification",
        )
    record(
        ctx,
        action="capacity.override",
        object_type="capacity",
        object_id=subject,
        after={
            "operator_id": operator.id,
            "justification": override.justification.strip(),
            "shortfalls": [s.model_dump() for s in result.shortfalls],
        },
    )
    return result


# --- creating allocations ------------------------------------------------------------------


def create_allocation(ctx: Ctx, *, data: AllocationCreate) -> Allocation:
    """An operator allocates (part of) an award on a partition."""
    authorize(ctx, "allocation.manage")
    return _allocate(ctx, data=data)


def make_allocation(ctx: Ctx, *, data: AllocationCreate, subject: str) -> Allocation:
    """Allocate an award as a step of the decision that approves it (``decision.make``).

    ``subject`` names the approval in a refusal (see ``_allocate``).
    """
    authorize(ctx, "decision.make")
    return _allocate(ctx, data=data, subject=subject)


def _allocate(ctx: Ctx, *, data: AllocationCreate, subject: str | None = None) -> Allocation:
    """Allocate, for a caller already authorised (an operator, or an approval being made).

    ``subject`` is how a refusal names the commitment. An approval names its application: the
    award it flushed is rolled back with the refusal, and its id is then given to another award.
    """
    award = ctx.db.get(Award, data.award_id)
    if award is None:
        raise NotFound(f"award {data.award_id} not found", field="award_id")
    lock_scheme(ctx, award.scheme_id)  # serialise capacity decisions
    if award.status not in (AwardStatus.OFFERED, AwardStatus.ACTIVE):
        raise InvalidTransition(
            f"award {award.id} is {award.status.value}; only offered or "
            "active awards get allocations",
            field="award_id",
        )
    partition_name = data.partition or default_partition(ctx, gpu_model=award.gpu_model_code)
    partition = ctx.db.execute(
        select(Partition).where(Partition.name == partition_name)
    ).scalar_one_or_none()
    if partition is None:
        raise ValidationFailed(
            f"partition: unknown partition {partition_name!r}", field="partition"
        )
    pool_cards = _partition_cards(ctx.db, partition.name, award.gpu_model_code)
    if pool_cards == 0:
        raise ValidationFailed(
            f"partition: {partition.name} has no {award.gpu_model_code} GPUs", field="partition"
        )
    start = data.start_date or award.start_date
    end = data.end_date or award.end_date
    if start < award.start_date or end > award.end_date or end <= start:
        raise ValidationFailed(
            f"start_date: the allocation must lie within the award's period "
            f"({award.start_date} to {award.end_date}) and end after it starts",
            field="start_date",
        )
    existing = list(
        ctx.db.execute(select(Allocation).where(Allocation.award_id == award.id)).scalars()
    )
    cards = hours = None
    if award.kind is RequestKind.DEDICATED:
        if data.gpu_hours is not None:
            raise ValidationFailed(
                "gpu_hours: a dedicated award is allocated in cards", field="gpu_hours"
            )
        cards = data.gpu_cards if data.gpu_cards is not None else award.gpu_cards
        overlapping = sum(
            a.gpu_cards or 0 for a in existing if a.start_date < end and start < a.end_date
        )
        if not cards or cards <= 0:
            raise ValidationFailed("gpu_cards: must be greater than zero", field="gpu_cards")
        if overlapping + cards > (award.gpu_cards or 0):
            raise ValidationFailed(
                f"gpu_cards: {cards} more cards would exceed the award's {award.gpu_cards} "
                f"({overlapping} already allocated in that period)",
                field="gpu_cards",
            )
        if cards > pool_cards:
            raise ValidationFailed(
                f"gpu_cards: {cards} cards cannot fit partition {partition.name}, which has "
                f"{pool_cards} {award.gpu_model_code} cards in all",
                field="gpu_cards",
            )
    else:
        if data.gpu_cards is not None:
            raise ValidationFailed(
                "gpu_cards: a pooled award is allocated in GPU-hours", field="gpu_cards"
            )
        hours = data.gpu_hours if data.gpu_hours is not None else award.gpu_hours
        used = sum(a.gpu_hours or 0 for a in existing)
        if not hours or hours <= 0:
            raise ValidationFailed("gpu_hours: must be greater than zero", field="gpu_hours")
        if used + hours > (award.gpu_hours or 0):
            raise ValidationFailed(
                f"gpu_hours: {hours} more GPU-hours would exceed the award's {award.gpu_hours} "
                f"({used} already allocated)",
                field="gpu_hours",
            )
    subject = subject or f"award {award.id}"
    demand = Demand(
        key="new",
        gpu_model=award.gpu_model_code,
        partition=partition.name,
        start=start,
        end=end,
        cards=cards,
        gpu_hours=hours,
    )
    _enforce(ctx, demand, subject=subject, override=data.capacity_override)
    allocation = Allocation(
        award_id=award.id,
        kind=award.kind,
        gpu_model_code=award.gpu_model_code,
        partition_id=partition.id,
        gpu_cards=cards,
        gpu_hours=hours,
        start_date=start,
        end_date=end,
        created_at=ctx.now,
        created_by=ctx.actor,
    )
    ctx.db.add(allocation)
    ctx.db.flush()
    record(
        ctx,
        action="allocation.create",
        object_type="allocation",
        object_id=allocation.id,
        after=row_dict(allocation),
    )
    return allocation


def application_check(
    ctx: Ctx, *, application_id: int, partition: str | None = None
) -> CapacityCheck:
    """What-if for a pending application: its requested compute against the centre."""
    authorize(ctx, "capacity.read")
    app = ctx.db.get(Application, application_id)
    if app is None:
        raise NotFound(f"application {application_id} not found", field="application_id")
    amount = app.gpu_cards if app.request_kind is RequestKind.DEDICATED else app.gpu_hours
    if not amount or not app.months or app.preferred_start is None:
        raise ValidationFailed(
            f"application {app.id} has no complete compute request (cards or GPU-hours, months "
            "and start) to check",
            field="compute",
        )
    pool = partition or default_partition(ctx, gpu_model=app.gpu_model_code)
    start = app.preferred_start
    demand = Demand(
        key="new",
        gpu_model=app.gpu_model_code,
        partition=pool,
        start=start,
        end=add_months(start, app.months),
        cards=app.gpu_cards if app.request_kind is RequestKind.DEDICATED else None,
        gpu_hours=app.gpu_hours if app.request_kind is RequestKind.POOLED else None,
    )
    return _check(ctx, demand, f"application {app.id}")


# --- allocated share of the centre -----------------------------------------------------------


def utilisation(ctx: Ctx, *, today: date) -> Utilisation:
    """Committed cards against installed cards per month, all pools together."""
    authorize(ctx, "capacity.read")
    return _utilisation(ctx, today)


def allocated_now(ctx: Ctx, *, today: date) -> AllocatedMonth | None:
    """The share of the centre allocated in the month containing ``today``: a figure the
    scheme publishes (``scheme.read``), unlike the month-by-month table."""
    authorize(ctx, "scheme.read")
    return _utilisation(ctx, today).now


def _utilisation(ctx: Ctx, today: date) -> Utilisation:
    months = _scheme_months(ctx)
    table = _positions(ctx, [], months)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in table.values():
        for position in row:
            cell = totals[position.month.label]
            cell[0] += position.installed
            cell[1] += position.allocatable
            cell[2] += position.committed
    rows = []
    now = None
    for month in months:
        installed, allocatable, committed = totals[month.label]
        hours = Decimal(month.hours)
        pct = (Decimal(committed) * 100 / installed).quantize(Decimal("0.1")) if installed else None
        item = AllocatedMonth(
            month=month.label,
            installed_cards=(installed / hours).quantize(Decimal("0.01")),
            allocatable_cards=(allocatable / hours).quantize(Decimal("0.01")),
            committed_cards=(committed / hours).quantize(Decimal("0.01")),
            allocated_pct=pct,
        )
        rows.append(item)
        if month.start <= today < month.end:
            now = item
    headroom = (Decimal(get_scheme(ctx).capacity_headroom_bp) / 100).quantize(Decimal("0.01"))
    return Utilisation(headroom_pct=headroom, now=now, months=rows)


# --- changes to an award ----------------------------------------------------------------------


def enforce_changed(ctx: Ctx, *, allocation_ids: list[int], subject: str) -> None:
    """The capacity check of an award change (``award.change``), as at approval: each changed
    or added allocation (already flushed) must fit its pool in every month it covers. The
    caller holds the scheme lock; a refusal rolls the change back."""
    authorize(ctx, "award.change")
    if not allocation_ids:
        return
    table = _positions(ctx, [], _scheme_months(ctx))
    for allocation_id in allocation_ids:
        allocation = ctx.db.get(Allocation, allocation_id)
        if allocation is None:
            continue
        partition = ctx.db.get(Partition, allocation.partition_id)
        assert partition is not None
        demand = Demand(
            key=f"allocation {allocation.id}",
            gpu_model=allocation.gpu_model_code,
            partition=partition.name,
            start=allocation.start_date,
            end=allocation.end_date,
            cards=allocation.gpu_cards,
            gpu_hours=allocation.gpu_hours,
        )
        found = shortfalls(table, demand)
        if found:
            named = ", ".join(f"{s.month} short by {s.cards} cards" for s in found)
            raise CapacityShortfall(
                f"{subject} does not fit the {demand.gpu_model} GPUs of partition "
                f"{demand.partition}: {named}",
                field="capacity",
                details=[
                    ShortfallRead(
                        month=s.month, gpu_model=s.gpu_model, partition=s.partition, cards=s.cards
                    ).model_dump()
                    for s in found
                ],
            )
