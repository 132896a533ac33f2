"""Every earlier schema revision, holding data, upgrades to the latest and keeps its invariants.

The data is built at the latest revision through the services (tests/db/dataset.py), then the
walk goes down the chain one revision at a time. At each revision R the database is upgraded
to the head, checked, and taken back down to R before the next step: the fund position must be
what it was, the audit chain must verify, every money table that existed at R must hold the
rows it held, and where billing existed (0007 on) every month must still reconcile to the cent
and the operator's figures must be the same as before.

Two things the code of an old revision could not have written are rewritten as it would have
written them, once the walk passes below the revision that introduced them: below 0012 the
audit events are hashed without a key (the chain was not keyed yet), which is the form 0012's
upgrade found in real databases. Tables that did not exist at R simply lose their rows on the
way down (billing's below 0007): the invariants that remain must still hold.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from aisc.audit.service import GENESIS, _material
from aisc.db.base import UTCDateTime
from aisc.db.engine import make_engine
from aisc.db.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.conftest import Cli
from tests.db.dataset import MONEY_TABLES, build, observe

KEYED_FROM = "0012"  # the audit chain is keyed (key_id) from this revision on
BILLING_FROM = "0007"  # invoices, charges, credit notes


def _counts(engine: sa.Engine) -> dict[str, int]:
    present = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        return {
            table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in MONEY_TABLES
            if table in present
        }


def _unkey_the_chain(engine: sa.Engine) -> None:
    """Hash the audit events as the code before 0012 did: plain SHA-256, no key."""
    events = sa.table(
        "audit_events",
        *(sa.column(c) for c in ("id", "seq", "actor", "action", "object_type", "object_id")),
        *(sa.column(c) for c in ("before", "after", "prev_hash", "hash")),
        sa.column("at", UTCDateTime()),
    )
    head = sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
    with engine.begin() as connection:
        rows = connection.execute(sa.select(events).order_by(events.c.seq)).all()
        prev = GENESIS
        for row in rows:
            material = _material(
                seq=row.seq,
                at=row.at,
                actor=row.actor,
                action=row.action,
                object_type=row.object_type,
                object_id=row.object_id,
                before=row.before,
                after=row.after,
                prev_hash=prev,
                key_id=None,
            )
            digest = hashlib.sha256(material).hexdigest()
            connection.execute(
                events.update().where(events.c.id == row.id).values(prev_hash=prev, hash=digest)
            )
            prev = digest
        connection.execute(head.update().where(head.c.id == 1).values(hash=prev))


def test_every_earlier_revision_upgrades_with_its_data_and_keeps_the_invariants(
    engine, uow, clock, database_url, tmp_path, monkeypatch
):
    build(uow, clock)
    seen = observe(Cli(database_url))
    counts = _counts(engine)
    assert all(counts[t] for t in ("invoices", "ledger_entries", "audit_events")), counts
    config = alembic_config(engine)
    script = ScriptDirectory.from_config(config)
    earlier = [r.revision for r in script.walk_revisions()][1:]  # newest first, head left out
    assert earlier[-1] == "0001"
    checked, unkeyed = [], False
    try:
        for revision in earlier:
            command.downgrade(config, revision)
            assert current_revision(engine) == revision
            if revision < KEYED_FROM and not unkeyed:
                assert "key_id" not in {
                    c["name"] for c in inspect(engine).get_columns("audit_events")
                }
                _unkey_the_chain(engine)
                unkeyed = True
                # A deployment that never keyed its chain has no key file yet.
                monkeypatch.setenv("AISC_AUDIT_KEY_FILE", str(tmp_path / "unkeyed" / "audit.key"))
            at_revision = _counts(engine)
            assert at_revision == {t: n for t, n in counts.items() if t in at_revision}, revision

            with _upgraded_copy(engine, tmp_path / f"at-{revision}.db") as (upgraded, url):
                assert current_revision(upgraded) == head_revision()
                assert _counts(upgraded) == {t: at_revision.get(t, 0) for t in counts}, revision
                cli = Cli(url)
                if revision >= BILLING_FROM:
                    assert observe(cli) == seen, revision
                else:
                    assert json.loads(cli("ledger", "balance", "--json").output) == seen["balance"]
                    assert "audit chain intact" in cli("audit", "verify").output, revision
            checked.append(revision)
    finally:
        # The database is the test's (on PostgreSQL the worker's own, which later tests use):
        # leave it at the head, as every test finds it.
        upgrade(engine)
    assert checked == earlier


@contextmanager
def _upgraded_copy(engine: sa.Engine, path: Path) -> Iterator[tuple[sa.Engine, str]]:
    """The database at its current revision, upgraded to the head: on SQLite a copy of the file
    (the walk goes on with the original), on PostgreSQL the database itself, taken back down to
    where it was afterwards (copying a database from a template is slower than the walk)."""
    revision = current_revision(engine)
    if engine.dialect.name == "sqlite":
        engine.dispose()  # the last connection closing checkpoints the WAL into the file
        assert engine.url.database
        shutil.copy(engine.url.database, path)
        copy = make_engine(f"sqlite:///{path}", pooled=False)
        try:
            upgrade(copy)
            yield copy, f"sqlite:///{path}"
        finally:
            copy.dispose()
        return
    upgrade(engine)
    yield engine, engine.url.render_as_string(hide_password=False)
    assert revision is not None
    command.downgrade(alembic_config(engine), revision)
