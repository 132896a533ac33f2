"""A local job's usage ends when its processes did, however late the loop looks."""

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aisc.db.engine import make_sessionmaker
from aisc.executors.local import load_slices, read_exit
from aisc.jobs.models import Job
from aisc.scheduling.loop import LocalJobLoop, run_end
from tests.jobs.isolation import executor

PY = sys.executable
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


class SteppedClock:
    """Real speed, inside the allocation's period, and moved on by the test (a slow loop, an
    outage)."""

    def __init__(self) -> None:
        self.origin = time.time()
        self.skipped = 0.0

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=time.time() - self.origin + self.skipped)

    def advance(self, seconds: float) -> None:
        self.skipped += seconds


@pytest.fixture
def clock():
    return SteppedClock()


def _loop(engine, clock, tmp_path):
    return LocalJobLoop(
        make_sessionmaker(engine), executor(tmp_path / "runs"), clock, grace_seconds=1
    )


def _start_sleeper(client, project, loop, engine):
    job = client.post(
        "/api/v1/jobs",
        json={
            "award_id": project.award_id,
            "submitted_by_id": project.applicant,
            "partition": "training",
            "gpus_per_node": 2,
            "walltime_s": 600,
            "command": [PY, "-c", "import time; time.sleep(1)"],
        },
    ).json()
    loop.tick()
    with make_sessionmaker(engine)() as db:
        (item,) = load_slices(db.get(Job, job["id"]).processes)
    return job["id"], item


def _wait_for_exit(item, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = read_exit(Path(item.exit_file))
        if found.ended is not None:
            return found
        time.sleep(0.05)
    raise AssertionError("the job did not end")


def _usage(client, job_id):
    (usage,) = client.get("/api/v1/usage", params={"job_id": job_id}).json()
    return usage["gpu_seconds"]


def test_a_short_job_is_metered_by_its_run_time_not_the_loops_tick(
    client, project, engine, clock, tmp_path
):
    loop = _loop(engine, clock, tmp_path)
    job_id, item = _start_sleeper(client, project, loop, engine)
    ran = _wait_for_exit(item)
    clock.advance(20)  # the loop's next look comes 20 s later
    assert loop.tick().finished == 1
    length = ran.ended - ran.started
    assert 1 <= length < 3
    # 2 GPUs x ~1 s: not 2 x 21 s.
    assert abs(_usage(client, job_id) - 2 * length) <= 1
    job = client.get(f"/api/v1/jobs/{job_id}").json()
    assert job["state"] == "completed"
    took = datetime.fromisoformat(job["ended_at"]) - datetime.fromisoformat(job["started_at"])
    assert abs(took.total_seconds() - length) < 0.01


def test_a_job_that_ends_while_the_platform_is_down_is_metered_by_its_run_time(
    client, project, engine, clock, tmp_path
):
    loop = _loop(engine, clock, tmp_path)
    job_id, item = _start_sleeper(client, project, loop, engine)
    del loop  # the platform goes down
    ran = _wait_for_exit(item)
    clock.advance(40)  # and comes back 40 s later
    reborn = _loop(engine, clock, tmp_path)
    assert reborn.tick().finished == 1
    gpu_seconds = _usage(client, job_id)
    assert abs(gpu_seconds - 2 * (ran.ended - ran.started)) <= 1
    assert gpu_seconds < 2 * 40
    events = client.get(
        "/api/v1/audit/events", params={"object_type": "job", "object_id": str(job_id)}
    ).json()
    finish = next(json.loads(e["after"]) for e in events if e["action"] == "job.finish")
    assert finish["gpu_seconds"] == gpu_seconds


@pytest.mark.parametrize(
    ("spans", "ends_after"),
    [
        ([(100.0, 103.5)], 3.5),  # the process's own length
        ([(100.0, 102.0), (100.5, 104.0)], 4.0),  # first start to last end
        ([(100.0, 102.0), None], 60.0),  # a slice vanished: now
        ([], 60.0),
        ([(100.0, 400.0)], 60.0),  # never after now
        ([(100.0, 99.0)], 0.0),  # never before the start
    ],
)
def test_the_run_ends_at_the_processes_exit_clamped_to_start_and_now(spans, ends_after):
    ended = run_end(T0, T0 + timedelta(seconds=60), spans)
    assert ended == T0 + timedelta(seconds=ends_after)


def test_usage_ends_when_the_process_did_however_long_the_start_took(
    client, project, engine, clock, tmp_path
):
    """The pass chooses the job, then its launch comes 5 s later (a slow pass, the launches
    before it, a crash in between): the run and its usage start at the launch, so the usage
    ends when the process did, not 5 s before."""
    loop = _loop(engine, clock, tmp_path)
    launch = loop.executor.launch

    def slow_launch(**kwargs):
        clock.advance(5)
        return launch(**kwargs)

    loop.executor.launch = slow_launch
    job_id, item = _start_sleeper(client, project, loop, engine)
    ran = _wait_for_exit(item)
    assert loop.tick().finished == 1
    (usage,) = client.get("/api/v1/usage", params={"job_id": job_id}).json()
    # The wrapper's end on the loop's clock (real speed, moved on by the 5 s).
    offset = T0.timestamp() - clock.origin + clock.skipped
    ended = datetime.fromisoformat(usage["ended_at"]).timestamp()
    assert abs(ended - (ran.ended + offset)) < 0.5
    started = datetime.fromisoformat(usage["started_at"]).timestamp()
    assert abs(started - (ran.started + offset)) < 0.5
    assert abs(usage["gpu_seconds"] - 2 * (ran.ended - ran.started)) <= 1


def test_a_job_that_ends_while_the_tick_runs_is_metered_to_its_end(
    client, project, engine, clock, tmp_path
):
    """The tick begins while the job still runs and polls it only after it ended (a slow tick
    over many jobs): its usage ends when the process did, not when the tick began."""
    loop = _loop(engine, clock, tmp_path)
    job_id, item = _start_sleeper(client, project, loop, engine)
    poll = loop.executor.poll

    def slow_poll(slice_):
        _wait_for_exit(slice_)
        return poll(slice_)

    loop.executor.poll = slow_poll
    assert loop.tick().finished == 1
    ran = read_exit(Path(item.exit_file))
    (usage,) = client.get("/api/v1/usage", params={"job_id": job_id}).json()
    offset = T0.timestamp() - clock.origin + clock.skipped
    ended = datetime.fromisoformat(usage["ended_at"]).timestamp()
    assert abs(ended - (ran.ended + offset)) < 0.5
