"""Holds: an award is suspended while any reason holds it, and lifting one lifts no other."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from aisc.awards.models import Award, AwardStatus, HoldKind
from aisc.awards.service import lift_hold, open_holds, place_hold
from tests.factories import World


@pytest.fixture
def world(uow):
    return World(uow, capacity_headroom="0")


def award_of(world) -> int:
    app_id = world.reviewed()
    world.approve(app_id)
    with world.uow() as ctx:
        return ctx.db.scalar(select(Award.id).where(Award.application_id == app_id))


def status(client, award: int) -> str:
    return client.get(f"/api/v1/awards/{award}").json()["status"]


def test_two_reasons_hold_an_award_until_both_are_lifted(client, uow, world, clock):
    award = award_of(world)
    clock.advance(days=60)
    client.post(f"/api/v1/awards/{award}/accept")
    with uow() as ctx:
        place_hold(ctx, award_id=award, kind=HoldKind.REPORT_OVERDUE, reason="report 1", ref=7)
        place_hold(ctx, award_id=award, kind=HoldKind.REPORT_OVERDUE, reason="again", ref=7)
        place_hold(ctx, award_id=award, kind=HoldKind.INVOICE_OVERDUE, reason="INV-1", ref=3)
    with uow() as ctx:
        assert [h.kind for h in open_holds(ctx, award_id=award)] == [
            HoldKind.REPORT_OVERDUE,
            HoldKind.INVOICE_OVERDUE,
        ]  # the same reason twice is one hold
    assert status(client, award) == "suspended"
    # Not suspended by hand: resume names what holds it and changes nothing.
    refused = client.post(f"/api/v1/awards/{award}/resume")
    assert refused.status_code == 409
    assert "report_overdue: report 1" in refused.json()["detail"]["message"]
    with uow() as ctx:
        assert lift_hold(ctx, award_id=award, kind=HoldKind.REPORT_OVERDUE, ref=7).status is (
            AwardStatus.SUSPENDED
        )  # the invoice still holds it
        assert lift_hold(ctx, award_id=award, kind=HoldKind.REPORT_OVERDUE, ref=7).status is (
            AwardStatus.SUSPENDED
        )  # lifting what is not open changes nothing
    with uow() as ctx:
        assert lift_hold(ctx, award_id=award, kind=HoldKind.INVOICE_OVERDUE, ref=3).status is (
            AwardStatus.ACTIVE
        )
    actions = [
        e["action"]
        for e in client.get("/api/v1/audit/events", params={"object_type": "award"}).json()
    ]
    assert actions.count("award.suspend") == 2
    assert "award.hold_lifted" in actions
    assert "award.resume" in actions


def test_an_officer_hold_and_a_rule_hold_are_separate(client, uow, world, clock):
    award = award_of(world)
    clock.advance(days=60)
    client.post(f"/api/v1/awards/{award}/accept")
    client.post(f"/api/v1/awards/{award}/suspend", json={"reason": "audit visit"})
    with uow() as ctx:
        place_hold(ctx, award_id=award, kind=HoldKind.REPORT_OVERDUE, reason="report", ref=1)
    resumed = client.post(f"/api/v1/awards/{award}/resume")
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "suspended"
    with uow() as ctx:
        lift_hold(ctx, award_id=award, kind=HoldKind.REPORT_OVERDUE, ref=1)
    assert status(client, award) == "active"


def test_an_award_that_is_not_running_is_not_held(client, uow, world):
    award = award_of(world)  # offered
    with uow() as ctx:
        assert (
            place_hold(ctx, award_id=award, kind=HoldKind.INVOICE_OVERDUE, reason="x", ref=1).status
            is AwardStatus.OFFERED
        )
        assert open_holds(ctx, award_id=award) == []
