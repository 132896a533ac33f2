"""Jobs end to end with real subprocesses: gateway, local executor, the loop, restarts."""

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from aisc.db.engine import make_sessionmaker
from aisc.executors.local import load_slices
from aisc.jobs.lifecycle import LOST
from aisc.jobs.models import Job
from aisc.scheduling.loop import LocalJobLoop
from tests.helpers import error_field, refused
from tests.jobs.isolation import executor

PY = sys.executable


class LiveClock:
    """Starts inside the allocation's period and runs at real speed (walltimes are real)."""

    def __init__(self) -> None:
        self.base = datetime(2025, 3, 10, 9, 0, tzinfo=UTC).timestamp()
        self.origin = time.time()

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.base + time.time() - self.origin, UTC)


@pytest.fixture
def clock():
    return LiveClock()


@pytest.fixture
def runner(engine, clock, tmp_path):
    return LocalJobLoop(
        make_sessionmaker(engine), executor(tmp_path / "runs"), clock, grace_seconds=1
    )


def submit(client, world, argv, **extra):
    body = {
        "award_id": world.award_id,
        "submitted_by_id": world.applicant,
        "partition": "training",
        "gpus_per_node": 2,
        "walltime_s": 600,
        "command": argv,
    }
    body.update(extra)
    return client.post("/api/v1/jobs", json=body)


def run_until(runner, client, job_id, states, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        runner.tick()
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout}s")


def test_a_job_runs_on_its_gpus_and_its_usage_is_recorded(client, project, runner):
    code = "import os; print('gpus=' + os.environ['CUDA_VISIBLE_DEVICES']); print('ok')"
    job = submit(client, project, [PY, "-c", code], name="hello").json()
    assert job["state"] == "pending"
    done = run_until(runner, client, job["id"], {"completed", "failed"})
    assert done["state"] == "completed"
    assert done["exit_code"] == 0
    assert done["placement"] == []  # released
    output = client.get(f"/api/v1/jobs/{job['id']}/logs").text
    assert "gpus=0,1" in output
    usage = json.loads(
        client.get("/api/v1/audit/events", params={"object_type": "usage"}).json()[0]["after"]
    )
    assert usage["gpu_model_code"] == "H800-SXM5-80GB"
    assert usage["job_id"] == job["id"]
    assert 0 <= usage["gpu_seconds"] <= 2 * 30
    listed = client.get("/api/v1/usage", params={"award_id": project.award_id}).json()
    assert [(u["job_id"], u["gpu_seconds"]) for u in listed] == [(job["id"], usage["gpu_seconds"])]
    assert client.get("/api/v1/usage", params={"job_id": 999}).json() == []


def test_exit_codes_and_stderr(client, project, runner):
    job = submit(
        client, project, [PY, "-c", "import sys; print('bad', file=sys.stderr); sys.exit(3)"]
    ).json()
    done = run_until(runner, client, job["id"], {"completed", "failed"})
    assert (done["state"], done["exit_code"], done["reason"]) == ("failed", 3, "exit code 3")
    assert client.get(f"/api/v1/jobs/{job['id']}/logs", params={"stream": "stderr"}).text == "bad\n"
    missing = submit(client, project, ["/nonexistent/program"]).json()
    assert run_until(runner, client, missing["id"], {"failed"})["exit_code"] == 127


def test_walltime_is_enforced(client, project, runner):
    job = submit(client, project, [PY, "-c", "import time; time.sleep(60)"], walltime_s=1).json()
    started = time.time()
    done = run_until(runner, client, job["id"], {"timeout", "failed", "completed"})
    assert done["state"] == "timeout"
    assert done["reason"] == "walltime reached"
    assert time.time() - started < 20


