"""An award's burn: GPU-hours used against an even burn over its period, for whoever reads it."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from aisc.access import Principal
from aisc.accounts.models import Role
from aisc.awards import service as awards
from aisc.errors import NotFound
from aisc.metering.service import record_usage
from tests.accounts.centre import Centre


@pytest.fixture
def centre(uow, clock) -> Centre:
    return Centre(uow, clock)


def as_person(ctx, person_id: int, *roles: Role):
    principal = Principal.for_person(
        person_id=person_id, roles=roles, organisation_ids=(), via="session"
    )
    return dataclasses.replace(ctx, principal=principal)


def test_the_burn_counts_usage_against_an_even_plan(centre, uow, clock):
    with uow() as ctx:
        award = awards.get_award(ctx, award_id=centre.award_a)
        record_usage(
            ctx, key="burn:1", source="local", award_id=award.id, gpu_model="H800-SXM5-80GB",
            gpu_seconds=16 * 24 * 3600 * 9 - 3600,  # with the hour the centre used: 9 days x 16
            started_at=clock(), ended_at=clock(),
        )  # fmt: skip
        burn = awards.burn(ctx, award)
        days = (award.end_date - award.start_date).days
        elapsed = (ctx.now.date() - award.start_date).days
    total_hours = Decimal(16 * days * 24)
    assert burn.total_gpu_hours == total_hours
    assert burn.used_gpu_hours == Decimal(16 * 24 * 9)
    assert burn.used_pct == (Decimal(16 * 24 * 9) * 100 / total_hours).quantize(Decimal("0.1"))
    assert burn.planned_pct == (Decimal(100 * elapsed) / days).quantize(Decimal("0.1"))
    assert 0 < burn.planned_pct < 100


def test_the_burn_is_for_the_projects_team_and_the_staff_only(centre, uow):
    with uow() as ctx:
        award = awards.get_award(ctx, award_id=centre.award_a)
        mine = awards.burn(as_person(ctx, centre.member, Role.APPLICANT), award)
        staff = awards.burn(as_person(ctx, centre.finance, Role.FINANCE), award)
        assert mine == staff
        with pytest.raises(NotFound):
            awards.burn(as_person(ctx, centre.startup_pi, Role.APPLICANT), award)
