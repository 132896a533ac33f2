"""The I/O around the scheduling core, for the local executor.

All job state lives in the database; each tick is two transactions:
1. watch running jobs: collect exit codes, enforce walltimes and cancellations (SIGTERM, then
   SIGKILL after the grace period), requeue preempted jobs, record usage for finished ones;
   commit;
2. build the core's state from the database, call ``aisc.scheduling.core.schedule``;
3. act on its decisions: store start-time estimates, then mark the jobs it starts as running on
   the GPUs it chose and ask preempted jobs to stop; commit, and start the processes.

Two transactions, and the estimates before the starts, because a transaction that writes an
audit event holds the audit head until it commits, and every API change (a submission) waits for
it: the head is taken as late as possible and held for as short a time as possible (not through
the scheduling pass).

The worker runs this loop only while it holds the leader lease, and every transaction here comes
from the lease's fenced session factory (``aisc.db.lease``): a tick or a start begun by a worker
that lost the lease raises ``LeaseLost`` before it changes anything. Processes are started inside
such a transaction (``_launch``), so only the leader starts them.

The loop survives restarts: a job whose processes still run is simply watched again (the exit
files tell how it ended); one whose processes vanished without an exit code is marked failed with
the reason. A job is started only inside a committed transaction that records its processes, so
no job is lost or started twice.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aisc.allocations.binding import bind_dedicated
from aisc.applications.models import RequestKind
from aisc.audit.service import record
from aisc.awards.models import Award
from aisc.cluster.models import Node, NodeState, Partition
from aisc.context import Ctx
from aisc.db.engine import transaction
from aisc.db.lease import LeaseLost
from aisc.executors.local import LocalExecutor, Slice, dump_slices, load_slices
from aisc.executors.sandbox import SandboxError
from aisc.jobs.lifecycle import local_ending, move, request_stop
from aisc.jobs.models import Job, JobQos, JobState, StopReason
from aisc.jobs.placement import NOWHERE, Placement
from aisc.metering.service import record_usage, used_gpu_seconds
from aisc.metrics import scheduling_pass_histogram
from aisc.scheduling import core

log = logging.getLogger(__name__)
QOS = {
    JobQos.SCAVENGER: core.Qos.SCAVENGER,
    JobQos.OVERBURN: core.Qos.OVERBURN,
    JobQos.STANDARD: core.Qos.STANDARD,
    JobQos.HERO: core.Qos.HERO,
    JobQos.DEBUG: core.Qos.DEBUG,
}


@dataclass
class Counters:
    """Totals since the runner started (exported on /metrics)."""

    ticks: int = 0
    started: int = 0
    finished: int = 0
    preempted: int = 0


@dataclass
class TickStats:
    started: int = 0
    finished: int = 0
    preempted: int = 0
    pending: int = 0
    running_gpus: int = 0
    seconds: float = 0.0


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def run_end(
    started_at: datetime, now: datetime, spans: list[tuple[float, float] | None]
) -> datetime:
    """When a local job's run ended, by its processes' own times, not by when the loop looked.

    ``spans`` are the slices' (start, end) as their wrappers recorded them. The run lasted from
    the first start to the last end; that length, measured by one clock, is laid from the job's
    start on the loop's clock (the two clocks may differ: a test's, another host's). Without
    every slice's times (one vanished) the run ends now. Never before the start, never after
    now.
    """
    if spans and all(span is not None for span in spans):
        known = [span for span in spans if span is not None]
        length = max(end for _, end in known) - min(start for start, _ in known)
        ended = started_at + timedelta(seconds=max(0.0, length))
    else:
        ended = now
    return min(max(ended, started_at), now)


def lock_queue(db: Session) -> frozenset[int]:
    """Lock every pending and running job (in id order) before the tick changes any; their ids.

    A tick writes audit events (a job finished, started, preempted) and updates many jobs (the
    estimates of the pending ones). An API request that changes a job (a cancel) locks the job,
    then the audit head. Were the tick to hold the head while waiting for that job, PostgreSQL
    would find a deadlock and abort one of them; taking the jobs first gives every transaction
    the same order (jobs, then the head). Jobs committed after this lock wait for the next
    tick. SQLite (one writer at a time) ignores the clause.
    """
    return frozenset(
        db.execute(
            select(Job.id)
            .where(Job.state.in_((JobState.PENDING, JobState.RUNNING)))
            .order_by(Job.id)
            .with_for_update()
        ).scalars()
    )


class LocalJobLoop:
    def __init__(
        self,
        factory: sessionmaker[Session],
        executor: LocalExecutor,
        clock: Callable[[], datetime],
        *,
        policy: core.Policy | None = None,
        grace_seconds: int = 10,
    ) -> None:
        self.factory = factory
        self.executor = executor
        self.clock = clock
        self.policy = policy or core.Policy(grace_seconds=grace_seconds)
        self.grace = timedelta(seconds=grace_seconds)
        self.last = TickStats()
        self.totals = Counters()
        self.pass_seconds = scheduling_pass_histogram()  # registered by the app (/metrics)
        self._to_launch: list[int] = []
        self._queue: frozenset[int] = frozenset()

    def tick(self) -> TickStats:
        began = time.perf_counter()
        stats = TickStats()
        self._to_launch = []
        with transaction(self.factory) as db:
            ctx = Ctx(db=db, now=self.clock(), actor="scheduler")
            self._queue = lock_queue(db)
            stats.finished = self._follow_running(ctx)
        with transaction(self.factory) as db:
            ctx = Ctx(db=db, now=self.clock(), actor="scheduler")
            self._queue = lock_queue(db)
            self._schedule(ctx, stats)
        # Started jobs are committed as running first, launched after: a crash in between leaves
        # a running job without processes, which the next tick adopts (pid files) or requeues.
        for job_id in self._to_launch:
            self._launch(job_id)
        stats.seconds = time.perf_counter() - began
        self.last = stats
        self.totals.ticks += 1
        self.totals.started += stats.started
        self.totals.finished += stats.finished
        self.totals.preempted += stats.preempted
        return stats

    # --- running jobs ---------------------------------------------------------------------

    def _follow_running(self, ctx: Ctx) -> int:
        """Follow every running job, each in a savepoint of its own: an error with one job
        rolls back only that job's change, fails it with the reason, and the others go on."""
        finished = 0
        for job in list(ctx.db.execute(select(Job).where(Job.state == JobState.RUNNING)).scalars()):
            try:
                with ctx.db.begin_nested():
                    finished += self._follow_one(ctx, job)
            except Exception as exc:
                log.exception("job %s could not be followed", job.id)
                with ctx.db.begin_nested():
                    ctx.db.refresh(job)
                    with contextlib.suppress(Exception):
                        for item in load_slices(job.processes):
                            self.executor.kill(item)
                    self._end_without_exit(
                        ctx, job, JobState.FAILED, f"the platform could not follow it: {exc}"
                    )
                    finished += 1
        return finished

    def _follow_one(self, ctx: Ctx, job: Job) -> int:
        if not job.processes:
            if self._recover_start(ctx, job):
                return 0
            if not job.processes:
                return 0
        slices = load_slices(job.processes)
        codes = [self.executor.poll(s) for s in slices]
        if all(code is not None for code in codes):
            self._finish(ctx, job, [c for c in codes if c is not None], slices)
            return 1
        assert job.started_at is not None
        if job.stop_reason is StopReason.NONE:
            if job.cancel_requested:
                self._stop(ctx, job, StopReason.CANCEL)
            elif ctx.now >= job.started_at + timedelta(seconds=job.walltime_s):
                self._stop(ctx, job, StopReason.WALLTIME)
        elif job.stop_requested_at and ctx.now >= job.stop_requested_at + self.grace:
            for item, code in zip(slices, codes, strict=True):
                if code is None:
                    self.executor.kill(item)
        return 0

    def _end_without_exit(self, ctx: Ctx, job: Job, state: JobState, why: str) -> None:
        """End a job that has no exit code to report: failed (the platform could not follow
        it) or cancelled (before it ran)."""
        move(ctx, job, state, reason=why, placement=NOWHERE)

    def _stop(self, ctx: Ctx, job: Job, why: StopReason) -> None:
        for item in load_slices(job.processes):
            self.executor.terminate(item)
        request_stop(ctx, job, why)

    def _finish(self, ctx: Ctx, job: Job, codes: list[int], slices: list[Slice]) -> None:
        assert job.started_at is not None
        said = next((r for r in map(self.executor.reason, slices) if r), "")
        ending = local_ending(codes, job.stop_reason, said)
        # Bounded by the clock now, after the poll, not by the tick's start: a process that
        # ended while this tick ran ended after ``ctx.now``.
        ended = run_end(job.started_at, self.clock(), [self.executor.run_span(s) for s in slices])
        gpu_seconds = round(
            job.nodes * job.gpus_per_node * (ended - job.started_at).total_seconds()
        )
        record_usage(
            ctx,
            key=f"local:job:{job.id}:attempt:{job.attempt}",
            source="local",
            job_id=job.id,
            award_id=job.award_id,
            gpu_model=job.gpu_model_code,
            gpu_seconds=gpu_seconds,
            started_at=job.started_at,
            ended_at=ended,
        )
        move(
            ctx,
            job,
            ending.state,
            reason=ending.reason,
            at=ended,
            exit_code=ending.exit_code,
            placement=NOWHERE,
            detail={"gpu_seconds": gpu_seconds},
        )

    # --- scheduling -------------------------------------------------------------------------

    def _schedule(self, ctx: Ctx, stats: TickStats) -> None:
        partitions = {p.id: p.name for p in ctx.db.execute(select(Partition)).scalars()}
        today = ctx.now.date()
        nodes = [
            n
            for n in ctx.db.execute(select(Node).order_by(Node.name)).scalars()
            if n.installed_on <= today and (n.retired_on is None or n.retired_on > today)
        ]
        running = list(ctx.db.execute(select(Job).where(Job.state == JobState.RUNNING)).scalars())
        pending = []
        for job in ctx.db.execute(
            select(Job).where(Job.state == JobState.PENDING).order_by(Job.id)
        ).scalars():
            if job.id not in self._queue:  # submitted during this tick: the next one sees it
                continue
            if job.cancel_requested:  # asked to stop while it ran, then requeued
                self._end_without_exit(ctx, job, JobState.CANCELLED, "cancelled while requeued")
            else:
                pending.append(job)
        stats.pending = len(pending)
        reserved = self._bind_dedicated(ctx, nodes, running)
        if not pending:
            stats.running_gpus = sum(j.nodes * j.gpus_per_node for j in running)
            return
        by_id = {j.id: j for j in pending + running}
        state = core.State(
            now=_epoch(ctx.now),
            nodes=tuple(
                core.Node(
                    n.name,
                    n.gpu_count,
                    partitions[n.partition_id],
                    n.gpu_model_code,
                    leaf=n.leaf_switch,
                    available=n.state is NodeState.UP,
                    reserved_for=reserved.get(n.name),
                )
                for n in nodes
            ),
            running=tuple(
                core.Running(
                    self._core_job(j, partitions),
                    _epoch(j.started_at),
                    tuple((slot.node, len(slot.gpus)) for slot in j.placement),
                )
                for j in running
                if j.started_at is not None
            ),
            pending=tuple(self._core_job(j, partitions) for j in pending),
            projects=self._projects(ctx, {j.award_id for j in by_id.values()}, running),
        )
        with self.pass_seconds.time():
            decisions = core.schedule(state, self.policy)
        used: dict[str, set[int]] = defaultdict(set)
        for job in running:
            for slot in job.placement:
                used[slot.node].update(slot.gpus)
        capacity = {n.name: n.gpu_count for n in nodes}
        # The estimates of the jobs that stay pending, written before the first audit event
        # (see the module docstring).
        starting = {start.job_id for start in decisions.starts}
        for job in pending:
            if job.id in starting:
                continue
            estimate = decisions.estimates.get(job.id)
            job.estimated_start = (
                datetime.fromtimestamp(estimate, ctx.now.tzinfo) if estimate is not None else None
            )
            job.reason = (
                decisions.refused.get(job.id)
                or decisions.held.get(job.id)
                or (job.reason if job.reason.startswith("preempted") else "")
            )
        ctx.db.flush()
        for start in decisions.starts:
            self._start(ctx, by_id[start.job_id], start.placement, used, capacity)
            stats.started += 1
        for job_id in decisions.preemptions:
            self._stop(ctx, by_id[job_id], StopReason.PREEMPT)
            stats.preempted += 1
        stats.running_gpus = sum(
            j.nodes * j.gpus_per_node for j in by_id.values() if j.state is JobState.RUNNING
        )

    def _bind_dedicated(self, ctx: Ctx, nodes: list[Node], running: list[Job]) -> dict[str, str]:
        """Hold whole nodes for active dedicated allocations; node name -> project."""
        busy_by: dict[str, set[int]] = defaultdict(set)
        for job in running:
            for node in job.placement.nodes:
                busy_by[node].add(job.award_id)
        return bind_dedicated(ctx, nodes, busy_by)

    def _launch(self, job_id: int) -> None:
        """Start the processes of a job already committed as running, then record them.

        A job that cannot be started (a working directory that is not there, a refused
        variable, a sandbox that cannot be set up) fails at once with the reason: it is never
        put back in the queue to fail again, and it never stops the other jobs' starts.
        """
        try:
            with transaction(self.factory) as db:
                job = db.get(Job, job_id)
                if job is None or job.state is not JobState.RUNNING or job.processes:
                    return
                award = db.get(Award, job.award_id)
                _run_dir, started = self.executor.launch(
                    job_id=job.id,
                    attempt=job.attempt,
                    slices=job.placement.pairs(),
                    argv=job.command,
                    env=job.environment,
                    workdir=job.workdir,
                    project_id=award.application_id if award else 0,
                )
                job.processes = dump_slices(started)
                # The run starts now, not when the pass chose it: the pass, the launches before
                # this one and a crash in between all come first. Usage is laid from this moment
                # by the processes' own length (``run_end``), so it ends when they ended.
                assert job.started_at is not None
                job.started_at = max(job.started_at, self.clock())
        except SandboxError as exc:
            self._fail_start(job_id, str(exc))
        except LeaseLost:  # another worker leads now: the job is its to start (or requeue)
            raise
        except Exception as exc:
            log.exception("job %s could not be started", job_id)
            self._fail_start(job_id, f"{type(exc).__name__}: {exc}")

    def _fail_start(self, job_id: int, why: str) -> None:
        with transaction(self.factory) as db:
            job = db.get(Job, job_id)
            if job is None or job.state is not JobState.RUNNING or job.processes:
                return
            ctx = Ctx(db=db, now=self.clock(), actor="scheduler")
            self._end_without_exit(ctx, job, JobState.FAILED, f"could not be started: {why}")

    def _recover_start(self, ctx: Ctx, job: Job) -> bool:
        """A running job with no recorded processes: the platform stopped while starting it.

        Adopt its slices if all of them are found through their pid files; otherwise stop any
        that did start (all or nothing) and put the job back in the queue. Returns True when the
        job was requeued.
        """
        slices = job.placement.pairs()
        found = self.executor.discover(job_id=job.id, attempt=job.attempt, slices=slices)
        if slices and len(found) == len(slices):
            job.processes = dump_slices(found)
            record(ctx, action="job.adopt", object_type="job", object_id=job.id)
            return False
        for item in found:
            self.executor.kill(item)
        if job.cancel_requested:
            self._end_without_exit(ctx, job, JobState.CANCELLED, "cancelled while starting")
            return True
        move(ctx, job, JobState.PENDING, reason="start interrupted; requeued")
        return True

    @staticmethod
    def _core_job(job: Job, partitions: dict[int, str]) -> core.Job:
        return core.Job(
            id=job.id,
            seq=job.id,
            project=str(job.award_id),
            partition=partitions[job.partition_id],
            gpu_model=job.gpu_model_code,
            nodes=job.nodes,
            gpus_per_node=job.gpus_per_node,
            walltime=job.walltime_s,
            submit_time=_epoch(job.submitted_at),
            qos=QOS[job.qos],
            preemptible=job.preemptible,
        )

    def _projects(
        self, ctx: Ctx, award_ids: set[int], running: list[Job]
    ) -> dict[str, core.Project]:
        projects = {}
        for award_id in sorted(award_ids):
            award = ctx.db.get(Award, award_id)
            if award is None:
                continue
            period = max((award.end_date - award.start_date).days, 1) * 86_400
            total = (
                (award.gpu_cards or 0) * period
                if award.kind is RequestKind.DEDICATED
                else (award.gpu_hours or 0) * 3600
            )
            used = used_gpu_seconds(ctx, award_id=award_id)
            elapsed = min(max((ctx.now.date() - award.start_date).days * 86_400, 0), period)
            budget = None
            cap = award.gpu_cards if award.kind is RequestKind.DEDICATED else None
            if award.kind is RequestKind.POOLED:
                held = sum(
                    j.nodes * j.gpus_per_node * j.walltime_s
                    for j in running
                    if j.award_id == award_id
                )
                budget = total - used - held
            projects[str(award_id)] = core.Project(
                name=str(award_id),
                share=total / period,
                usage=float(used),
                planned=elapsed / period,
                used=used / total if total else 0.0,
                budget_gpu_seconds=budget,
                max_gpus=cap,
            )
        return projects

    def _start(
        self,
        ctx: Ctx,
        job: Job,
        placement: tuple[tuple[str, int], ...],
        used: dict[str, set[int]],
        capacity: dict[str, int],
    ) -> None:
        slices = []
        for node, count in placement:
            free = [g for g in range(capacity[node]) if g not in used[node]][:count]
            used[node].update(free)
            slices.append((node, tuple(free)))
        job.run_dir = str(self.executor.run_root / f"job-{job.id}")
        job.processes = []
        move(ctx, job, JobState.RUNNING, placement=Placement.of(slices))
        self._to_launch.append(job.id)
