"""What Slurm should hold, read from the platform's awards, allocations and project teams."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date

from sqlalchemy import func, select

from aisc.access import authorize
from aisc.accounts.models import Organisation, Person
from aisc.allocations.binding import bind_dedicated
from aisc.allocations.models import Allocation, AllocationState
from aisc.allocations.service import effective_state
from aisc.applications.models import ProjectMember, RequestKind
from aisc.awards.models import Award, AwardStatus
from aisc.billing.months import midnight
from aisc.cluster.models import Node
from aisc.context import Ctx
from aisc.jobs.models import Job, JobQos, JobState
from aisc.metering.models import UsageRecord
from aisc.qos.service import tiers_by_award
from aisc.scheduling.core.priority import PACING_STEEPNESS
from aisc.scheme.service import get_scheme
from aisc.slurm.plan import (
    NO_LIMIT,
    PREFIX,
    AccountSpec,
    Desired,
    QosSpec,
    ReservationSpec,
    account_name,
)

PROVISIONED = (AwardStatus.ACTIVE, AwardStatus.SUSPENDED, AwardStatus.COMPLETED,
               AwardStatus.TERMINATED)  # fmt: skip
SLURM_SOURCE = "slurm"
PRIORITY_SCALE = 1000
# Slurm QOS Priority of the granted tiers, in the order of the platform's own core (the award's
# own QOS, which standard-tier jobs run in, has 0).
TIER_PRIORITY = {JobQos.HERO: 500, JobQos.DEBUG: 1000}


def tier_qos(account: str, tier: JobQos) -> str:
    """The Slurm QOS of a granted tier for an award's account: ``award-17-hero``."""
    return f"{account}-{tier.value}"


def slurm_qos(desired: Desired, account: str, tier: JobQos) -> str | None:
    """The QOS a job of ``tier`` is submitted in: its granted tier's, else the award's own."""
    granted = tier_qos(account, tier)
    if tier in TIER_PRIORITY and granted in desired.qos:
        return granted
    return account if account in desired.qos else None


def pacing_priority(*, planned: float, used: float) -> int:
    """Association priority 0..1000: 500 on plan, higher for a project behind its burn plan."""
    pacing = 1.0 / (1.0 + math.exp(-PACING_STEEPNESS * (planned - used)))
    return round(PRIORITY_SCALE * pacing)


def _usage(ctx: Ctx) -> tuple[dict[int, int], dict[int, int]]:
    """GPU-seconds used per award: all sources, and those not from Slurm."""
    total: dict[int, int] = defaultdict(int)
    elsewhere: dict[int, int] = defaultdict(int)
    for award_id, source, seconds in ctx.db.execute(
        select(
            UsageRecord.award_id, UsageRecord.source, func.sum(UsageRecord.gpu_seconds)
        ).group_by(UsageRecord.award_id, UsageRecord.source)
    ):
        total[award_id] += int(seconds)
        if source != SLURM_SOURCE:
            elsewhere[award_id] += int(seconds)
    return total, elsewhere


