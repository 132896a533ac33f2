import hashlib
import json
import os
import stat

import pytest
from sqlalchemy import text

from aisc.audit import keys
from aisc.audit import service as audit
from aisc.db.engine import make_engine
from aisc.db.migrate import upgrade
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
        "legacy_events": 0,
        "checkpoint_seq": None,
        "rows_checked": None,
        "differences": [],
    }
    deep = client.get("/api/v1/audit/verify", params={"deep": "true"}).json()
    assert (deep["ok"], deep["differences"]) == (True, [])
    assert deep["rows_checked"] >= 5  # the decision, the award and its ledger entries at least
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
    every = json.loads(cli("audit", "list", "--limit", "1000", "--json").output)
    budget = json.loads(cli("audit", "list", "--action", "ledger.budget", "--json").output)
    assert budget == [r for r in every if r["action"] == "ledger.budget"]
    assert len(budget) == 1 < len(every)
    assert json.loads(cli("audit", "list", "--action", "ledger", "--json").output) == []


def test_audit_events_api_filters_by_action(client, world):
    rows = client.get("/api/v1/audit/events", params={"action": "award.create"}).json()
    assert [(r["action"], r["object_type"]) for r in rows] == [("award.create", "award")]


def test_events_are_chained_with_a_key_kept_outside_the_database(engine, world, tmp_path):
    key_file = tmp_path / "var" / "audit.key"
    assert keys.configured_key_file() == key_file
    ring = keys.load(key_file)
    assert ring is not None
    assert ring.legacy_events == 0
    for path in (key_file, keys.signing_key_file(key_file)):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with engine.begin() as connection:
        ids = set(connection.execute(text("SELECT DISTINCT key_id FROM audit_events")).scalars())
        dump = " ".join(str(r) for r in connection.execute(text("SELECT * FROM audit_events")))
    assert ids == {ring.current.id}
    assert ring.current.secret.hex() not in dump


def _legacy_hash(row) -> str:
    """The unkeyed SHA-256 the platform chained events with before the key."""
    material = audit.canonical_json(
        [
            row.seq,
            row.at.isoformat(),
            row.actor,
            row.action,
            row.object_type,
            row.object_id,
            row.before,
            row.after,
            row.prev_hash,
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def test_events_from_before_the_key_still_verify_and_are_sealed(tmp_path, cli_at, clock):
    """A database upgraded from before the keyed chain: its history verifies as it was written."""
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0008")
    prev = audit.GENESIS
    with engine.begin() as connection:
        for seq in range(1, 4):
            row = type("Row", (), {})()
            row.seq, row.at, row.actor, row.action = seq, clock(), "cli:old", f"old.{seq}"
            row.object_type, row.object_id, row.before, row.after = "scheme", "1", "{}", "{}"
            row.prev_hash = prev
            prev = _legacy_hash(row)
            connection.execute(
                text(
                    "INSERT INTO audit_events (seq, at, actor, action, object_type, object_id, "
                    "before, after, prev_hash, hash) VALUES (:seq, :at, :actor, :action, "
                    ":object_type, :object_id, :before, :after, :prev_hash, :hash)"
                ),
                {**row.__dict__, "at": clock().isoformat(), "hash": prev},
            )
        connection.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 3, :hash)"), {"hash": prev}
        )
    upgrade(engine)  # the migration adds the key id and rewrites nothing
    with engine.begin() as connection:
        hashes = list(connection.execute(text("SELECT hash FROM audit_events ORDER BY seq")))
    assert hashes[-1][0] == prev
    cli = cli_at(f"sqlite:///{path}")
    assert "3 events verified (3 of them from before the chain was keyed)" in (
        cli("audit", "verify").output
    )
    cli("org", "create", "--name", "Harbour Lab", "--category", "university")
    report = json.loads(cli("audit", "verify", "--json").output)
    assert (report["ok"], report["legacy_events"], report["events_checked"]) == (True, 3, 4)
    assert keys.load(keys.configured_key_file()).legacy_events == 3
    with engine.begin() as connection:  # the first keyed event seals the unkeyed ones
        connection.execute(text("UPDATE audit_events SET actor = 'someone' WHERE seq = 2"))
    report = json.loads(cli("audit", "verify", "--json", expect=1).output)
    assert report["first_bad_seq"] == 2
    engine.dispose()
