"""A hostile tenant's job on the local executor, replayed: each attack must fail.

The jobs are real: submitted through the API, started by the real loop and the real local
executor in its sandbox. They need root and Bubblewrap; elsewhere these tests skip, unless
``AISC_TEST_ISOLATION=1`` (CI sets it, and runs them as root) makes a missing sandbox a failure.
"""

from __future__ import annotations

import json
import os
import pwd
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from aisc.db.engine import make_sessionmaker
from aisc.executors import sandbox
from aisc.executors.local import LocalExecutor, load_slices
from aisc.jobs.models import Job, JobQos, JobState
from aisc.scheduling.loop import LocalJobLoop
from tests.factories import World

PY = sys.executable
SECRET_URL = "postgresql://platform:s3cret-password@127.0.0.1:5432/aisc"


@pytest.fixture
def sandboxed(monkeypatch):
    why = sandbox.unavailable()
    if why:
        if os.environ.get("AISC_TEST_ISOLATION") == "1":
            pytest.fail(f"AISC_TEST_ISOLATION=1 but jobs cannot be isolated here: {why}")
        pytest.skip(f"jobs cannot be isolated here: {why}")
    monkeypatch.setenv("AISC_JOB_ISOLATION", "sandbox")
    # The platform's own secrets, in its environment as in production.
    monkeypatch.setenv("AISC_DATABASE_URL", SECRET_URL)
    monkeypatch.setenv("AISC_OIDC_CLIENT_SECRET", "oidc-secret")


class LiveClock:
    def __init__(self) -> None:
        self.base = datetime(2025, 3, 10, 9, 0, tzinfo=UTC).timestamp()
        self.origin = time.time()

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.base + time.time() - self.origin, UTC)


@pytest.fixture
def clock():
    return LiveClock()


@pytest.fixture
def tenants(uow, client):
    """Two tenants with current awards: the university (victim) and the start-up (attacker)."""
    world = World(uow)
    world.approve(world.reviewed(compute={"gpu_cards": 16}))
    world.approve(
        world.reviewed(
            title="Start-up project",
            organisation_id=world.startup,
            created_by_id=world.startup_pi,
            compute={"kind": "pooled", "gpu_cards": None, "gpu_hours": 100_000},
        )
    )
    awards = sorted(a["id"] for a in client.get("/api/v1/awards").json())
    for award in awards:
        client.post(f"/api/v1/awards/{award}/accept")
    world.victim = {"award_id": awards[0], "submitted_by_id": world.applicant}
    world.attacker = {"award_id": awards[1], "submitted_by_id": world.startup_pi}
    return world


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "var"


@pytest.fixture
def runner(engine, clock, data_dir):
    executor = LocalExecutor(data_dir / "runs", isolation="sandbox", private=(data_dir,))
    return LocalJobLoop(make_sessionmaker(engine), executor, clock, grace_seconds=1)


def submit(client, who, argv, **extra):
    body = {"partition": "training", "gpus_per_node": 1, "walltime_s": 600, "command": argv}
    body.update(who)
    body.update(extra)
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def run_until(runner, client, job_id, states, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        runner.tick()
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout}s")


ATTACK = r"""
import json, os, socket, sys
targets = json.loads(sys.argv[1])
report = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}

def attempt(name, action):
    try:
        report[name] = "done: " + repr(action())[:200]
    except Exception as exc:
        report[name] = "refused: " + type(exc).__name__

attempt("read_database", lambda: open(targets["database"], "rb").read(64))
attempt("write_database", lambda: open(targets["database"], "r+b").write(b"x"))
attempt("list_data_dir", lambda: os.listdir(targets["data_dir"]))
attempt("read_victim_output", lambda: open(targets["victim_out"]).read())
attempt("rewrite_victim_exit", lambda: open(targets["victim_exit"], "w").write("0"))
attempt("list_victim_space", lambda: os.listdir(targets["victim_space"]))
attempt("write_own_exit", lambda: open(targets["own_exit"], "w").write("0"))
attempt("read_shadow", lambda: open("/etc/shadow").read())
for port in (5432, 8000):
    attempt(f"connect_{port}", lambda: socket.create_connection(("127.0.0.1", port), 2))
report["platform_env"] = sorted(k for k in os.environ if k.startswith("AISC_") and k not in (
    "AISC_JOB_ID", "AISC_NODE", "AISC_NODE_INDEX", "AISC_NODE_COUNT"))
report["secret_seen"] = any("s3cret" in v or "oidc-secret" in v for v in os.environ.values())
report["env_names"] = sorted(os.environ)
open("mine.txt", "w").write("a tenant may write in its own space")
print(json.dumps(report))
"""


