"""Crashes, short: ``kill -9`` the worker and the server while real jobs run and clients submit.

The same machinery as ``benchmarks/chaos.py`` (200 jobs, 20 kills), at CI size: 30 jobs of 1-2 s,
6 kills or more. Afterwards every acknowledged submission is one job, every job ended once (one
``job.finish``, one run to its end), usage is recorded once per attempt and ends when the
process did, and the month's billing reconciles and the audit chain verifies.
"""

from __future__ import annotations

import pytest
from benchmarks.chaos import Config, run_chaos, summary

from tests.conftest import BACKENDS, POSTGRES_URL, database_beside


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
        postgres_url=database_beside(POSTGRES_URL, "chaos") if backend == "postgresql" else "",
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
