"""The figures read from the database at scrape (queue by partition and QOS, the last billing run,
the outbox) and the worker's Slurm link, each scraped and parsed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aisc.access import SYSTEM
from aisc.app import create_app
from aisc.billing import charging
from aisc.db.engine import make_sessionmaker
from aisc.db.lease import Lease
from aisc.http import get_principal
from aisc.metrics import worker_registry
from aisc.outbox import service as outbox
from aisc.outbox.service import MAX_ATTEMPTS, MAX_RETRY
from aisc.settings import Settings
from aisc.slurm import loop as slurm_loop
from aisc.slurm.plan import Change
from aisc.slurm.sync import SyncResult
from aisc.slurm.types import SlurmUnavailable
from tests.factories import World
from tests.test_metrics import scrape


def parse(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def by(samples: list[tuple[dict[str, str], float]], *labels: str) -> dict[Any, float]:
    return {tuple(found[k] for k in labels): value for found, value in samples}


@pytest.fixture
def project(uow, client, clock):
    world = World(uow)
    world.approve(world.reviewed(compute={"gpu_cards": 16, "preferred_start": "2025-03-01"}))
    world.award_id = client.get("/api/v1/awards").json()[0]["id"]
    assert client.post(f"/api/v1/awards/{world.award_id}/accept").status_code == 200
    clock.now = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # the allocation has begun
    return world


def submit(client: TestClient, world: World, **extra: Any) -> None:
    body = {
        "award_id": world.award_id,
        "submitted_by_id": world.applicant,
        "partition": "training",
        "gpus_per_node": 1,
        "walltime_s": 600,
        "command": ["true"],
        **extra,
    }
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text


def test_pending_jobs_are_counted_by_partition_and_qos(client, project):
    empty = by(scrape(client)["aisc_queue_pending_jobs"], "partition", "qos")
    assert set(empty) >= {("training", "standard"), ("inference", "scavenger")}
    assert set(empty.values()) == {0}
    submit(client, project)
    submit(client, project)
    submit(client, project, qos="scavenger")
    samples = scrape(client)
    pending = by(samples["aisc_queue_pending_jobs"], "partition", "qos")
    assert pending[("training", "standard")] == 2
    assert pending[("training", "scavenger")] == 1
    assert pending[("inference", "standard")] == 0
    assert sum(pending.values()) == samples["aisc_queue_length"][0][1] == 3


def test_the_last_billing_run_is_read_from_where_it_was_recorded(engine, clock, client, uow):
    World(uow)
    before = scrape(client)
    assert before["aisc_billing_runs_total"] == [({}, 0.0)]
    assert before["aisc_billing_last_run_seconds"] == [({}, 0.0)]
    assert before["aisc_billing_last_run_timestamp_seconds"] == [({}, 0.0)]
    # A run through the API of one server ...
    assert client.post("/api/v1/billing/runs", json={"month": "2024-11"}).status_code == 200
    # ... and one from the command line (another process: the run records itself).
    clock.advance(minutes=5)
    with uow(actor="cli") as ctx:
        charging.run_month(ctx, month=date(2024, 12, 1))
    # A second server that ran neither reports the last one.
    other = create_app(Settings(metrics_public=True), engine=engine, clock=clock)
    samples = scrape(TestClient(other))
    assert samples["aisc_billing_runs_total"] == [({}, 2.0)]
    assert samples["aisc_billing_last_run_timestamp_seconds"] == [({}, clock().timestamp())]
    seconds = samples["aisc_billing_last_run_seconds"][0][1]
    assert 0 < seconds < 60
    assert samples["aisc_billing_last_run_invoices"] == [({}, 0.0)]


def test_notifications_pending_by_state(client, clock, uow):
    with uow() as ctx:
        for key in ("a", "b", "c"):
            outbox.enqueue(ctx, key=key, kind="test", to=["x@example.org"], subject=key, body=key)
    # Every attempt fails until all three are given up.
    for _ in range(MAX_ATTEMPTS + 1):
        with uow() as ctx:
            claimed = outbox.claim_due(ctx)
        for message in claimed:
            with uow() as ctx:
                outbox._record_failure(ctx, message_id=message.id, error="refused")
        clock.advance(seconds=MAX_RETRY.total_seconds() + 1)
    ids = {}
    with uow() as ctx:
        for message in outbox.list_messages(ctx):
            ids[message.key] = message.id
    assert by(scrape(client)["aisc_notifications_pending"], "state") == {
        ("due",): 0,
        ("waiting",): 0,
        ("given_up",): 3,
    }
    with uow() as ctx:  # b is retried and fails again: it waits for its next attempt
        outbox.retry(ctx, message_id=ids["b"])
        claimed = outbox.claim_due(ctx)
        assert [m.key for m in claimed] == ["b"]
    with uow() as ctx:
        outbox._record_failure(ctx, message_id=ids["b"], error="refused")
        outbox.retry(ctx, message_id=ids["a"])  # a is due now
    clock.advance(seconds=10)  # b waits 30 s after its first failure
    samples = scrape(client)
    assert by(samples["aisc_notifications_pending"], "state") == {
        ("due",): 1,
        ("waiting",): 1,
        ("given_up",): 1,
    }
    created = clock() - datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
    assert samples["aisc_notifications_oldest_due_age_seconds"] == [({}, created.total_seconds())]


class _Commands:
    def __init__(self) -> None:
        self.up = False

    def ping(self) -> None:
        if not self.up:
            raise SlurmUnavailable("slurmctld does not answer")


class _Backend:
    def __init__(self) -> None:
        self.commands = _Commands()

    def accounting(self, **_: Any) -> list[Any]:
        raise SlurmUnavailable("slurmdbd does not answer")


def test_the_worker_exports_its_slurm_link(engine, clock, monkeypatch):
    settings = Settings(executor="slurm", slurm_sync_interval_s=1)
    backend = _Backend()
    runner = slurm_loop.SlurmJobLoop(make_sessionmaker(engine), backend, settings, clock)
    registry = worker_registry(runner, Lease(engine, holder="slurm-worker", clock=clock))  # type: ignore[arg-type]

    def figures() -> dict[str, Any]:
        return parse(generate_latest(registry).decode())

    fresh = figures()
    assert "aisc_slurm_up" not in fresh  # not known before the first ping
    assert fresh["aisc_slurm_last_sync_timestamp_seconds"] == [({}, 0.0)]
    assert fresh["aisc_slurm_sync_failures_total"] == [({}, 0.0)]

    runner.tick()  # the controller is down: no sync is tried
    down = figures()
    assert down["aisc_slurm_up"] == [({}, 0.0)]
    assert down["aisc_slurm_sync_failures_total"] == [({}, 0.0)]

    backend.commands.up = True

    def unreachable(*_: Any, **__: Any) -> SyncResult:
        raise SlurmUnavailable("sacctmgr timed out")

    monkeypatch.setattr(slurm_loop, "sync", unreachable)
    runner.tick()  # the controller answers, but the sync cannot reach accounting
    failing = figures()
    assert failing["aisc_slurm_up"] == [({}, 1.0)]
    assert failing["aisc_slurm_sync_failures_total"] == [({}, 1.0)]
    assert failing["aisc_slurm_last_sync_timestamp_seconds"] == [({}, 0.0)]

    refused = Change("add", "account award-1", "", ("sacctmgr", "add", "account"))
    monkeypatch.setattr(
        slurm_loop, "sync", lambda *_, **__: SyncResult(dry_run=False, failed=[(refused, "no")])
    )
    clock.advance(seconds=30)
    runner.tick()
    synced = figures()
    assert synced["aisc_slurm_last_sync_timestamp_seconds"] == [({}, clock().timestamp())]
    assert synced["aisc_slurm_sync_changes_failed_total"] == [({}, 1.0)]
    assert synced["aisc_slurm_sync_failures_total"] == [({}, 1.0)]


def test_the_local_worker_exports_no_slurm_link(engine, clock):
    app = create_app(Settings(), engine=engine, clock=clock)
    app.dependency_overrides[get_principal] = lambda: SYSTEM
    samples = parse(generate_latest(app.state.worker.registry).decode())
    assert "aisc_slurm_sync_failures_total" not in samples
    assert "aisc_scheduler_passes_total" in samples