@pytest.mark.usefixtures("sandboxed")
def test_a_hostile_job_reaches_neither_the_platform_nor_another_tenant(
    client, tenants, runner, engine, data_dir
):
    victim = submit(client, tenants.victim, [PY, "-c", "print('victim-secret')"])
    done = run_until(runner, client, victim["id"], {"completed", "failed"})
    assert done["state"] == "completed", client.get(
        f"/api/v1/jobs/{victim['id']}/logs?stream=stderr"
    ).text
    with make_sessionmaker(engine)() as db:
        (victim_slice,) = load_slices(db.get(Job, victim["id"]).processes)
    exit_before = Path(victim_slice.exit_file).read_text()
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else ""
    runs = runner.executor.run_root
    attacker_id = max(j["id"] for j in client.get("/api/v1/jobs").json()) + 1
    targets = {
        "database": database or str(data_dir / "aisc.db"),
        "data_dir": str(data_dir),
        "victim_out": victim_slice.stdout,
        "victim_exit": victim_slice.exit_file,
        "victim_space": str(runs / "projects" / "p1"),
        "own_exit": str(runs / f"job-{attacker_id}" / "1-0.exit"),
    }
    attack = submit(client, tenants.attacker, [PY, "-c", ATTACK, json.dumps(targets)])
    assert attack["id"] == attacker_id
    finished = run_until(runner, client, attack["id"], {"completed", "failed"})
    stderr = client.get(f"/api/v1/jobs/{attack['id']}/logs", params={"stream": "stderr"}).text
    assert finished["state"] == "completed", stderr
    report = json.loads(client.get(f"/api/v1/jobs/{attack['id']}/logs").text)

    for attack_name in (
        "read_database",
        "write_database",
        "list_data_dir",
        "read_victim_output",
        "rewrite_victim_exit",
        "list_victim_space",
        "write_own_exit",
        "read_shadow",
        "connect_5432",
        "connect_8000",
    ):
        assert report[attack_name].startswith("refused"), (attack_name, report[attack_name])
    assert report["platform_env"] == []
    assert report["secret_seen"] is False
    assert "AISC_DATABASE_URL" not in report["env_names"]
    # It ran under its project's own unprivileged account, never the platform's.
    account = pwd.getpwnam(sandbox.account_name(2))
    assert report["uid"] == account.pw_uid != os.getuid()
    assert report["gid"] == account.pw_gid
    assert report["groups"] == []
    assert account.pw_uid != pwd.getpwnam(sandbox.account_name(1)).pw_uid
    # Nothing of the victim's changed; the attacker wrote only in its own space.
    assert Path(victim_slice.exit_file).read_text() == exit_before
    assert client.get(f"/api/v1/jobs/{victim['id']}").json()["state"] == "completed"
    own = runs / "projects" / "p2" / f"job-{attack['id']}" / "mine.txt"
    assert own.stat().st_uid == account.pw_uid
    assert (runs / f"job-{attack['id']}" / "1-0.exit").stat().st_uid == 0


@pytest.mark.usefixtures("sandboxed")
def test_the_platform_files_are_private(engine, data_dir, runner, client, tenants):
    if engine.url.get_backend_name() == "sqlite":
        assert Path(engine.url.database).stat().st_mode & 0o077 == 0
    job = submit(client, tenants.attacker, [PY, "-c", "print('hi')"])
    run_until(runner, client, job["id"], {"completed", "failed"})
    runs = runner.executor.run_root
    assert runs.stat().st_mode & 0o077 == 0
    assert (runs / f"job-{job['id']}").stat().st_mode & 0o077 == 0
    space = runs / "projects" / "p2"
    assert space.stat().st_mode & 0o077 == 0
    assert space.stat().st_uid == pwd.getpwnam(sandbox.account_name(2)).pw_uid