def test_cancel_pending_and_running_jobs(client, project, runner):
    queued = submit(client, project, [PY, "-c", "pass"]).json()
    cancelled = client.post(f"/api/v1/jobs/{queued['id']}/cancel").json()
    assert cancelled["state"] == "cancelled"
    assert client.post(f"/api/v1/jobs/{queued['id']}/cancel").status_code == 409
    long = submit(client, project, [PY, "-c", "import time; time.sleep(60)"]).json()
    run_until(runner, client, long["id"], {"running"})
    client.post(f"/api/v1/jobs/{long['id']}/cancel")
    assert run_until(runner, client, long["id"], {"cancelled"})["state"] == "cancelled"


def test_a_restarted_platform_adopts_running_jobs_and_marks_lost_ones(
    client, project, engine, clock, tmp_path, runner
):
    survivor = submit(
        client, project, [PY, "-c", "import time; time.sleep(2); print('done')"]
    ).json()
    victim = submit(client, project, [PY, "-c", "import time; time.sleep(60)"]).json()
    run_until(runner, client, survivor["id"], {"running"})
    run_until(runner, client, victim["id"], {"running"})
    # The platform restarts: a new runner and executor that never started these processes.
    reborn = LocalJobLoop(
        make_sessionmaker(engine), executor(tmp_path / "runs"), clock, grace_seconds=1
    )
    with make_sessionmaker(engine)() as db:
        pid = load_slices(db.get(Job, victim["id"]).processes)[0].pid
    os.killpg(pid, signal.SIGKILL)  # killed behind the platform's back: no exit status
    done = run_until(reborn, client, survivor["id"], {"completed", "failed"})
    assert done["state"] == "completed"
    assert "done" in client.get(f"/api/v1/jobs/{survivor['id']}/logs").text
    lost = run_until(reborn, client, victim["id"], {"failed"})
    assert lost["reason"] == LOST
    assert lost["exit_code"] is None
    starts = client.get(
        "/api/v1/audit/events", params={"object_type": "job", "object_id": str(survivor["id"])}
    ).json()
    assert [e["action"] for e in starts].count("job.start") == 1  # never started twice


def test_multi_node_jobs_run_one_process_per_node(client, project, runner):
    code = "import os; print(os.environ['AISC_NODE'], os.environ['CUDA_VISIBLE_DEVICES'])"
    job = submit(client, project, [PY, "-c", code], nodes=2, gpus_per_node=8).json()
    done = run_until(runner, client, job["id"], {"completed", "failed"})
    assert done["state"] == "completed"
    lines = client.get(f"/api/v1/jobs/{job['id']}/logs").text.splitlines()
    assert len(lines) == 2
    assert {line.split()[1] for line in lines} == {"0,1,2,3,4,5,6,7"}
    assert len({line.split()[0] for line in lines}) == 2


def test_pending_jobs_get_start_estimates(client, project, runner):
    big = [
        submit(
            client,
            project,
            [PY, "-c", "import time; time.sleep(30)"],
            nodes=2,
            gpus_per_node=8,
            walltime_s=3600,
        ).json()
        for _ in range(2)
    ]
    runner.tick()
    jobs = {j["id"]: j for j in client.get("/api/v1/jobs").json()}
    assert jobs[big[0]["id"]]["state"] == "running"
    waiting = jobs[big[1]["id"]]
    assert waiting["state"] == "pending"
    assert waiting["estimated_start"] is not None
    for job in big:
        client.post(f"/api/v1/jobs/{job['id']}/cancel")
    run_until(runner, client, big[0]["id"], {"cancelled"})


@pytest.mark.parametrize(
    ("override", "status", "field"),
    [
        ({"submitted_by_id": "startup_pi"}, 403, "submitted_by_id"),
        ({"partition": "nowhere"}, 422, "partition"),
        ({"partition": "inference"}, 409, "partition"),
        ({"walltime_s": 169 * 3600}, 422, "walltime_s"),
        ({"gpus_per_node": 16}, 422, "gpus_per_node"),
        ({"nodes": 3, "gpus_per_node": 8}, 422, "gpus_per_node"),
        ({"command": []}, 422, "command"),
        ({"command": [""]}, 422, "command"),
        ({"environment": {"CUDA_VISIBLE_DEVICES": "7"}}, 422, "environment"),
        ({"walltime_s": 0}, 422, "walltime_s"),
    ],
)
def test_the_gateway_refuses_with_the_reason(client, project, override, status, field):
    if override.get("submitted_by_id") == "startup_pi":
        override = {"submitted_by_id": project.startup_pi}
    response = submit(client, project, [PY, "-c", "pass"], **override)
    assert response.status_code == status, response.json()
    assert error_field(response) == field
    assert client.get("/api/v1/jobs").json() == []


