"""Replaying a job trace through the scheduling core, in simulated time.

A discrete-event simulation: job arrivals and ends are events (ends first at equal times, then
by sequence), each instant with events gets a scheduling pass of ``aisc.scheduling.core`` (the
same code the local executor runs), and jobs start where the core places them and run for their
true duration (or until their requested walltime, when the trace gives one). No second
scheduler: the policies are settings of the core.

- ``fifo``: strict arrival order, nothing starts past the first job that cannot;
- ``fifo-backfill``: arrival order with EASY backfill (later jobs start if they end, by their
  walltime, before the first blocked job's reservation);
- ``aisc``: the platform's policy: fair share by project, age, EASY backfill, best fit, gang.

What a policy knows of a job is what a real scheduler knows at submit time: its shape and its
walltime request. Traces without walltime requests (Philly) get an estimate from history: twice
the mean duration of the project's last 20 finished jobs (1 hour before it has any), between 1
minute and 7 days; a job that outlives its estimate is not stopped. The true duration is used
only to end the job.

Event passes look at the first ``depth`` jobs of the priority order kept from the last full
pass; a full pass (re-ordering everything) runs every ``full_pass_s`` simulated seconds. Every
choice is deterministic: the same trace and settings give the same result.
"""

from __future__ import annotations

import heapq
import statistics
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aisc.scheduling import core
from aisc.scheduling.core.priority import order
from aisc.simulate.traces import TraceJob

POLICIES: dict[str, core.Policy] = {
    "fifo": core.Policy(
        fairshare_weight=0, pacing_weight=0, qos_weight=0, age_weight=1.0,
        max_age=10**12, backfill=False, estimate_depth=0,
    ),
    "fifo-backfill": core.Policy(
        fairshare_weight=0, pacing_weight=0, qos_weight=0, age_weight=1.0,
        max_age=10**12, backfill=True, estimate_depth=0,
    ),
    "aisc": core.Policy(pacing_weight=0, estimate_depth=0),
}  # fmt: skip
HISTORY = 20
MIN_ESTIMATE, MAX_ESTIMATE, FIRST_ESTIMATE = 60, 7 * 86_400, 3_600
USAGE_HALF_LIFE = 7 * 86_400
PARTITION, MODEL = "sim", "gpu"
END, ARRIVAL = 0, 1


@dataclass(frozen=True)
class ClusterShape:
    nodes: int = 64
    gpus_per_node: int = 8

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node


@dataclass
class JobsResult:
    policy: str
    jobs: int
    completed: int = 0
    rejected: int = 0  # shapes the cluster can never hold
    waits: list[int] = field(default_factory=list)
    submits: list[int] = field(default_factory=list)  # the submit time of each wait's job
    jcts: list[int] = field(default_factory=list)
    slowdown_by_project: dict[str, list[float]] = field(default_factory=dict)
    wait_by_project: dict[str, list[int]] = field(default_factory=dict)
    busy_gpu_seconds: int = 0
    idle_while_waiting_gpu_seconds: int = 0
    span: int = 0
    hourly_busy: list[float] = field(default_factory=list)  # mean GPUs held per hour
    passes: int = 0
    events: int = 0

    def summary(self, gpus: int) -> dict[str, object]:
        jain = _jain([statistics.fmean(v) for v in self.slowdown_by_project.values() if v])
        return {
            "policy": self.policy,
            "jobs": self.jobs,
            "completed": self.completed,
            "rejected": self.rejected,
            "queueing_delay_s": _stats(self.waits),
            "completion_time_s": _stats(self.jcts),
            "allocation_pct": round(100 * self.busy_gpu_seconds / (gpus * self.span), 2)
            if self.span
            else 0.0,
            "idle_gpus_while_jobs_wait": round(self.idle_while_waiting_gpu_seconds / self.span, 2)
            if self.span
            else 0.0,
            "fairness_jain_slowdown": round(jain, 4),
            "queueing_delay_by_project_s": {
                p: round(statistics.fmean(v), 1) for p, v in sorted(self.wait_by_project.items())
            },
            "hourly_allocation_pct": [round(100 * b / gpus, 2) for b in self.hourly_busy],
            "scheduling_passes": self.passes,
            "events": self.events,
        }


