"""An insider with write access to the database tries to rewrite the audit trail.

Each attack is replayed against a centre with decisions, awards, ledger entries, invoices and a
credit note, on SQLite and PostgreSQL; each must be caught, naming what was altered. The
attacker can run any SQL but cannot read the key files outside the database.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from aisc.accounts import auth
from aisc.accounts.models import Role
from aisc.audit import keys
from aisc.audit import service as audit
from aisc.audit.models import AuditEvent
from aisc.billing import credits, receivables
from aisc.ledger.earmarks import service as earmarks
from tests.billing.test_billing import MARCH, Billed


@pytest.fixture
def centre(uow, clock):
    clock.advance(days=120)  # 10 May 2025: March is billed
    world = Billed(uow, clock)
    world.run(MARCH)
    invoice, _lines = world.invoice(world.dedicated, MARCH)
    with uow() as ctx:
        note = credits.credit(
            ctx, invoice_id=invoice.id, list_cents=100_000, reason="node down for a day"
        )
        payment = receivables.record_payment(
            ctx,
            invoice_id=invoice.id,
            amount_cents=100_000,
            received_on=date(2025, 5, 10),
            reference="TT-0001",
        )
        spent = earmarks.spend(
            ctx,
            earmark="security",
            vendor="Harbour Red Team",
            purpose="penetration test",
            spent_on=date(2025, 5, 2),
            amount_cents=50_000_000,
        )
    world.invoice_id, world.note_id = invoice.id, note.id
    world.payment_id, world.spend_id = payment.id, spent.id
    return world


def _sql(engine, *statements, **params):
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)


def _scalar(engine, statement, **params):
    with engine.begin() as connection:
        return connection.execute(text(statement), params).scalar()


def _rehash_with_sha256(engine, *, from_seq: int, keep_key_id: bool) -> None:
    """What an insider without the key can do: recompute every hash from ``from_seq`` on."""
    with engine.begin() as connection:
        prev = (
            connection.execute(
                text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": from_seq - 1}
            ).scalar()
            or audit.GENESIS
        )
        table = AuditEvent.__table__
        rows = connection.execute(
            select(table).where(table.c.seq >= from_seq).order_by(table.c.seq)
        ).all()
        for row in rows:
            key_id = row.key_id if keep_key_id else None
            fields = [
                row.seq,
                row.at.isoformat(),
                row.actor,
                row.action,
                row.object_type,
                row.object_id,
                row.before,
                row.after,
                prev,
            ] + ([key_id] if key_id else [])
            digest = hashlib.sha256(audit.canonical_json(fields).encode()).hexdigest()
            connection.execute(
                text(
                    "UPDATE audit_events SET prev_hash = :p, hash = :h, key_id = :k WHERE id = :i"
                ),
                {"p": prev, "h": digest, "k": key_id, "i": row.id},
            )
            prev = digest
        connection.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"),
            {"s": rows[-1].seq, "h": prev},
        )


def test_deleting_the_newest_events_and_rewinding_the_head_is_caught_against_a_checkpoint(
    cli, engine, centre, tmp_path
):
    anchor = tmp_path / "checkpoint.json"
    cli("audit", "checkpoint", "--out", str(anchor))
    checkpoint = json.loads(anchor.read_text())
    last = _scalar(engine, "SELECT MAX(seq) FROM audit_events")
    assert (checkpoint["seq"], checkpoint["count"]) == (last, last)
    # Later events do not disturb the checkpoint: the chain continues from it.
    with centre.uow() as ctx:
        credits.credit(ctx, invoice_id=centre.invoice_id, list_cents=500, reason="late start")
    assert (
        "contains the checkpointed event"
        in cli("audit", "verify", "--checkpoint", str(anchor)).output
    )

    keep = last - 3
    _sql(
        engine,
        "DELETE FROM audit_events WHERE seq > :keep",
        "UPDATE audit_head SET seq = :keep, "
        "hash = (SELECT hash FROM audit_events WHERE seq = :keep) WHERE id = 1",
        keep=keep,
    )
    # A consistent shorter chain: only an anchor kept elsewhere can tell it was longer.
    cli("audit", "verify")
    result = cli("audit", "verify", "--checkpoint", str(anchor), expect=1)
    assert f"seq={last}" in result.output
    assert "events removed from the end" in result.output
    report = json.loads(
        cli("audit", "verify", "--checkpoint", str(anchor), "--json", expect=1).output
    )
    assert (report["ok"], report["first_bad_seq"], report["checkpoint_seq"]) == (False, last, last)


@pytest.mark.parametrize("keep_key_id", [True, False], ids=["keyed", "relabelled-unkeyed"])
def test_an_old_event_edited_and_the_rest_rehashed_with_sha256_is_caught(
    cli, engine, centre, tmp_path, keep_key_id
):
    anchor = tmp_path / "checkpoint.json"
    cli("audit", "checkpoint", "--out", str(anchor))
    _sql(engine, "UPDATE audit_events SET actor = 'person:999' WHERE seq = 5")
    _rehash_with_sha256(engine, from_seq=1 if not keep_key_id else 5, keep_key_id=keep_key_id)
    first_bad = 5 if keep_key_id else 1
    result = cli("audit", "verify", expect=1)
    assert f"BROKEN at event seq={first_bad}" in result.output
    report = json.loads(cli("audit", "verify", "--json", expect=1).output)
    assert report["first_bad_seq"] == first_bad
    # Against the checkpoint too.
    assert "BROKEN" in cli("audit", "verify", "--checkpoint", str(anchor), expect=1).output


TABLE_EDITS = {
    "decision_rate": (
        "decision",
        "SELECT MIN(id) FROM decisions",
        ["UPDATE decisions SET subsidy_rate_bp = 9000 WHERE id = :id"],
        ["subsidy_rate_bp"],
    ),
    "award_cap": (
        "award",
        "SELECT MIN(id) FROM awards",
        ["UPDATE awards SET subsidy_cap_cents = subsidy_cap_cents + 1000000 WHERE id = :id"],
        ["subsidy_cap_cents"],
    ),
    "ledger_amount": (
        "ledger_entry",
        "SELECT MIN(id) FROM ledger_entries WHERE kind = 'commitment'",
        ["UPDATE ledger_entries SET amount_cents = amount_cents + 100000 WHERE id = :id"],
        ["amount_cents"],
    ),
    "invoice_total": (
        "invoice",
        "SELECT MIN(id) FROM invoices",
        [
            "UPDATE invoices SET list_cents = list_cents - 5000, "
            "payable_cents = payable_cents - 5000 WHERE id = :id"
        ],
        ["list_cents", "payable_cents"],
    ),
    "credit_note": (
        "credit_note",
        "SELECT MIN(id) FROM credit_notes",
        [
            "UPDATE credit_notes SET list_cents = list_cents + 100, "
            "payable_cents = payable_cents + 100 WHERE id = :id"
        ],
        ["list_cents", "payable_cents"],
    ),
    "payment_amount": (
        "payment",
        "SELECT MIN(id) FROM payments",
        ["UPDATE payments SET amount_cents = amount_cents + 100000 WHERE id = :id"],
        ["amount_cents"],
    ),
    "earmark_spend_amount": (
        "earmark_spend",
        "SELECT MIN(id) FROM earmark_spends",
        ["UPDATE earmark_spends SET amount_cents = 1, vendor = 'x' WHERE id = :id"],
        ["amount_cents", "vendor"],
    ),
    "ledger_row_inserted": (
        "ledger_entry",
        "SELECT MAX(id) + 1 FROM ledger_entries",
        [
            "INSERT INTO ledger_entries (id, scheme_id, kind, amount_cents, label, memo, "
            "created_at, created_by) SELECT :id, scheme_id, 'earmark', 100, 'x', '', "
            "created_at, 'test' FROM ledger_entries WHERE id = 1"
        ],
        ["*"],
    ),
    "invoice_deleted": (
        "invoice",
        "SELECT MAX(id) FROM invoices",
        [
            "UPDATE usage_buckets SET charge_id = NULL WHERE charge_id IN "
            "(SELECT id FROM charges WHERE invoice_id = :id)",
            "DELETE FROM charges WHERE invoice_id = :id",
            "DELETE FROM credit_notes WHERE invoice_id = :id",
            "DELETE FROM payments WHERE invoice_id = :id",
            "DELETE FROM invoices WHERE id = :id",
        ],
        ["*"],
    ),
}


@pytest.mark.parametrize("edit", list(TABLE_EDITS))
def test_money_rows_edited_in_their_own_tables_are_caught_by_deep_verify(cli, engine, centre, edit):
    object_type, find, statements, fields = TABLE_EDITS[edit]
    row_id = _scalar(engine, find)
    assert row_id is not None
    cli("audit", "verify", "--deep")
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), {"id": row_id})
    cli("audit", "verify")  # the chain itself is intact: the rows changed, not the events
    result = cli("audit", "verify", "--deep", expect=1)
    for name in fields:
        prefix = f"{object_type} {row_id}: "
        assert prefix + (f"{name} is" if name != "*" else "") in result.output
    report = json.loads(cli("audit", "verify", "--deep", "--json", expect=1).output)
    named = {(d["object_type"], d["object_id"], d["field"]) for d in report["differences"]}
    expected = {(object_type, str(row_id), name) for name in fields}
    assert expected <= named
    # Deleting an invoice also drops its credit note, payments and charges; nothing else differs.
    assert {n[0] for n in named} <= {object_type, "credit_note", "payment"}


def test_the_auditor_sees_what_differs_over_the_api(api, uow, engine, centre):
    with uow() as ctx:
        auditor = centre._person(ctx, "audit@centre.example", [Role.AUDITOR], [])
        token, _ = auth.create_token(ctx, person_id=auditor, name="audit", scopes=["read"])
    headers = {"Authorization": f"Bearer {token}"}
    clean = api.get("/api/v1/audit/verify", params={"deep": "true"}, headers=headers)
    assert clean.status_code == 200, clean.text
    assert (clean.json()["ok"], clean.json()["differences"]) == (True, [])
    decision = _scalar(engine, "SELECT MIN(id) FROM decisions")
    _sql(engine, "UPDATE decisions SET subsidy_rate_bp = 9000 WHERE id = :id", id=decision)
    shallow = api.get("/api/v1/audit/verify", headers=headers).json()
    assert shallow["ok"] is True
    body = api.get("/api/v1/audit/verify", params={"deep": "true"}, headers=headers).json()
    assert body["ok"] is False
    [difference] = body["differences"]
    assert (difference["object_type"], difference["object_id"]) == ("decision", str(decision))
    assert (difference["field"], difference["actual"], difference["recorded"]) == (
        "subsidy_rate_bp",
        9000,
        7000,
    )


def test_a_chain_verified_with_the_wrong_key_is_caught(cli, engine, centre):
    key_file = keys.configured_key_file()
    ring = keys.load(key_file)
    assert ring is not None
    original = key_file.read_bytes()
    cli("audit", "verify")
    # The same key id with another secret: every keyed hash fails, from the first event.
    forged = keys.HmacKey(ring.current.id, ring.current.created, secrets.token_bytes(32))
    key_file.write_bytes(keys._serialise((forged,), ring.legacy_events))
    result = cli("audit", "verify", expect=1)
    assert "BROKEN at event seq=1" in result.output
    assert "keyed hash" in result.output
    # Another deployment's key file: the key id is not there.
    other = keys.HmacKey("20250101-00000000", ring.current.created, secrets.token_bytes(32))
    key_file.write_bytes(keys._serialise((other,), 0))
    assert "does not hold" in cli("audit", "verify", expect=1).output
    # No key file at all.
    key_file.unlink()
    assert "no audit key file" in cli("audit", "verify", expect=1).output
    key_file.write_bytes(original)
    cli("audit", "verify")


def test_rotating_the_key_keeps_the_trail_verifiable(cli, engine, centre, tmp_path):
    before = keys.load(keys.configured_key_file())
    assert before is not None
    old_id = before.current.id
    out = cli("audit", "rotate-key").output
    ring = keys.load(keys.configured_key_file())
    assert ring is not None
    new_id = ring.current.id
    assert new_id != old_id
    assert new_id in out
    assert [k.id for k in ring.keys] == [old_id, new_id]
    assert ring.legacy_events == before.legacy_events
    with centre.uow() as ctx:
        credits.credit(ctx, invoice_id=centre.invoice_id, list_cents=700, reason="rotation")
    with engine.begin() as connection:
        used = connection.execute(
            text("SELECT key_id, COUNT(*) FROM audit_events GROUP BY key_id")
        ).all()
    assert {key for key, _n in used} == {old_id, new_id}
    report = json.loads(cli("audit", "verify", "--deep", "--json").output)
    assert report["ok"] is True
    anchor = tmp_path / "after-rotation.json"
    cli("audit", "checkpoint", "--out", str(anchor))
    cli("audit", "verify", "--checkpoint", str(anchor))


def test_a_forged_or_foreign_checkpoint_is_refused(cli, engine, centre, tmp_path):
    printed = json.loads(cli("audit", "checkpoint").output)
    anchor = tmp_path / "checkpoint.json"
    anchor.write_text(json.dumps(printed))
    # Anyone with the published public key can check it.
    public = tmp_path / "audit.pub"
    public.write_text(printed["public_key"])
    cli("audit", "verify", "--checkpoint", str(anchor), "--public-key", str(public))
    # An insider who cut the chain cannot move the checkpoint back to match.
    forged = {**printed, "seq": printed["seq"] - 3, "count": printed["count"] - 3}
    anchor.write_text(json.dumps(forged))
    result = cli("audit", "verify", "--checkpoint", str(anchor), expect=2)
    assert "checkpoint: the signature does not match its content" in result.output
    # Nor sign one with a key of their own.
    stranger = Ed25519PrivateKey.generate()
    body = {k: v for k, v in forged.items() if k != "signature"}
    body["public_key"] = keys.public_key_text(stranger.public_key())
    body["signature"] = keys.sign(stranger, audit.canonical_json(body).encode())
    anchor.write_text(json.dumps(body))
    assert "another key" in cli("audit", "verify", "--checkpoint", str(anchor), expect=2).output
    anchor.write_text("{not json")
    assert "checkpoint" in cli("audit", "verify", "--checkpoint", str(anchor), expect=2).output