def test_jobs_cli(cli, project, runner, client):
    # The CLI runs on the real date: use an award whose allocation is active today.
    today = datetime.now(UTC).date().replace(day=1).isoformat()
    project.approve(
        project.reviewed(
            title="Current project", compute={"gpu_cards": 8, "preferred_start": today, "months": 3}
        )
    )
    award_id = max(a["id"] for a in client.get("/api/v1/awards").json())
    client.post(f"/api/v1/awards/{award_id}/accept")
    project.award_id = award_id
    args = [
        "jobs",
        "submit",
        "--award",
        str(project.award_id),
        "--by",
        str(project.applicant),
        "--partition",
        "training",
        "--walltime",
        "10m",
        "--gpus-per-node",
        "1",
        "--env",
        "GREETING=hi",
        "--json",
        "--",
        PY,
        "-c",
        "import os; print(os.environ['GREETING'])",
    ]
    job = json.loads(cli(*args).output)
    assert job["walltime_s"] == 600
    assert job["command"][-1].startswith("import os")
    soon = cli(
        "jobs",
        "submit",
        "--award",
        str(project.award_id),
        "--by",
        str(project.applicant),
        "--partition",
        "training",
        "--walltime",
        "soon",
        "--",
        PY,
        expect=2,
    )
    assert "walltime: 'soon' is not a duration" in soon.output
    rows = json.loads(cli("jobs", "list", "--json").output)
    assert [r["id"] for r in rows] == [job["id"]]
    run_until(runner, client, job["id"], {"completed"})
    assert cli("jobs", "logs", str(job["id"])).output == "hi\n"
    assert cli("jobs", "logs", str(job["id"]), "--stderr").output == ""
    assert json.loads(cli("jobs", "show", str(job["id"]), "--json").output)["state"] == "completed"
    refused(cli, "jobs", "cancel", str(job["id"]), expect=4, says="is already completed")
    assert json.loads(cli("jobs", "show", str(job["id"]), "--json").output)["state"] == "completed"
    assert "completed" in cli("jobs", "list", "--state", "completed").output
    assert "started 0" in cli("jobs", "tick").output
    used = json.loads(cli("jobs", "usage", "--award", str(project.award_id), "--json").output)
    assert [u["job_id"] for u in used] == [job["id"]]
    assert "gpu_seconds" in cli("jobs", "usage").output


def test_metrics_in_prometheus_text_format(client, project, engine, clock, tmp_path):
    submit(client, project, [PY, "-c", "import time; time.sleep(30)"])
    submit(client, project, [PY, "-c", "pass"], nodes=2, gpus_per_node=8)  # held by the cap
    worker = client.app.state.worker
    assert worker.lead()  # the loops write only while their worker holds the lease
    runner = worker.runner
    runner.tick()
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    assert 'aisc_jobs{state="running"} 1.0' in text
    assert "aisc_queue_length 1.0" in text
    assert "aisc_running_gpus 2.0" in text
    # the loop's own figures are the worker's (served on its own port by `aisc worker`)
    text = generate_latest(worker.registry).decode()
    assert "aisc_scheduler_passes_total 1.0" in text
    assert "# TYPE aisc_scheduler_last_tick_seconds gauge" in text
    # the pure scheduler's pass, timed by the loop: one pass so far, then one per tick with work
    assert "# TYPE aisc_scheduler_pass_seconds histogram" in text
    assert "aisc_scheduler_pass_seconds_count 1.0" in text
    runner.tick()
    assert "aisc_scheduler_pass_seconds_count 2.0" in generate_latest(worker.registry).decode()
    for job in client.get("/api/v1/jobs").json():
        client.post(f"/api/v1/jobs/{job['id']}/cancel")
    deadline = time.time() + 30
    while client.get("/api/v1/jobs", params={"state": "running"}).json() and time.time() < deadline:
        runner.tick()
        time.sleep(0.1)


