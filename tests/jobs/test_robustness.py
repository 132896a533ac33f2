"""The gateway's checks, a loop that one bad job cannot stall, cancel in every state, and
admission under the award's lock."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from aisc.audit.models import AuditEvent
from aisc.context import Ctx
from aisc.db.engine import make_sessionmaker, transaction
from aisc.errors import Conflict
from aisc.executors.local import load_slices
from aisc.jobs import service
from aisc.jobs.models import Job
from aisc.jobs.schemas import JobSubmit
from aisc.scheduling.loop import LocalJobLoop
from tests.factories import World
from tests.helpers import error_field
from tests.jobs.isolation import executor
from tests.jobs.test_jobs import PY, LiveClock, run_until, submit


@pytest.fixture
def clock():
    return LiveClock()


@pytest.fixture
def runner(engine, clock, tmp_path):
    return LocalJobLoop(
        make_sessionmaker(engine), executor(tmp_path / "runs"), clock, grace_seconds=1
    )


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"environment": {"LD_PRELOAD": "/tmp/x.so"}}, "environment"),
        ({"environment": {"ld_library_path": "/tmp"}}, "environment"),
        ({"environment": {"BASH_ENV": "/tmp/x"}}, "environment"),
        ({"environment": {"ENV": "/tmp/x"}}, "environment"),
        ({"environment": {"PYTHONHOME": "/nonexistent"}}, "environment"),
        ({"environment": {"PYTHONPATH": "/tmp"}}, "environment"),
        ({"environment": {"PYTHONSTARTUP": "/tmp/x.py"}}, "environment"),
        ({"environment": {"aisc_database_url": "x"}}, "environment"),
        ({"environment": {"Cuda_Visible_Devices": "7"}}, "environment"),
        ({"environment": {"1ST": "x"}}, "environment"),
        ({"environment": {"A-B": "x"}}, "environment"),
        ({"environment": {"": "x"}}, "environment"),
        ({"environment": {f"V{i}": "x" for i in range(101)}}, "environment"),
        ({"environment": {"BIG": "x" * 4097}}, "environment"),
        ({"environment": {f"V{i}": "x" * 4000 for i in range(9)}}, "environment"),
        ({"workdir": "/etc"}, "workdir"),
        ({"workdir": "../other-project"}, "workdir"),
        ({"workdir": "data/../../.."}, "workdir"),
        ({"workdir": "~root"}, "workdir"),
        ({"nodes": 2, "gpus_per_node": 0}, "gpus_per_node"),
    ],
)
def test_the_gateway_refuses_dangerous_jobs(client, project, override, field):
    response = submit(client, project, [PY, "-c", "pass"], **override)
    assert response.status_code == 422, response.json()
    assert error_field(response) == field
    assert client.get("/api/v1/jobs").json() == []


def test_harmless_variables_and_a_relative_workdir_are_accepted(client, project, engine):
    env = {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "4", "hf_token": "x"}
    response = submit(client, project, [PY, "-c", "pass"], environment=env, workdir="./data/run1")
    assert response.status_code == 201, response.json()
    with make_sessionmaker(engine)() as db:
        assert db.get(Job, response.json()["id"]).workdir == "data/run1"


def test_the_audit_trail_keeps_variable_names_never_values(client, project, uow):
    env = {"HF_TOKEN": "hf_very_secret_value", "WANDB_API_KEY": "another-secret"}
    job = submit(client, project, [PY, "-c", "pass"], environment=env).json()
    with uow() as ctx:
        event = ctx.db.execute(
            select(AuditEvent).where(
                AuditEvent.action == "job.submit", AuditEvent.object_id == str(job["id"])
            )
        ).scalar_one()
        text = json.dumps([event.before, event.after])
    assert "very_secret" not in text
    assert "another-secret" not in text
    after = event.after if isinstance(event.after, dict) else json.loads(event.after)
    assert after["environment"] == ["HF_TOKEN", "WANDB_API_KEY"]


def test_a_job_that_cannot_start_fails_once_and_the_next_tenant_runs(client, project, runner):
    broken = submit(client, project, [PY, "-c", "pass"], workdir="not/there").json()
    other = project.reviewed(
        title="Start-up project",
        organisation_id=project.startup,
        created_by_id=project.startup_pi,
        compute={"kind": "pooled", "gpu_cards": None, "gpu_hours": 100_000},
    )
    project.approve(other)
    award_b = max(a["id"] for a in client.get("/api/v1/awards").json())
    client.post(f"/api/v1/awards/{award_b}/accept")
    as_b = {"award_id": award_b, "submitted_by_id": project.startup_pi}
    later = submit(client, project, [PY, "-c", "print('mine')"], **as_b).json()
    failed = run_until(runner, client, broken["id"], {"failed", "completed", "pending"})
    assert failed["state"] == "failed"
    assert failed["attempt"] == 1
    assert "workdir 'not/there' does not exist" in failed["reason"]
    assert run_until(runner, client, later["id"], {"completed", "failed"})["state"] == "completed"
    for _ in range(3):
        runner.tick()
    again = client.get(f"/api/v1/jobs/{broken['id']}").json()
    assert (again["state"], again["attempt"]) == ("failed", 1)
    starts = client.get(
        "/api/v1/audit/events", params={"object_type": "job", "object_id": str(broken["id"])}
    ).json()
    assert [e["action"] for e in starts].count("job.start") == 1


def test_one_jobs_error_does_not_stop_the_tick_for_the_others(client, project, runner, engine):
    stuck = submit(client, project, [PY, "-c", "import time; time.sleep(60)"]).json()
    run_until(runner, client, stuck["id"], {"running"})
    with make_sessionmaker(engine)() as db, db.begin():
        job = db.get(Job, stuck["id"])
        slices = load_slices(job.processes)
        job.processes = [{"pid": "not a slice"}]  # a record the loop cannot read
    try:
        fine = submit(client, project, [PY, "-c", "print('still scheduled')"]).json()
        done = run_until(runner, client, fine["id"], {"completed", "failed"})
        assert done["state"] == "completed"
        broken = client.get(f"/api/v1/jobs/{stuck['id']}").json()
        assert broken["state"] == "failed"
        assert broken["reason"].startswith("the platform could not follow it")
    finally:
        for item in slices:
            runner.executor.kill(item)


def test_cancel_works_for_a_job_committed_as_running_but_not_started(
    client, project, runner, monkeypatch, engine, clock, tmp_path
):
    job = submit(client, project, [PY, "-c", "print('ran')"]).json()
    with monkeypatch.context() as patch:
        patch.setattr(runner, "_launch", lambda job_id: None)  # the platform dies here
        runner.tick()
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "running"
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    reborn = LocalJobLoop(
        make_sessionmaker(engine), executor(tmp_path / "runs"), clock, grace_seconds=1
    )
    done = run_until(reborn, client, job["id"], {"cancelled", "completed", "failed"})
    assert done["state"] == "cancelled"
    for _ in range(3):
        reborn.tick()
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "cancelled"
    assert client.get(f"/api/v1/jobs/{job['id']}/logs").text == ""


def test_concurrent_submissions_never_exceed_the_award(engine, uow, client, clock):
    """12 submissions of 4 GPU-hours each, at once, on a 10 GPU-hour award: 2 are admitted."""
    world = World(uow)
    world.approve(world.reviewed(compute={"kind": "pooled", "gpu_cards": None, "gpu_hours": 10}))
    award_id = client.get("/api/v1/awards").json()[0]["id"]
    client.post(f"/api/v1/awards/{award_id}/accept")
    data = JobSubmit(
        award_id=award_id,
        submitted_by_id=world.applicant,
        partition="training",
        gpus_per_node=4,
        walltime_s=3600,
        command=[PY, "-c", "pass"],
    )
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def one() -> None:
        barrier.wait()
        try:
            with transaction(factory) as db:
                service.submit(Ctx(db=db, now=clock(), actor="test"), data=data)
            outcomes.append("admitted")
        except Conflict:
            outcomes.append("refused")
        except Exception as exc:  # surfaced by the assertion below
            outcomes.append(f"error: {exc!r}")

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["admitted"] * 2 + ["refused"] * 10
    assert len(client.get("/api/v1/jobs", params={"award_id": award_id}).json()) == 2


def test_a_submission_runs_a_handful_of_statements(engine, uow, client, clock):
    """The gateway's checks on a pooled award read each row once: the award, the submitter
    with their team membership, the partition with the allocations and the nodes that fit,
    the award's lock, what remains; then the job and its audit event (lock, event, head)."""
    from sqlalchemy import event

    world = World(uow)
    world.approve(world.reviewed(compute={"kind": "pooled", "gpu_cards": None, "gpu_hours": 10}))
    award_id = client.get("/api/v1/awards").json()[0]["id"]
    client.post(f"/api/v1/awards/{award_id}/accept")
    data = JobSubmit(
        award_id=award_id,
        submitted_by_id=world.applicant,
        partition="training",
        gpus_per_node=4,
        walltime_s=3600,
        command=[PY, "-c", "pass"],
    )
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement.split()[0].upper())

    factory = make_sessionmaker(engine)
    with transaction(factory) as db:
        event.listen(engine, "before_cursor_execute", seen)
        try:
            service.submit(Ctx(db=db, now=clock(), actor="test"), data=data)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert statements.count("INSERT") == 2  # the job and its event
    assert len(statements) <= 10, statements