@pytest.mark.usefixtures("sandboxed")
def test_the_wrapper_ignores_the_jobs_variables_and_a_bad_job_fails_once(
    client, tenants, runner, engine
):
    """Jobs saved before the gateway checked them (or written around it): the loop refuses
    them once, with the reason, and the next tenant's job still runs."""
    factory = make_sessionmaker(engine)
    template = submit(client, tenants.attacker, [PY, "-c", "print('template')"])
    bad = []
    with factory() as db, db.begin():
        base = db.get(Job, template["id"])
        for environment, workdir in (
            ({"PYTHONHOME": "/nonexistent"}, ""),
            ({"LD_PRELOAD": "/tmp/evil.so"}, ""),
            ({}, "does/not/exist"),
            ({}, "../../.."),
        ):
            job = Job(
                award_id=base.award_id,
                submitted_by_id=base.submitted_by_id,
                partition_id=base.partition_id,
                gpu_model_code=base.gpu_model_code,
                nodes=1,
                gpus_per_node=1,
                walltime_s=600,
                command=[PY, "-c", "print('should not run')"],
                environment=environment,
                workdir=workdir,
                qos=JobQos.STANDARD,
                state=JobState.PENDING,
                submitted_at=base.submitted_at,
            )
            db.add(job)
            db.flush()
            bad.append(job.id)
    after = submit(client, tenants.victim, [PY, "-c", "print('next tenant')"])
    done = run_until(runner, client, after["id"], {"completed", "failed"})
    assert done["state"] == "completed"
    assert client.get(f"/api/v1/jobs/{after['id']}/logs").text == "next tenant\n"
    reasons = {}
    for job_id in bad:
        job = run_until(runner, client, job_id, {"failed", "completed"})
        assert job["state"] == "failed"
        assert job["attempt"] == 1  # failed once, never requeued
        assert job["reason"].startswith("could not be started")
        reasons[job_id] = job["reason"]
        assert client.get(f"/api/v1/jobs/{job_id}/logs").text == ""
    assert "PYTHONHOME" in reasons[bad[0]]
    assert "LD_PRELOAD" in reasons[bad[1]]
    assert "does not exist" in reasons[bad[2]]
    assert "'..'" in reasons[bad[3]]
    for _ in range(3):
        runner.tick()
    with factory() as db:
        states = db.execute(select(Job.state, Job.attempt).where(Job.id.in_(bad))).all()
    assert {(s, a) for s, a in states} == {(JobState.FAILED, 1)}


def test_tenant_jobs_are_refused_where_they_cannot_be_isolated(client, tenants, monkeypatch):
    monkeypatch.setattr(sandbox, "unavailable", lambda: "bwrap is not installed")
    settings = client.app.state.settings
    client.app.state.settings = settings.model_copy(update={"job_isolation": "sandbox"})
    body = {
        **tenants.attacker,
        "partition": "training",
        "gpus_per_node": 1,
        "walltime_s": 600,
        "command": [PY, "-c", "pass"],
    }
    refused = client.post("/api/v1/jobs", json=body)
    assert refused.status_code == 409
    message = refused.json()["detail"]["message"]
    assert "bwrap is not installed" in message
    assert "AISC_JOB_ISOLATION=none" in message
    assert client.get("/api/v1/jobs").json() == []
    # The operator of a single-user development machine may say so explicitly.
    client.app.state.settings = client.app.state.settings.model_copy(
        update={"job_isolation": "none"}
    )
    assert client.post("/api/v1/jobs", json=body).status_code == 201


@pytest.mark.usefixtures("sandboxed")
def test_a_projects_account_is_made_once_whoever_asks_at_the_same_time():
    import subprocess
    import threading

    project_id = 900_000 + os.getpid() % 90_000
    name = sandbox.account_name(project_id)
    barrier = threading.Barrier(6)
    made: list[object] = []

    def ask() -> None:
        barrier.wait()
        try:
            made.append(sandbox.ensure_account(project_id))
        except Exception as exc:  # surfaced by the assertion below
            made.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len({(a.uid, a.gid) for a in made}) == 1, made  # type: ignore[union-attr]
        entry = pwd.getpwnam(name)
        assert entry.pw_uid != 0
        assert entry.pw_shell == "/usr/sbin/nologin"
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