def test_dedicated_nodes_run_their_project_and_lend_only_to_preemptible_work(
    client, project, runner
):
    other = project.reviewed(
        title="Start-up project",
        organisation_id=project.startup,
        created_by_id=project.startup_pi,
        compute={"kind": "pooled", "gpu_cards": None, "gpu_hours": 100_000},
    )
    project.approve(other)
    award_b = max(a["id"] for a in client.get("/api/v1/awards").json())
    client.post(f"/api/v1/awards/{award_b}/accept")
    runner.tick()
    bound = client.get("/api/v1/allocations", params={"award_id": project.award_id}).json()[0]
    assert len(bound["nodes"]) == 2  # 16 dedicated cards = 2 whole nodes held
    sleeper = [PY, "-c", "import time; time.sleep(60)"]
    as_b = {"award_id": award_b, "submitted_by_id": project.startup_pi}
    steady = submit(client, project, sleeper, nodes=7, gpus_per_node=8, **as_b).json()
    runner.tick()
    assert client.get(f"/api/v1/jobs/{steady['id']}").json()["state"] == "pending"
    borrower = submit(
        client, project, sleeper, nodes=7, gpus_per_node=8, preemptible=True, **as_b
    ).json()
    running = run_until(runner, client, borrower["id"], {"running"})
    assert set(bound["nodes"]) <= {p["node"] for p in running["placement"]}
    owner = submit(client, project, [PY, "-c", "print('mine')"], nodes=2, gpus_per_node=8).json()
    done = run_until(runner, client, owner["id"], {"completed", "failed"})
    assert done["state"] == "completed"
    events = client.get(
        "/api/v1/audit/events", params={"object_type": "job", "object_id": str(borrower["id"])}
    ).json()
    assert "job.stop.preempt" in [e["action"] for e in events]  # SIGTERM, grace, requeue
    requeued = client.get(f"/api/v1/jobs/{borrower['id']}").json()
    assert requeued["state"] == "running"  # requeued, then restarted once the owner's job ended
    for job in (steady, borrower):
        client.post(f"/api/v1/jobs/{job['id']}/cancel")
    deadline = time.time() + 30
    while client.get("/api/v1/jobs", params={"state": "running"}).json() and time.time() < deadline:
        runner.tick()
        time.sleep(0.1)


def test_a_crash_between_commit_and_launch_requeues_and_never_runs_twice(
    client, project, engine, clock, tmp_path, runner, monkeypatch
):
    job = submit(client, project, [PY, "-c", "print('ran')"]).json()
    with monkeypatch.context() as patch:
        patch.setattr(runner, "_launch", lambda job_id: None)  # the platform dies right here
        runner.tick()
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "running"
    reborn = LocalJobLoop(
        make_sessionmaker(engine), executor(tmp_path / "runs"), clock, grace_seconds=1
    )
    reborn.tick()
    requeued = client.get(f"/api/v1/jobs/{job['id']}").json()
    # Requeued and started again in the same tick (a tick follows jobs, then schedules).
    assert (requeued["state"], requeued["reason"]) == ("running", "")
    events = client.get(
        "/api/v1/audit/events", params={"object_type": "job", "object_id": str(job["id"])}
    ).json()
    assert [e["action"] for e in events].count("job.requeue") == 1
    done = run_until(reborn, client, job["id"], {"completed", "failed"})
    assert done["state"] == "completed"
    assert client.get(f"/api/v1/jobs/{job['id']}/logs").text == "ran\n"
    events = [
        e["action"]
        for e in client.get(
            "/api/v1/audit/events", params={"object_type": "job", "object_id": str(job["id"])}
        ).json()
    ]
    assert "job.requeue" in events


