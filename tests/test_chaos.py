"""Crashes, short: ``kill -9`` the worker and the server while real jobs run and clients submit.

The same machinery as ``benchmarks/chaos.py`` (200 jobs, 20 kills), at CI size: 30 jobs of 1-2 s,
6 kills or more. Afterwards every acknowledged submission is one job, every job ended once (one
``job.finish``, one run to its end), usage is recorded once per attempt and ends when the
process did, and the month's billing reconciles and the audit chain verifies.
"""

from __future__ import annotations

import pytest
from benchmarks.chaos import Config, run_chaos, summary
from sqlalchemy import create_engine, make_url, text

from tests.conftest import BACKENDS, POSTGRES_URL


def _chaos_database(url: str) -> str:
    """A database of the test's own beside the one named (the run drops its schema)."""
    base = make_url(url)
    name = f"{base.database}_chaos"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.mark.xdist_group("chaos")
@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_of_the_worker_and_the_server_loses_nothing_and_bills_once(backend, tmp_path):
    config = Config(
        jobs=30,
        kills=6,
        max_kills=6,
        clients=3,
        seed=17,
        db="postgres" if backend == "postgresql" else "sqlite",
        postgres_url=_chaos_database(POSTGRES_URL) if backend == "postgresql" else "",
        workdir=tmp_path / "chaos",
        submit_seconds=8.0,
        kill_gap_s=(0.5, 2.0),
        pause_s=(0.2, 1.0),
        job_seconds=(1, 2),
        settle_timeout_s=90.0,
    )
    result = run_chaos(config)
    report = summary(result)
    assert result.failures == [], report
    assert sum(result.kills.values()) >= 6, report
    assert result.acknowledged == 30, report
    assert result.states == {"completed": result.jobs}, report
    assert result.usage_records == result.jobs, report
