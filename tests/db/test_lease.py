"""The leader lease on both databases: one leads, expiry hands it over, fencing refuses a late
write, a clean stop releases it, and migrations started at once run once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, select, text

from aisc.db.engine import make_engine, transaction
from aisc.db.lease import LEASE_TTL_S, Lease, LeaseLost, WorkerLease, read_lease
from aisc.db.migrate import head_revision
from aisc.outbox.models import OutboxMessage
from tests.conftest import POSTGRES_URL

SRC = str(Path(__file__).resolve().parents[2] / "src")


def note(key: str, clock) -> OutboxMessage:
    now = clock()
    return OutboxMessage(
        key=key, kind="test", recipients=[], subject="s", body="b", created_at=now,
        next_attempt_at=now,
    )  # fmt: skip


def keys(engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(OutboxMessage.key)).scalars())


def test_one_leads_the_other_waits_until_the_lease_expires(engine, clock):
    first, second = Lease(engine, clock=clock), Lease(engine, clock=clock)
    assert first.acquire()
    assert first.token == 1
    assert not second.acquire()
    assert not second.held
    clock.advance(seconds=LEASE_TTL_S - 1)
    assert first.acquire()  # renewed: still the same acquisition
    assert first.token == 1
    clock.advance(seconds=LEASE_TTL_S - 1)
    assert not second.acquire()  # the renewal moved the expiry on
    clock.advance(seconds=2)
    assert second.acquire()
    assert second.token == 2  # expired: taken, with a new token
    assert not first.acquire()
    assert not first.held
    with transaction(second._factory, write=False) as db:
        lease = read_lease(db)
    assert lease is not None
    assert (lease.holder, lease.token) == (second.holder, 2)


def test_a_released_lease_is_taken_at_once(engine, clock):
    first, second = Lease(engine, clock=clock), Lease(engine, clock=clock)
    assert first.acquire()
    first.release()
    assert not first.held
    assert second.acquire()
    assert second.token == 2


def test_a_fenced_out_leader_cannot_commit_a_write(engine, clock):
    old, new = Lease(engine, clock=clock), Lease(engine, clock=clock)
    assert old.acquire()
    fenced = old.fence()
    with transaction(fenced) as db:
        db.add(note("while leading", clock))
    clock.advance(seconds=LEASE_TTL_S + 1)
    assert new.acquire()
    with pytest.raises(LeaseLost), transaction(fenced) as db:
        db.add(note("after the takeover", clock))
    assert keys(engine) == ["while leading"]
    assert not old.held  # it knows, and waits again


def test_an_expired_lease_fences_even_before_anyone_takes_it(engine, clock):
    lease = Lease(engine, clock=clock)
    assert lease.acquire()
    clock.advance(seconds=LEASE_TTL_S)
    with pytest.raises(LeaseLost), transaction(lease.fence()) as db:
        db.add(note("late", clock))
    assert keys(engine) == []


def test_a_write_that_began_under_the_lease_commits_before_any_takeover(engine, clock):
    """The check locks the lease row until the transaction ends: the other worker's
    acquisition waits for the commit and then finds the write there, never the reverse."""
    old, new = Lease(engine, clock=clock), Lease(engine, clock=clock)
    assert old.acquire()
    taken: list[bool] = []
    with transaction(old.fence()) as db:  # checked and locked here
        clock.advance(seconds=LEASE_TTL_S + 1)
        thief = threading.Thread(target=lambda: taken.append(new.acquire()))
        thief.start()
        thief.join(timeout=0.5)
        assert not taken  # blocked on the lease row (SQLite: on the write lock)
        db.add(note("in flight", clock))
    thief.join(timeout=30)
    assert taken == [True]
    assert new.token == 2
    assert keys(engine) == ["in flight"]


def test_reads_through_the_fence_need_no_lease(engine, clock):
    lease = Lease(engine, clock=clock)
    with transaction(lease.fence(), write=False) as db:
        assert db.execute(select(WorkerLease)).first() is None


# --- migrations under a lock -------------------------------------------------------------------


def _fresh_database(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    if not POSTGRES_URL:
        pytest.skip("AISC_TEST_POSTGRES_URL is not set")
    base = make_url(POSTGRES_URL)
    name = f"{base.database}_migrate_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_servers_starting_at_once_migrate_once(kind, tmp_path):
    url = _fresh_database(kind, tmp_path)
    env = {**os.environ, "PYTHONPATH": SRC, "AISC_DATABASE_URL": url}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "aisc.cli", "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    for code, out, err in results:
        assert code == 0, err
        assert out.strip() == f"database at revision {head_revision()}"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            models = connection.execute(text("SELECT count(*) FROM gpu_models")).scalar_one()
        assert versions == [(head_revision(),)]
        assert models > 0  # the catalogue was loaded, once (a second insert would have failed)
    finally:
        engine.dispose()