def test_a_crash_between_launch_and_record_adopts_the_running_processes(
    client, project, engine, clock, tmp_path, runner, monkeypatch
):
    job = submit(client, project, [PY, "-c", "import time; time.sleep(1); print('once')"]).json()

    def launch_and_forget(job_id):
        with make_sessionmaker(engine)() as db:
            record = db.get(Job, job_id)
            runner.executor.launch(
                job_id=job_id,
                attempt=record.attempt,
                slices=record.placement.pairs(),
                argv=record.command,
                env={},
                workdir="",
            )

    with monkeypatch.context() as patch:
        patch.setattr(runner, "_launch", launch_and_forget)  # launched, then the platform died
        runner.tick()
    reborn = LocalJobLoop(
        make_sessionmaker(engine), executor(tmp_path / "runs"), clock, grace_seconds=1
    )
    done = run_until(reborn, client, job["id"], {"completed", "failed"})
    assert done["state"] == "completed"
    assert done["attempt"] == 1
    events = [
        e["action"]
        for e in client.get(
            "/api/v1/audit/events", params={"object_type": "job", "object_id": str(job["id"])}
        ).json()
    ]
    assert events.count("job.start") == 1
    assert "job.adopt" in events
    assert client.get(f"/api/v1/jobs/{job['id']}/logs").text == "once\n"


def test_a_launched_slice_can_be_found_the_moment_the_launcher_returns(tmp_path):
    # A platform that dies right after launch() must find every slice on restart: the pid file
    # is written before the launcher returns, never a moment later.
    runs = executor(tmp_path / "runs")
    slices = [("node-a", (0, 1)), ("node-b", (2, 3))]
    for attempt in range(1, 6):
        _run_dir, started = runs.launch(
            job_id=7,
            attempt=attempt,
            slices=slices,
            argv=[PY, "-c", "import time; time.sleep(30)"],
            env={},
            workdir="",
        )
        found = runs.discover(job_id=7, attempt=attempt, slices=slices)
        try:
            assert [(s.pid, s.start_ticks) for s in found] == [
                (s.pid, s.start_ticks) for s in started
            ]
        finally:
            for item in started:
                runs.kill(item)
    for item in started:
        deadline = time.time() + 10
        while runs.poll(item) is None and time.time() < deadline:
            time.sleep(0.05)
        assert runs.poll(item) is not None


def test_a_relative_run_directory_works_as_the_default_settings_give_it(tmp_path, monkeypatch):
    # `aisc serve` defaults to var/runs, relative to where it was started; each slice runs in its
    # own directory, so its exit and log files must still land under the platform's var/runs.
    monkeypatch.chdir(tmp_path)
    runs = executor(Path("var") / "runs")
    _run_dir, (item,) = runs.launch(
        job_id=3, attempt=1, slices=[("node-a", (0,))], argv=[PY, "-c", "print('here')"],
        env={}, workdir="",
    )  # fmt: skip
    deadline = time.time() + 10
    while runs.poll(item) is None and time.time() < deadline:
        time.sleep(0.05)
    assert runs.poll(item) == 0
    assert (tmp_path / "var" / "runs" / "job-3" / "1-0.out").read_text() == "here\n"


def test_an_award_with_queued_work_is_not_closed(client, project):
    award = project.award_id
    job = submit(client, project, [PY, "-c", "pass"]).json()
    body = {"outcome": "terminated", "reason": "project abandoned"}
    queued = client.post(f"/api/v1/awards/{award}/close", json=body)
    assert queued.status_code == 409
    assert "1 queued or running job(s)" in queued.text
    client.post(f"/api/v1/jobs/{job['id']}/cancel")
    # Then the dedicated cards that fell due this month stand in the way, not the job.
    due = client.post(f"/api/v1/awards/{award}/close", json=body)
    assert due.status_code == 409
    assert "dedicated cards" in due.json()["detail"]["message"]
    assert client.get(f"/api/v1/awards/{award}").json()["status"] == "active"
