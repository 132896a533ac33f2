import json

import pytest
from sqlalchemy import text

from tests.factories import World


@pytest.fixture
def world(uow):
    world = World(uow)
    world.approve(world.reviewed())
    return world


def test_every_change_is_audited_in_a_chain_that_verifies(client, world):
    events = client.get("/api/v1/audit/events", params={"limit": 500}).json()
    actions = [e["action"] for e in events]
    assert actions[:2] == ["gpu_model.create", "gpu_model.create"]
    for expected in (
        "scheme.init",
        "ledger.budget",
        "ledger.earmark",
        "price_list.create",
        "application.create",
        "application.submit",
        "application.screen",
        "review.assign",
        "review.declare",
        "review.score",
        "award.create",
        "ledger.commitment",
        "decision.create",
        "application.decide",
    ):
        assert expected in actions
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    verified = client.get("/api/v1/audit/verify").json()
    assert verified == {
        "ok": True,
        "events_checked": len(events),
        "first_bad_seq": None,
        "first_bad_id": None,
        "reason": None,
    }
    scheme_events = client.get("/api/v1/audit/events", params={"object_type": "scheme"}).json()
    assert [e["action"] for e in scheme_events] == ["scheme.init"]
    later = client.get(
        "/api/v1/audit/events", params={"since": "2030-01-01T00:00:00", "actor": "test"}
    ).json()
    assert later == []


TAMPERING = {
    "edit": ["UPDATE audit_events SET after = '{}' WHERE seq = 5"],
    "delete": ["DELETE FROM audit_events WHERE seq = 5"],
    "reorder": [
        "UPDATE audit_events SET seq = -1 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = 6",
        "UPDATE audit_events SET seq = 6 WHERE seq = -1",
    ],
    "truncate_tail": ["DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)"],
    "backdate": ["UPDATE audit_events SET actor = 'someone else' WHERE seq = 5"],
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_with_audit_rows_is_detected_and_named(cli, engine, world, kind):
    assert "audit chain intact" in cli("audit", "verify").output
    with engine.begin() as connection:
        last = connection.execute(text("SELECT MAX(seq) FROM audit_events")).scalar()
        for statement in TAMPERING[kind]:
            connection.execute(text(statement))
    result = cli("audit", "verify", expect=1)
    assert "BROKEN" in result.output
    report = json.loads(cli("audit", "verify", "--json", expect=1).output)
    assert report["ok"] is False
    if kind == "reorder":  # the row stored fifth now claims to be event 6
        assert (report["first_bad_id"], report["first_bad_seq"]) == (5, 6)
        return
    expected = last if kind == "truncate_tail" else (6 if kind == "delete" else 5)
    assert report["first_bad_seq"] == expected
    assert f"seq={expected}" in result.output


def test_audit_list_cli_filters(cli, world):
    rows = json.loads(cli("audit", "list", "--object-type", "award", "--json").output)
    assert [r["action"] for r in rows] == ["award.create"]
    assert json.loads(cli("audit", "list", "--actor", "nobody", "--json").output) == []
    assert "gpu_model.create" in cli("audit", "list", "--limit", "10").output
    assert json.loads(cli("audit", "list", "--until", "2000-01-01", "--json").output) == []
