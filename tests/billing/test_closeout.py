"""Close-out: an award ends, and exactly its unspent commitment goes back to the fund."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from aisc.awards import service as awards
from aisc.ledger import service as ledger
from tests.billing.test_billing import APRIL, MARCH, MAY, Billed
from tests.helpers import audit_count, error_field, refused


@pytest.fixture
def world(uow, clock):
    clock.advance(days=120)  # 10 May 2025: March and April have ended
    return Billed(uow, clock)


def balances(uow, award_id):
    with uow() as ctx:
        award = awards.get_award(ctx, award_id=award_id)
        return (
            ledger.award_balance(ctx, award_id=award_id),
            ledger.balances(ctx, scheme_id=award.scheme_id),
        )


def close(client, award_id, outcome, reason=""):
    return client.post(
        f"/api/v1/awards/{award_id}/close", json={"outcome": outcome, "reason": reason}
    )


def test_a_completed_award_releases_exactly_what_it_did_not_spend(world, client, uow, clock):
    world.usage(world.pooled, 36_000, datetime(2025, 3, 20, tzinfo=UTC))
    world.usage(world.pooled, 7_200, datetime(2025, 4, 2, tzinfo=UTC))
    world.run(MARCH)
    world.run(APRIL)
    early = close(client, world.pooled, "completed")
    assert (early.status_code, error_field(early)) == (409, "outcome")
    assert "runs until 2025-06-01" in early.text
    clock.advance(days=23)  # 2 June: the award's three months are over
    world.usage(world.pooled, 3_600, datetime(2025, 5, 30, tzinfo=UTC))
    before = audit_count(uow)
    unbilled = close(client, world.pooled, "completed")
    assert unbilled.status_code == 409
    assert "usage in 2025-05 that is not billed yet" in unbilled.text
    assert audit_count(uow) == before  # refused: nothing changed
    world.run(MAY)
    award_before, fund_before = balances(uow, world.pooled)
    assert award_before.remaining > 0
    closed = close(client, world.pooled, "completed", "all three months delivered")
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["status"], body["remaining_hkd"]) == ("completed", "0.00")
    award_after, fund_after = balances(uow, world.pooled)
    assert award_after.released - award_before.released == award_before.remaining
    assert award_after.disbursed == award_before.disbursed  # what was paid stays paid
    assert fund_after.available - fund_before.available == award_before.remaining
    assert fund_after.disbursed == fund_before.disbursed
    [event] = [
        e
        for e in client.get(
            "/api/v1/audit/events",
            params={"object_type": "award", "object_id": str(world.pooled)},
        ).json()
        if e["action"] == "award.close"
    ]
    assert json.loads(event["after"])["released_cents"] == award_before.remaining
    again = close(client, world.pooled, "completed")
    assert (again.status_code, error_field(again)) == (409, "status")
    assert balances(uow, world.pooled)[1] == fund_after  # released once, never twice
    # Allocations of a closed award have ended; billing runs again issue nothing new.
    assert {
        a["state"] for a in client.get(f"/api/v1/allocations?award_id={world.pooled}").json()
    } == {"ended"}
    assert world.run(MAY) == []


def test_a_credit_note_on_a_closed_award_returns_its_subsidy_to_the_fund(world, client, uow, clock):
    world.usage(world.pooled, 36_000, datetime(2025, 4, 20, tzinfo=UTC))
    world.run(MARCH)
    world.run(APRIL)
    clock.advance(days=23)
    world.run(MAY)
    assert close(client, world.pooled, "completed").status_code == 200
    invoice, _lines = world.invoice(world.pooled, APRIL)
    _award, fund_before = balances(uow, world.pooled)
    note = client.post(
        f"/api/v1/invoices/{invoice.id}/credit-notes",
        json={"amount_hkd": "100.00", "reason": "a node failed mid-run"},
    ).json()
    assert note["subsidy_cents"] > 0
    award_after, fund_after = balances(uow, world.pooled)
    assert award_after.remaining == 0  # a closed award holds no commitment
    assert fund_after.available - fund_before.available == note["subsidy_cents"]


def test_an_offer_never_taken_up_is_terminated_and_its_whole_cap_released(world, client, cli, uow):
    app = world.reviewed(title="Withdrawn offer", compute={"gpu_cards": 8, "months": 3})
    decision = world.approve(app)
    award_id = next(
        a["id"] for a in client.get("/api/v1/awards").json() if a["application_id"] == app
    )
    assert client.get(f"/api/v1/awards/{award_id}").json()["status"] == "offered"
    _award, fund_before = balances(uow, award_id)
    nameless = close(client, award_id, "terminated", "  ")
    assert (nameless.status_code, error_field(nameless)) == (422, "reason")
    completed = close(client, award_id, "completed")
    assert (completed.status_code, error_field(completed)) == (409, "status")
    assert (
        client.post(f"/api/v1/awards/{award_id}/close", json={"outcome": "paused"}).status_code
        == 422
    )
    refused(
        cli, "award", "close", str(award_id), "--outcome", "paused", expect=2,
        says="Invalid value for '--outcome'", uow=uow,
    )  # fmt: skip
    done = json.loads(
        cli(
            "award", "close", str(award_id), "--outcome", "terminated",
            "--reason", "offer not accepted within 30 days", "--json",
        ).output
    )  # fmt: skip
    assert done["status"] == "terminated"
    assert done["remaining_hkd"] == "0.00"
    award_after, fund_after = balances(uow, award_id)
    assert award_after.released == decision.subsidy_cap_cents
    assert fund_after.available - fund_before.available == decision.subsidy_cap_cents
    refused(
        cli, "award", "close", str(award_id), "--outcome", "terminated", "--reason", "x",
        expect=4, says="is terminated; only an offered or active", uow=uow,
    )  # fmt: skip
    assert balances(uow, award_id) == (award_after, fund_after)


def test_dedicated_cards_must_be_billed_up_to_today_before_a_termination(world, client, uow):
    before = balances(uow, world.dedicated)
    march = close(client, world.dedicated, "terminated", "project abandoned")
    assert march.status_code == 409
    assert "dedicated cards of 2025-03 are not billed yet" in march.text
    world.run(MARCH)
    world.run(APRIL)
    running_month = close(client, world.dedicated, "terminated", "project abandoned")
    assert running_month.status_code == 409
    assert "2025-05 cannot be billed before it ends" in running_month.text
    assert client.get(f"/api/v1/awards/{world.dedicated}").json()["status"] == "active"
    after = balances(uow, world.dedicated)[0]
    assert (after.released, after.committed) == (0, before[0].committed)  # nothing released
