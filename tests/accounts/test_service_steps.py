"""The services' steps and loaders authorise too: a function another service calls (a loader
such as ``get_person``, a step such as ``qos.require_tier`` or ``make_allocation``, sign-in
plumbing) names a matrix action and checks it on ``ctx.principal``, so no edge can reach the
data through it without the right (tests/test_layers.py keeps every public one doing so)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from aisc.access import ANONYMOUS, SYSTEM, Principal
from aisc.accounts import auth, sessions, signin, vetting
from aisc.accounts import service as accounts
from aisc.accounts.models import Role
from aisc.allocations import binding
from aisc.allocations import service as allocations
from aisc.allocations.models import Allocation
from aisc.allocations.schemas import AllocationCreate
from aisc.applications import service as applications
from aisc.awards import service as awards
from aisc.awards.models import Award
from aisc.jobs.models import JobQos
from aisc.qos import service as qos
from aisc.review import decisions
from aisc.review import service as review
from aisc.slurm.desired import desired_state
from tests.accounts.test_service_access import expected, person
from tests.factories import World


class Rollback(Exception):
    """Raised after a call that got through, so that nothing it did is kept."""


def outcome(uow: Any, principal: Principal, call: Callable[[Any], Any]) -> str:
    from aisc.access import AccessDenied
    from aisc.errors import AiscError, Unauthenticated

    try:
        with uow() as ctx:
            call(dataclasses.replace(ctx, principal=principal))
            raise Rollback
    except Unauthenticated:
        return "sign in"
    except AccessDenied:
        return "denied"
    except (Rollback, AiscError):  # through the door; refused (or not) for what it asked
        return "allowed"


@pytest.fixture
def world(uow):
    world = World(uow)
    world.app_id = world.reviewed()
    world.approve(world.app_id)
    with uow() as ctx:
        world.award_id = ctx.db.execute(select(Award.id)).scalar_one()
        world.allocation_id = ctx.db.execute(select(Allocation.id)).scalar_one()
    return world


def calls(w: World) -> list[tuple[str, Callable[[Any], Any], str]]:
    def app(ctx: Any) -> Any:
        return ctx.db.get(applications.Application, w.app_id)

    return [
        ("get_person", lambda c: accounts.get_person(c, person_id=w.applicant), "person.read"),
        ("get_person_by_email",
         lambda c: accounts.get_person_by_email(c, email="pi@uni.example"), "person.read"),
        ("get_organisation",
         lambda c: accounts.get_organisation(c, organisation_id=w.uni), "organisation.read"),
        ("open_lookalikes", lambda c: vetting.open_lookalikes(c, w.uni), "application.read"),
        ("get_application",
         lambda c: applications.get_application(c, application_id=w.app_id), "application.read"),
        ("screening_findings",
         lambda c: applications.screening_findings(c, app(c)), "application.read"),
        ("transition (reopen)",
         lambda c: applications.transition(c, app(c), "reopen"), "application.screen"),
        ("transition (decide)",
         lambda c: applications.transition(c, app(c), "decide"), "decision.make"),
        ("get_award", lambda c: awards.get_award(c, award_id=w.award_id), "award.read"),
        ("read_award",
         lambda c: awards.read_award(c, c.db.get(Award, w.award_id)), "award.read"),
        ("read_allocation",
         lambda c: allocations.read_allocation(c, c.db.get(Allocation, w.allocation_id)),
         "allocation.read"),
        ("make_allocation",
         lambda c: allocations.make_allocation(
             c, data=AllocationCreate(award_id=w.award_id), subject="a test"),
         "decision.make"),
        ("bind_dedicated", lambda c: binding.bind_dedicated(c, [], {}), "allocation.manage"),
        ("read_decision",
         lambda c: [decisions.read_decision(c, d)
                    for d in decisions.list_decisions(c, application_id=w.app_id)],
         "decision.read"),
        ("assignments_of", lambda c: review.assignments_of(c, w.app_id), "review.read"),
        ("require_tier",
         lambda c: qos.require_tier(c, award_id=w.award_id, qos=JobQos.HERO, gpu_seconds=1),
         "job.submit"),
        ("tiers_by_award", lambda c: qos.tiers_by_award(c), "qos.read"),
        ("desired_state", lambda c: desired_state(c), "cluster.provision"),
        ("end_everything",
         lambda c: sessions.end_everything(c, person_id=w.applicant, reason="a test"),
         "session.end"),
        ("resolve_session", lambda c: auth.resolve_session(c, secret="x"), "session.start"),
        ("read_attempt",
         lambda c: signin.read_attempt(c, email="pi@uni.example", source="127.0.0.1"),
         "session.start"),
    ]  # fmt: skip


def test_every_step_checks_its_action_for_every_role(world, uow):
    principals = {
        "system": SYSTEM,
        "anonymous": ANONYMOUS,
        "tenant": person(world, Role.APPLICANT),
        **{role.value: person(world, role, pid=world.secretariat) for role in Role},
    }
    wrong = []
    for name, call, action in calls(world):
        for who, principal in principals.items():
            got, want = outcome(uow, principal, call), expected(principal, action)
            if got != want:
                wrong.append(f"{name} ({action}) as {who}: {got}, not {want}")
    assert not wrong, "\n".join(wrong)


def test_an_operator_allocates_but_only_a_decision_makes_an_allocation(world, uow):
    operator = person(world, Role.OPERATOR, pid=world.secretariat)
    assert (
        outcome(
            uow,
            operator,
            lambda c: allocations.make_allocation(
                c, data=AllocationCreate(award_id=world.award_id), subject="a test"
            ),
        )
        == "denied"
    )
    assert outcome(uow, operator, lambda c: allocations.create_allocation(
        c, data=AllocationCreate(award_id=world.award_id))) == "allowed"  # fmt: skip
