"""A job's lifecycle: the one transition table, and how a run's end becomes a job state.

Every change of ``Job.state`` goes through :func:`move` (the jobs service, the local loop and the
Slurm loop alike): it refuses a transition the table does not hold (``InvalidTransition``, a
``Conflict``), sets the timestamps the new state implies and appends the audit event. How a run
ended (exit codes, or Slurm's final state word) is turned into a state and a reason here and
nowhere else: :func:`local_ending` and :func:`slurm_ending`.

    pending --start--> running --exit / stop--> completed | failed | timeout | cancelled
       ^                  |
       +----requeue-------+   (preempted, a start interrupted, requeued in Slurm)

A pending job may also end without running: cancelled before it started, failed when it could
not be handed over or was lost, or any final state Slurm reports for a job whose start the
platform never saw (it ran between two looks). A finished job never changes again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aisc.access import authorize
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.errors import InvalidTransition
from aisc.jobs.models import FINISHED, Job, JobState, StopReason
from aisc.jobs.placement import NOWHERE, Placement

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.RUNNING} | FINISHED),
    JobState.RUNNING: frozenset({JobState.PENDING} | FINISHED),
    **{state: frozenset() for state in FINISHED},
}


# Who may move a job: its project cancels it (``job.cancel``); every other move is the running
# of the cluster, which the scheduler's and Slurm's loops do as the system (``cluster.manage``).
def _action(to: JobState) -> str:
    return "job.cancel" if to is JobState.CANCELLED else "cluster.manage"


LOST = "lost: its processes ended without an exit status (killed outside aisc?)"
REASON_LIMIT = 2000


def can_move(current: JobState, to: JobState) -> bool:
    return to in TRANSITIONS[current]


def move(
    ctx: Ctx,
    job: Job,
    to: JobState,
    *,
    reason: str = "",
    at: datetime | None = None,
    exit_code: int | None = None,
    placement: Placement | None = None,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Move ``job`` to ``to`` at ``at`` (default: now) and record it, or refuse.

    Entering ``running`` starts an attempt (``placement`` says where); going back to ``pending``
    releases the placement; a final state sets the end and the exit code. Leaving ``running``
    forgets any stop request. ``action`` names the audit event (``job.start``, ``job.requeue``,
    ``job.finish`` by default) and ``detail`` adds to what it records.
    """
    authorize(ctx, _action(to))
    before = job.state
    if not can_move(before, to):
        raise InvalidTransition(
            f"job {job.id} is {before.value}; it cannot become {to.value}", field="state"
        )
    when = at or ctx.now
    job.state, job.reason = to, reason[:REASON_LIMIT]
    if placement is not None:
        job.placement = placement
    after: dict[str, Any] = {"state": to, "reason": job.reason}
    if to is JobState.RUNNING:
        job.attempt += 1
        job.started_at, job.estimated_start = when, None
        after.update(placement=job.placement.as_json(), attempt=job.attempt)
        default = "job.start"
    else:
        job.stop_reason, job.stop_requested_at = StopReason.NONE, None
        if to is JobState.PENDING:
            job.started_at, job.placement = None, NOWHERE
            default = "job.requeue"
        else:
            job.ended_at, job.exit_code = when, exit_code
            after["exit_code"] = exit_code
            default = "job.finish"
    record(
        ctx,
        action=action or default,
        object_type="job",
        object_id=job.id,
        before={"state": before},
        after={**after, **(detail or {})},
    )


def request_stop(ctx: Ctx, job: Job, why: StopReason, **detail: Any) -> None:
    """Note that the platform asked a running (or handed-over) job to stop, and why."""
    authorize(ctx, "job.cancel" if why is StopReason.CANCEL else "cluster.manage")
    job.stop_reason, job.stop_requested_at = why, ctx.now
    record(ctx, action=f"job.stop.{why.value}", object_type="job", object_id=job.id, after=detail)


@dataclass(frozen=True)
class Ending:
    """What a run's end means for its job: the state it goes to, why, and its exit code."""

    state: JobState
    reason: str = ""
    exit_code: int | None = None


def local_ending(codes: list[int], stop: StopReason, said: str = "") -> Ending:
    """The end of a local run from its slices' exit codes (-1: vanished without one; a signal
    is reported as 128 + its number), the stop the platform had asked for, and what the wrapper
    said beyond the code (why a sandbox could not be set up)."""
    if stop is StopReason.PREEMPT:
        return Ending(JobState.PENDING, "preempted; requeued")
    lost = any(code == -1 for code in codes)
    exit_code = next((code for code in codes if code != 0), 0)
    code = None if lost else exit_code
    if stop is StopReason.CANCEL:
        return Ending(JobState.CANCELLED, "cancelled while running", code)
    if stop is StopReason.WALLTIME:
        return Ending(JobState.TIMEOUT, "walltime reached", code)
    if lost:
        return Ending(JobState.FAILED, LOST)
    if said:
        return Ending(JobState.FAILED, said, code)
    if exit_code == 0:
        return Ending(JobState.COMPLETED, "", 0)
    return Ending(JobState.FAILED, f"exit code {exit_code}", exit_code)


# Slurm's final state words that are not failures; every other final word is one (the words
# themselves: ``aisc.slurm.types.FINAL``).
_SLURM_NOT_FAILED = {
    "COMPLETED": JobState.COMPLETED,
    "TIMEOUT": JobState.TIMEOUT,
    "CANCELLED": JobState.CANCELLED,
}


def slurm_ending(word: str, exit_code: int | None, *, cancel_requested: bool, ran: bool) -> Ending:
    """The end of a Slurm job from its final state word in accounting."""
    state = _SLURM_NOT_FAILED.get(word, JobState.FAILED)
    if state is JobState.COMPLETED:
        return Ending(state, "", exit_code)
    if state is JobState.CANCELLED:
        if not cancel_requested:
            return Ending(state, "cancelled in Slurm", exit_code)
        return Ending(state, "cancelled while running" if ran else "cancelled", exit_code)
    if state is JobState.TIMEOUT:
        return Ending(state, "walltime reached", exit_code)
    if word == "FAILED":
        return Ending(state, f"exit code {exit_code}", exit_code)
    return Ending(state, f"Slurm: {word.lower().replace('_', ' ')}", exit_code)