def desired_state(ctx: Ctx, *, prefix: str = PREFIX) -> Desired:
    """Accounts, QOS and reservations for every provisioned award (binding dedicated nodes).

    A step of ``sync`` (``cluster.provision``), which it may run without, to show a plan.
    """
    authorize(ctx, "cluster.provision")
    desired = Desired()
    today = ctx.now.date()
    awards = list(
        ctx.db.execute(
            select(Award).where(Award.status.in_(PROVISIONED)).order_by(Award.id)
        ).scalars()
    )
    if not awards:
        return desired
    refuse_over_award = get_scheme(ctx).over_award_policy == "refuse"
    organisations = dict(ctx.db.execute(select(Organisation.id, Organisation.name)).all())
    members: dict[int, set[str]] = defaultdict(set)
    for application_id, person in ctx.db.execute(
        select(ProjectMember.application_id, Person)
        .join(Person, Person.id == ProjectMember.person_id)
        .order_by(Person.id)
    ):
        if not person.is_active:
            continue
        if person.username:
            members[application_id].add(person.username)
        else:
            desired.notes.append(
                f"person {person.id} ({person.email}) has no cluster user name: not added to "
                f"the cluster (aisc person update {person.id} --username NAME)"
            )
    allocations: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in ctx.db.execute(select(Allocation).order_by(Allocation.id)).scalars():
        allocations[allocation.award_id].append(allocation)
    used, elsewhere = _usage(ctx)
    bound = _bound_nodes(ctx)
    granted = tiers_by_award(ctx)
    for award in awards:
        name = account_name(award.id, prefix)
        live = [
            a
            for a in allocations[award.id]
            if effective_state(a, award.status, today)
            in (AllocationState.ACTIVE, AllocationState.SUSPENDED, AllocationState.SCHEDULED)
        ]
        period_s = max((award.end_date - award.start_date).days, 1) * 86_400
        pooled_hours = sum(a.gpu_hours or 0 for a in live if a.kind is RequestKind.POOLED)
        cards = _cards_now(live, today)
        total_s = cards * period_s + pooled_hours * 3600
        elapsed = min(max((today - award.start_date).days * 86_400, 0), period_s)
        grants = granted.get(award.id, {})
        desired.accounts[name] = AccountSpec(
            name=name,
            description=_clean(award.title) or name,
            organisation=_clean(organisations.get(award.organisation_id, "")) or "aisc",
            users=frozenset(members[award.application_id]),
            # Shares in GPU-hours per day of award: proportional to the award's rate.
            fairshare=max(1, round(total_s * 24 / period_s)),
            priority=pacing_priority(
                planned=elapsed / period_s, used=used[award.id] / total_s if total_s else 0.0
            ),
            # Past its allocations (ended early, or its period over before close-out) an
            # award takes no new jobs.
            open=award.status is AwardStatus.ACTIVE and bool(live),
            tiers=frozenset(tier_qos(name, tier) for tier in grants),
        )
        gpu_minutes = NO_LIMIT
        if pooled_hours and refuse_over_award:
            gpu_minutes = max(0, pooled_hours * 60 - elsewhere[award.id] // 60)
        only_dedicated = cards > 0 and pooled_hours == 0
        gpus = cards if only_dedicated else NO_LIMIT if live else 0
        desired.qos[name] = QosSpec(name, gpu_minutes, gpus)
        for tier, grant in grants.items():
            # A tier's own limit, when the grant sets one; else the award's. Slurm counts each
            # QOS's minutes apart: the gateway counts the award's whole budget across tiers.
            limit = gpu_minutes
            if grant.gpu_hours is not None:
                limit = grant.gpu_hours * 60 if limit < 0 else min(limit, grant.gpu_hours * 60)
            qos = tier_qos(name, tier)
            desired.qos[qos] = QosSpec(qos, limit, gpus, TIER_PRIORITY[tier])
        for allocation in live:
            nodes = bound.get(allocation.id)
            if allocation.kind is not RequestKind.DEDICATED or not nodes:
                continue
            desired.reservations[name] = ReservationSpec(
                name=name,
                account=name,
                nodes=tuple(sorted(nodes)),
                start=int(midnight(allocation.start_date).timestamp()),
                end=int(midnight(allocation.end_date).timestamp()),
            )
    return desired


def _cards_now(live: list[Allocation], today: date) -> int:
    """Dedicated cards the award holds today (or, before its cards start, on their first day):
    an award changed after approval has allocations one after another (a reduction splits one
    at its date) or side by side (a top-up adds one), and only those running together count."""
    dedicated = [a for a in live if a.kind is RequestKind.DEDICATED and a.gpu_cards]
    if not dedicated:
        return 0
    moment = max(today, min(a.start_date for a in dedicated))
    return sum(a.gpu_cards or 0 for a in dedicated if a.start_date <= moment < a.end_date)


def _bound_nodes(ctx: Ctx) -> dict[int, list[str]]:
    """Bind dedicated allocations to nodes (as the local loop does) and return the bindings."""
    today: date = ctx.now.date()
    nodes = [
        n
        for n in ctx.db.execute(select(Node).order_by(Node.name)).scalars()
        if n.installed_on <= today and (n.retired_on is None or n.retired_on > today)
    ]
    busy_by: dict[str, set[int]] = defaultdict(set)
    for award_id, placement in ctx.db.execute(
        select(Job.award_id, Job.placement).where(Job.state == JobState.RUNNING)
    ):
        for node in placement.nodes:
            busy_by[node].add(award_id)
    bind_dedicated(ctx, nodes, busy_by)
    # JSON has no equality operator on PostgreSQL: the unbound (empty lists) are left out here.
    return {
        allocation_id: names
        for allocation_id, names in ctx.db.execute(select(Allocation.id, Allocation.node_names))
        if names
    }


def _clean(text: str) -> str:
    """Slurm keeps descriptions as plain words: no quotes, no separators it parses."""
    kept = "".join(c if c.isalnum() or c in " -_.()" else " " for c in text)
    return " ".join(kept.split())[:100]