def _stats(values: Sequence[int]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p99": 0.0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])

    return {
        "mean": round(statistics.fmean(ordered), 1),
        "p50": pick(0.5),
        "p99": pick(0.99),
    }


def _jain(values: Sequence[float]) -> float:
    if not values:
        return 1.0
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


class _Estimator:
    """Walltime a policy plans with: the request, or an estimate from the project's history."""

    def __init__(self) -> None:
        self.history: dict[str, deque[int]] = defaultdict(lambda: deque(maxlen=HISTORY))

    def walltime(self, job: TraceJob) -> int:
        if job.walltime is not None:
            return job.walltime
        seen = self.history.get(job.project)
        if not seen:
            return FIRST_ESTIMATE
        return max(MIN_ESTIMATE, min(MAX_ESTIMATE, 2 * sum(seen) // len(seen)))

    def finished(self, job: TraceJob, ran: int) -> None:
        self.history[job.project].append(ran)


def run_jobs(
    trace: Sequence[TraceJob],
    *,
    policy: str,
    cluster: ClusterShape = ClusterShape(),
    depth: int = 256,
    full_pass_s: int = 600,
    progress: Callable[[int, int], None] | None = None,
) -> JobsResult:
    """Replay ``trace`` under ``policy``; see the module docstring."""
    settings = POLICIES[policy]
    names = [f"n{i:04d}" for i in range(cluster.nodes)]
    nodes = tuple(core.Node(n, cluster.gpus_per_node, PARTITION, MODEL) for n in names)
    free = dict.fromkeys(names, cluster.gpus_per_node)
    result = JobsResult(policy=policy, jobs=len(trace))
    estimator = _Estimator()
    by_id = dict(enumerate(trace))
    events: list[tuple[int, int, int, int]] = [
        (job.submit, ARRIVAL, index, index) for index, job in by_id.items()
    ]
    heapq.heapify(events)
    pending: dict[int, core.Job] = {}
    kept: list[core.Job] = []  # priority order from the last full pass (+ later arrivals)
    running: dict[int, core.Running] = {}
    started_at: dict[int, int] = {}
    usage: dict[str, float] = defaultdict(float)
    demand: dict[str, int] = defaultdict(int)
    for job in trace:
        demand[job.project] += job.gpus * job.duration
    shares = {p: d / cluster.gpus for p, d in demand.items()}
    busy, last_time, last_full, last_decay = 0, trace[0].submit if trace else 0, None, 0
    start_time = last_time
    hour_start, hour_area = start_time, 0
    done = 0
    seq = len(trace)
    while events:
        now = events[0][0]
        # Time passes: account GPUs held and GPUs idle while jobs wait.
        span = now - last_time
        if span > 0:
            waiting = bool(pending)
            result.busy_gpu_seconds += busy * span
            if waiting:
                result.idle_while_waiting_gpu_seconds += (cluster.gpus - busy) * span
            while now >= hour_start + 3600:
                part = hour_start + 3600 - last_time
                hour_area += busy * part
                result.hourly_busy.append(hour_area / 3600)
                hour_start += 3600
                last_time, hour_area = hour_start, 0
            hour_area += busy * (now - last_time)
            last_time = now
        while events and events[0][0] == now:
            _, kind, _, index = heapq.heappop(events)
            result.events += 1
            job = by_id[index]
            if kind == END:
                run = running.pop(index)
                for name, gpus in run.placement:
                    free[name] += gpus
                busy -= job.gpus
                ran = now - run.start
                usage[job.project] += job.gpus * ran
                estimator.finished(job, ran)
                wait = run.start - job.submit
                result.completed += 1
                result.waits.append(wait)
                result.submits.append(job.submit)
                result.jcts.append(now - job.submit)
                result.wait_by_project.setdefault(job.project, []).append(wait)
                result.slowdown_by_project.setdefault(job.project, []).append(
                    (now - job.submit) / max(job.duration, 60)
                )
                done += 1
            else:
                core_job = core.Job(
                    id=index,
                    seq=index,
                    project=job.project,
                    partition=PARTITION,
                    gpu_model=MODEL,
                    nodes=job.nodes,
                    gpus_per_node=job.gpus_per_node,
                    walltime=estimator.walltime(job),
                    submit_time=job.submit,
                )
                pending[index] = core_job
                kept.append(core_job)
        if not pending:
            continue
        if max(free.values()) == 0:
            continue  # nothing can start until a job ends
        projects = None
        if settings.fairshare_weight:
            if now - last_decay >= 3600:
                factor = 0.5 ** ((now - last_decay) / USAGE_HALF_LIFE)
                for name in usage:
                    usage[name] *= factor
                last_decay = now
            projects = {p: core.Project(name=p, share=shares[p], usage=usage[p]) for p in shares}
        if last_full is None or now - last_full >= full_pass_s:
            if settings.fairshare_weight or len(kept) > 2 * len(pending):
                kept = order(pending.values(), projects or {}, settings, now)
            last_full = now
        # The first ``depth`` jobs of the kept order that are still pending (started ones are
        # skipped, and dropped from the list once they pile up).
        queue: list[core.Job] = []
        skipped = 0
        for job_in_order in kept:
            if job_in_order.id in pending:
                queue.append(job_in_order)
                if len(queue) >= depth:
                    break
            else:
                skipped += 1
        if skipped > 512:
            kept = [j for j in kept if j.id in pending]
        state = core.State(
            now=now,
            nodes=nodes,
            running=tuple(running.values()),
            pending=(),
            projects=projects or {},
            free=free,
        )
        decisions = core.schedule(state, settings, queue=queue)
        result.passes += 1
        for start in decisions.starts:
            core_job = pending.pop(start.job_id)
            run = core.Running(core_job, now, start.placement)
            running[start.job_id] = run
            for name, gpus in start.placement:
                free[name] -= gpus
            job = by_id[start.job_id]
            busy += job.gpus
            started_at[start.job_id] = now
            lasts = job.duration if job.walltime is None else min(job.duration, job.walltime)
            seq += 1
            heapq.heappush(events, (now + lasts, END, seq, start.job_id))
        for job_id in decisions.refused:  # no budgets here: only shapes no node can hold
            if job_id in pending:
                pending.pop(job_id)
                result.rejected += 1
                done += 1
        if progress is not None and result.events % 2048 < 2:
            progress(done, len(trace))
    if hour_area or last_time > hour_start:
        result.hourly_busy.append(hour_area / 3600)
    result.span = last_time - start_time
    if progress is not None:
        progress(len(trace), len(trace))
    return result
