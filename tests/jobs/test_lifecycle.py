"""The job lifecycle: the transition table, and what a run's end means."""

from datetime import UTC, datetime

import pytest

from aisc.errors import Conflict
from aisc.jobs.lifecycle import (
    LOST,
    TRANSITIONS,
    Ending,
    can_move,
    local_ending,
    move,
    slurm_ending,
)
from aisc.jobs.models import FINISHED, Job, JobState, StopReason
from aisc.jobs.placement import Placement
from aisc.slurm.types import FINAL
from tests.conftest import Clock

P, R = JobState.PENDING, JobState.RUNNING


@pytest.fixture
def clock():
    return Clock(datetime(2025, 3, 10, 9, 0, tzinfo=UTC))  # inside the allocation's period


def test_every_state_has_a_row_and_a_finished_job_never_changes():
    assert set(TRANSITIONS) == set(JobState)
    for state in FINISHED:
        assert not any(can_move(state, to) for to in JobState)
    assert can_move(P, R)
    assert can_move(R, P)
    assert not can_move(P, P)
    assert not can_move(R, R)


@pytest.mark.parametrize(
    ("codes", "stop", "said", "ending"),
    [
        ([0, 0], StopReason.NONE, "", Ending(JobState.COMPLETED, "", 0)),
        ([0, 3], StopReason.NONE, "", Ending(JobState.FAILED, "exit code 3", 3)),
        ([137], StopReason.NONE, "", Ending(JobState.FAILED, "exit code 137", 137)),
        ([0, -1], StopReason.NONE, "", Ending(JobState.FAILED, LOST, None)),
        ([126], StopReason.NONE, "no sandbox", Ending(JobState.FAILED, "no sandbox", 126)),
        ([143], StopReason.CANCEL, "", Ending(JobState.CANCELLED, "cancelled while running", 143)),
        ([143], StopReason.WALLTIME, "", Ending(JobState.TIMEOUT, "walltime reached", 143)),
        ([-1], StopReason.WALLTIME, "", Ending(JobState.TIMEOUT, "walltime reached", None)),
        ([143], StopReason.PREEMPT, "", Ending(JobState.PENDING, "preempted; requeued")),
    ],
)
def test_a_local_runs_end(codes, stop, said, ending):
    assert local_ending(codes, stop, said) == ending


@pytest.mark.parametrize(
    ("word", "cancel_requested", "ran", "state", "reason"),
    [
        ("COMPLETED", False, True, JobState.COMPLETED, ""),
        ("FAILED", False, True, JobState.FAILED, "exit code 2"),
        ("TIMEOUT", False, True, JobState.TIMEOUT, "walltime reached"),
        ("CANCELLED", True, True, JobState.CANCELLED, "cancelled while running"),
        ("CANCELLED", True, False, JobState.CANCELLED, "cancelled"),
        ("CANCELLED", False, True, JobState.CANCELLED, "cancelled in Slurm"),
        ("NODE_FAIL", False, True, JobState.FAILED, "Slurm: node fail"),
        ("OUT_OF_MEMORY", False, True, JobState.FAILED, "Slurm: out of memory"),
    ],
)
def test_a_slurm_jobs_end(word, cancel_requested, ran, state, reason):
    assert word in FINAL
    ending = slurm_ending(word, 2, cancel_requested=cancel_requested, ran=ran)
    assert (ending.state, ending.reason, ending.exit_code) == (state, reason, 2)


def test_every_final_slurm_word_ends_a_job_in_a_final_state():
    for word in FINAL:
        assert slurm_ending(word, 0, cancel_requested=False, ran=True).state in FINISHED


def test_move_refuses_what_the_table_does_not_hold_and_changes_nothing(uow, client, project):
    job_id = client.post(
        "/api/v1/jobs",
        json={
            "award_id": project.award_id,
            "submitted_by_id": project.applicant,
            "partition": "training",
            "walltime_s": 60,
            "command": ["true"],
        },
    ).json()["id"]
    with uow() as ctx:
        job = ctx.db.get(Job, job_id)
        move(ctx, job, JobState.RUNNING, placement=Placement.of([("h800-000", (0,))]))
        move(ctx, job, JobState.COMPLETED, exit_code=0)
        assert (job.attempt, job.exit_code, job.placement.nodes) == (1, 0, ("h800-000",))
        with pytest.raises(Conflict, match="is completed; it cannot become running"):
            move(ctx, job, JobState.RUNNING)
        assert job.state is JobState.COMPLETED
        assert job.attempt == 1
    cancel = client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert cancel.status_code == 409
    assert cancel.json()["detail"]["field"] == "state"
    events = client.get(
        "/api/v1/audit/events", params={"object_type": "job", "object_id": str(job_id)}
    ).json()
    assert [e["action"] for e in events] == ["job.submit", "job.start", "job.finish"]


def test_job_counts_and_usage_are_read_through_the_matrix(uow, client, project):
    from dataclasses import replace

    from aisc.access import AccessDenied, Principal, Role
    from aisc.jobs.models import Backend
    from aisc.jobs.service import count_by_state
    from aisc.metering.service import used_gpu_seconds

    client.post(
        "/api/v1/jobs",
        json={
            "award_id": project.award_id,
            "submitted_by_id": project.applicant,
            "partition": "training",
            "walltime_s": 60,
            "command": ["true"],
        },
    )

    def person(person_id):
        return Principal(person_id, frozenset({Role.APPLICANT}), via="session", label="p")

    with uow() as ctx:
        assert count_by_state(ctx) == {JobState.PENDING: 1}
        assert count_by_state(ctx, backend=Backend.SLURM) == {}
        pi, stranger = (
            replace(ctx, principal=person(project.applicant)),
            replace(ctx, principal=person(project.other_pi)),
        )
        assert count_by_state(pi) == {JobState.PENDING: 1}
        assert count_by_state(stranger) == {}  # another project's jobs are out of reach
        assert used_gpu_seconds(pi, award_id=project.award_id) == 0
        with pytest.raises(AccessDenied):
            used_gpu_seconds(stranger, award_id=project.award_id)
