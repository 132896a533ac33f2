"""The services' own door: every read of the inventory, prices, the scheme and capacity names a
matrix action and checks it on ``ctx.principal``, whichever edge calls it (the API also checks
at the route; the portal, the CLI and the workers rely on this)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from aisc.access import ANONYMOUS, MATRIX, SYSTEM, AccessDenied, Audience, Principal
from aisc.accounts import service as accounts
from aisc.accounts.models import Role
from aisc.allocations import service as allocations
from aisc.cluster import pflops
from aisc.cluster import service as cluster
from aisc.cluster.capacity import Demand
from aisc.errors import Unauthenticated
from aisc.pricing import service as pricing
from aisc.reports.stats import scheme_stats
from aisc.scheme import service as scheme
from tests.factories import World

DAY = date(2025, 4, 15)
H800 = "H800-SXM5-80GB"
DEMAND = Demand("new", H800, "training", date(2025, 3, 1), date(2025, 6, 1), cards=8)

# (what is called, the action it needs)
CALLS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("list_gpu_models", lambda ctx: cluster.list_gpu_models(ctx), "cluster.read"),
    ("get_gpu_model", lambda ctx: cluster.get_gpu_model(ctx, code=H800), "cluster.read"),
    ("list_partitions", lambda ctx: cluster.list_partitions(ctx), "cluster.read"),
    ("list_nodes", lambda ctx: cluster.list_nodes(ctx), "cluster.read"),
    ("get_node", lambda ctx: cluster.get_node(ctx, name="h800-000"), "cluster.read"),
    ("installed_nodes", lambda ctx: cluster.installed_nodes(ctx, on=DAY), "cluster.read"),
    ("list_phases", lambda ctx: cluster.list_phases(ctx), "cluster.read"),
    ("capacity_report", lambda ctx: pflops.capacity_report(ctx, as_of=DAY), "cluster.read"),
    ("ensure_catalogue", lambda ctx: cluster.ensure_catalogue(ctx), "cluster.manage"),
    ("default_partition", lambda ctx: allocations.default_partition(ctx, gpu_model=H800),
     "cluster.read"),
    ("list_price_lists", lambda ctx: pricing.list_price_lists(ctx), "price.read"),
    ("get_price_list", lambda ctx: pricing.get_price_list(ctx, version="v1"), "price.read"),
    ("price_list_in_force", lambda ctx: pricing.price_list_in_force(ctx, on=DAY), "price.read"),
    ("get_scheme", lambda ctx: scheme.get_scheme(ctx), "scheme.read"),
    ("read_scheme", lambda ctx: scheme.read_scheme(ctx, scheme.get_scheme(ctx)), "scheme.read"),
    ("scheme_stats", lambda ctx: scheme_stats(ctx, today=DAY), "scheme.read"),
    ("allocated_now", lambda ctx: allocations.allocated_now(ctx, today=DAY), "scheme.read"),
    ("fund_position", lambda ctx: scheme.fund_position(ctx), "ledger.read"),
    ("utilisation", lambda ctx: allocations.utilisation(ctx, today=DAY), "capacity.read"),
    ("check", lambda ctx: allocations.check(ctx, DEMAND, subject="a test"), "capacity.read"),
    ("list_reviewers", lambda ctx: accounts.list_reviewers(ctx), "person.read"),
]  # fmt: skip


@pytest.fixture
def world(uow):
    return World(uow)


def person(world: World, *roles: Role, pid: int | None = None) -> Principal:
    return Principal.for_person(
        person_id=pid or world.applicant, roles=roles, organisation_ids=(), via="session"
    )


def outcome(uow: Any, principal: Principal, call: Callable[[Any], Any]) -> str:
    try:
        with uow() as ctx:
            call(dataclasses.replace(ctx, principal=principal))
    except Unauthenticated:
        return "sign in"
    except AccessDenied:
        return "denied"
    return "allowed"


def expected(principal: Principal, action: str) -> str:
    grants = MATRIX[action]
    if principal.is_system or Audience.ANYONE in grants:
        return "allowed"
    if principal.is_anonymous:
        return "sign in"
    # A grant by relation lets the call through: it returns only what the relation reaches.
    if principal.roles & grants or any(isinstance(g, Audience) for g in grants):
        return "allowed"
    return "denied"


def test_every_converted_read_checks_its_action_for_every_role(world, uow):
    principals = {
        "system": SYSTEM,
        "anonymous": ANONYMOUS,
        "tenant": person(world, Role.APPLICANT),
        **{role.value: person(world, role, pid=world.secretariat) for role in Role},
    }
    wrong = []
    for name, call, action in CALLS:
        for who, principal in principals.items():
            got, want = outcome(uow, principal, call), expected(principal, action)
            if got != want:
                wrong.append(f"{name} ({action}) as {who}: {got}, not {want}")
    assert not wrong, "\n".join(wrong)


def test_a_tenant_is_refused_capacity_but_sees_the_published_share(world, uow):
    tenant = person(world, Role.APPLICANT)
    with uow() as ctx:
        as_tenant = dataclasses.replace(ctx, principal=tenant)
        with pytest.raises(AccessDenied, match=r"capacity\.read"):
            allocations.utilisation(as_tenant, today=DAY)
        with pytest.raises(AccessDenied, match=r"capacity\.read"):
            allocations.check(as_tenant, DEMAND, subject="a probe")
        # The month's allocated % is one of the scheme's published figures.
        assert allocations.allocated_now(as_tenant, today=DAY) == (
            allocations.utilisation(ctx, today=DAY).now
        )
        assert scheme_stats(as_tenant, today=DAY).allocated_month == "2025-04"
        with pytest.raises(Unauthenticated):
            cluster.list_nodes(dataclasses.replace(ctx, principal=ANONYMOUS))
        assert [p.name for p in cluster.list_partitions(as_tenant)] == ["inference", "training"]


def test_the_reviewer_list_is_whole_for_staff_and_only_oneself_for_anyone_else(world, uow):
    with uow() as ctx:
        everyone = [p.id for p in accounts.list_reviewers(ctx)]
        reviewer = person(world, Role.REVIEWER, pid=world.reviewers[1])
        own = [p.id for p in accounts.list_reviewers(dataclasses.replace(ctx, principal=reviewer))]
        staff = person(world, Role.AUDITOR, pid=world.secretariat)
        seen = [p.id for p in accounts.list_reviewers(dataclasses.replace(ctx, principal=staff))]
    assert sorted(everyone) == sorted([*world.reviewers, world.insider])
    assert own == [world.reviewers[1]]
    assert seen == everyone
