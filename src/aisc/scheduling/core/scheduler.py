"""One scheduling pass.

In priority order, each pending job is:
1. refused if its project's remaining budget cannot cover gpus x walltime;
2. skipped if a job of the same shape (and eligibility) already failed this pass with a walltime
   no longer than its own (resources only shrink within a pass);
3. started if it fits now: sub-node jobs best-fit (fewest GPUs left on the node, so whole nodes
   stay free), multi-node jobs all nodes or none (gang), in one leaf switch when possible;
4. otherwise, for the first ``reservation_depth`` blocked jobs: the earliest time it fits as
   running jobs reach their walltimes becomes a reservation on named nodes; later jobs may use
   those nodes only if they end before it starts (EASY backfill: the reserved job is never
   delayed). If preemptible (or over-budget) work stands in the way of a non-preemptible job,
   the fewest such victims are preempted instead (SIGTERM, grace, SIGKILL, requeue).

Nodes reserved for a project's dedicated allocation take that project's jobs, and others' jobs
only when those are preemptible.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from aisc.scheduling.core.model import (
    Decisions,
    Job,
    Node,
    Policy,
    Qos,
    Reservation,
    Running,
    Start,
    State,
)
from aisc.scheduling.core.priority import order

Placement = tuple[tuple[str, int], ...]


@dataclass
class PassCapacity:
    """What a scheduling pass has left to place jobs on: free GPUs per node, the reservations
    made so far, and the usable nodes by (partition, GPU model)."""

    nodes: dict[str, Node]
    free: dict[str, int]
    reserved_from: dict[str, int]  # node -> earliest reservation start on it
    by_kind: dict[tuple[str, str], list[Node]] = field(default_factory=dict)
    owners_waiting: set[str] = field(default_factory=set)  # projects with jobs in the queue

    def __post_init__(self) -> None:
        # Nodes by (partition, GPU model): a job only ever looks at its own kind.
        for node in self.nodes.values():
            if node.available:
                self.by_kind.setdefault((node.partition, node.gpu_model), []).append(node)

    def eligible(self, node: Node, job: Job) -> bool:
        if not node.available or node.partition != job.partition or node.gpu_model != job.gpu_model:
            return False
        if node.reserved_for is not None and node.reserved_for != job.project:
            # Idle dedicated nodes are lent to preemptible work, but not while their owner waits.
            return job.preemptible and node.reserved_for not in self.owners_waiting
        return True


def _fit(job: Job, candidates: list[tuple[str, int, str]]) -> Placement | None:
    """Choose nodes for ``job`` from (name, free GPUs, leaf) candidates, or None."""
    need = job.gpus_per_node
    fitting = [c for c in candidates if c[1] >= need]
    if job.nodes == 1:
        if not fitting:
            return None
        name = min(fitting, key=lambda c: (c[1] - need, c[0]))[0]  # best fit
        return ((name, need),)
    if len(fitting) < job.nodes:
        return None
    by_leaf: dict[str, list[str]] = defaultdict(list)
    for name, _free, leaf in sorted(fitting):
        by_leaf[leaf].append(name)
    # One leaf switch if any can hold the whole job: the one with the fewest spare nodes.
    whole = [leaf for leaf, names in by_leaf.items() if len(names) >= job.nodes]
    if whole:
        leaf = min(whole, key=lambda lf: (len(by_leaf[lf]), lf))
        return tuple((n, need) for n in by_leaf[leaf][: job.nodes])
    chosen: list[str] = []
    for leaf in sorted(by_leaf, key=lambda lf: (-len(by_leaf[lf]), lf)):  # fewest leaves
        chosen.extend(by_leaf[leaf][: job.nodes - len(chosen)])
        if len(chosen) == job.nodes:
            break
    return tuple((n, need) for n in chosen)


def _candidates(
    capacity: PassCapacity, job: Job, now: int, free: dict[str, int] | None = None
) -> list[tuple[str, int, str]]:
    """Nodes of the job's kind with enough free GPUs (``free``, default the capacity's) that it may
    use now: not held for others, not reserved for a job this one would delay."""
    need, reserved_from = job.gpus_per_node, capacity.reserved_from
    free = capacity.free if free is None else free
    end = now + job.walltime
    found = []
    for node in capacity.by_kind.get((job.partition, job.gpu_model), ()):
        room = free[node.name]
        if room < need:
            continue
        if (
            node.reserved_for is not None
            and node.reserved_for != job.project
            and (not job.preemptible or node.reserved_for in capacity.owners_waiting)
        ):
            continue
        start = reserved_from.get(node.name)
        if start is not None and end > start:
            continue
        found.append((node.name, room, node.leaf))
    return found


def _earliest(
    capacity: PassCapacity, job: Job, running: list[Running], now: int
) -> tuple[int, Placement] | None:
    """When ``job`` could start as ``running`` (sorted by end) reach their walltimes."""
    free = dict(capacity.free)
    need = job.gpus_per_node
    kind = capacity.by_kind.get((job.partition, job.gpu_model), ())
    eligible = {node.name: node for node in kind if capacity.eligible(node, job)}
    # The job fits once enough eligible nodes have room for it; only the nodes a run frees
    # can change that count, so the placement is worked out once, when it does.
    fitting = sum(1 for name in eligible if free[name] >= need)
    when = now if fitting >= job.nodes else None
    if when is None:
        for run in running:  # sorted by end by the caller
            for name, gpus in run.placement:
                if name in free:
                    before = free[name]
                    free[name] = before + gpus
                    if name in eligible and before < need <= before + gpus:
                        fitting += 1
            if fitting >= job.nodes:
                when = max(run.end, now)
                break
    if when is None:
        return None
    placed = _fit(job, [(n, free[n], node.leaf) for n, node in eligible.items()])
    assert placed is not None, "enough nodes have room, so the job fits"
    return when, placed


def _never_fits(job: Job, nodes: dict[str, Node]) -> bool:
    """No set of nodes of the job's kind could ever hold its shape, even all empty."""
    big_enough = sum(
        1
        for n in nodes.values()
        if n.partition == job.partition
        and n.gpu_model == job.gpu_model
        and n.gpus >= job.gpus_per_node
    )
    return big_enough < job.nodes


def _exposed(state: State) -> list[Running]:
    """Running work that may be preempted (preemptible, or its project over budget), in the
    order victims are taken: lowest tier first, then the most recently started (least work
    lost)."""
    over = {
        name
        for name, p in state.projects.items()
        if p.budget_gpu_seconds is not None and p.budget_gpu_seconds <= 0
    }
    return sorted(
        (r for r in state.running if r.job.preemptible or r.job.project in over),
        key=lambda r: (r.job.qos, -r.start, -r.job.seq),
    )


def _victims(
    capacity: PassCapacity, job: Job, exposed: list[Running], preempted: list[int], now: int
) -> list[Running] | None:
    """The fewest of the ``exposed`` running jobs (not yet ``preempted``) whose GPUs let
    ``job`` start now."""
    if job.preemptible or job.qos <= Qos.OVERBURN or not exposed:
        return None
    gone = set(preempted)
    candidates = [r for r in exposed if r.job.id not in gone]
    free = dict(capacity.free)
    chosen: list[Running] = []

    def fits(extra: dict[str, int]) -> bool:
        return _fit(job, _candidates(capacity, job, now, extra)) is not None

    for run in candidates:
        chosen.append(run)
        for name, gpus in run.placement:
            free[name] = free.get(name, 0) + gpus
        if fits(free):
            break
    else:
        return None
    # Minimise: drop any victim the job does not need.
    for run in list(reversed(chosen)):
        trial = dict(free)
        for name, gpus in run.placement:
            trial[name] -= gpus
        if fits(trial):
            chosen.remove(run)
            free = trial
    return chosen


def schedule(
    state: State,
    policy: Policy = Policy(),
    *,
    queue: Sequence[Job] | None = None,
    depth: int | None = None,
) -> Decisions:
    """Decide one pass. Pure: the same state and policy always give the same decisions.

    A full pass orders every pending job by priority. An event-triggered pass (a job ended, a
    node came back) passes ``queue``, the order kept from the last full pass, and ``depth``: only
    the first ``depth`` jobs of it are considered and no estimates are made, which keeps the
    pass short; the next full pass sees everything again.
    """
    now = state.now
    nodes = {n.name: n for n in state.nodes}
    if state.free is not None:
        free = dict(state.free)
    else:
        free = {n.name: n.gpus for n in state.nodes}
        for run in state.running:
            for name, gpus in run.placement:
                if name in free:
                    free[name] -= gpus
    dedicated = {n.reserved_for for n in state.nodes if n.reserved_for is not None}
    capacity = PassCapacity(
        nodes=nodes,
        free=free,
        reserved_from={},
        owners_waiting=_owners_waiting(dedicated, state.pending),
    )
    budgets = {  # projects with a pooled budget; the others are not limited
        name: p.budget_gpu_seconds
        for name, p in state.projects.items()
        if p.budget_gpu_seconds is not None
    }
    running = list(state.running)
    starts: list[Start] = []
    reservations: list[Reservation] = []
    preempted: list[int] = []
    refused: dict[int, str] = {}
    failed: dict[object, int] = {}  # shape -> shortest walltime that failed now
    blocked: list[Job] = []
    caps = {name: p.max_gpus for name, p in state.projects.items() if p.max_gpus is not None}
    in_use: dict[str, int] = defaultdict(int)  # concurrent GPUs per capped project
    if caps:
        for run in state.running:
            in_use[run.job.project] += run.job.gpus
    held: dict[int, str] = {}
    exposed: list[Running] | None = None  # preemptible running work, found when first needed

    estimate_depth = policy.estimate_depth
    budget_of, failed_for = budgets.get, failed.get  # bound once: this loop sees every job
    if queue is None:
        candidates: Sequence[Job] = order(state.pending, state.projects, policy, now)
    else:
        candidates = queue
    if depth is not None:
        candidates = candidates[:depth]
    for job in candidates:
        budget = budget_of(job.project) if budgets else None
        if budget is not None and job.gpus * job.walltime > budget:
            refused[job.id] = (
                f"needs {job.gpus * job.walltime} GPU-seconds; project "
                f"{job.project} has {budget} left"
            )
            continue
        cap = caps.get(job.project) if caps else None
        if cap is not None and not job.preemptible and in_use[job.project] + job.gpus > cap:
            held[job.id] = f"waiting: project {job.project} would exceed its {cap} concurrent GPUs"
            if len(blocked) < estimate_depth:
                blocked.append(job)
            continue
        # Jobs of a dedicated project see its nodes, so their shape is their own.
        shape: object = job.shape
        if dedicated and job.project in dedicated:
            shape = (shape, job.project)
        failed_at = failed_for(shape)
        if failed_at is not None and job.walltime >= failed_at:
            if len(blocked) < estimate_depth:  # only the first few blocked jobs get estimates
                blocked.append(job)
            continue
        placement = _fit(job, _candidates(capacity, job, now))
        if placement is not None:
            for name, gpus in placement:
                capacity.free[name] -= gpus
            starts.append(Start(job.id, placement))
            running.append(Running(job, now, placement))
            if caps:
                in_use[job.project] += job.gpus
            if budget is not None:
                budgets[job.project] = budget - job.gpus * job.walltime
            continue
        failed[shape] = min(failed.get(shape, job.walltime), job.walltime)
        blocked.append(job)
        if not policy.backfill:
            # Strict order: the first job that cannot start holds everything behind it.
            if _never_fits(job, nodes):
                refused[job.id] = "no node of the partition can ever hold this shape"
                blocked.pop()
                continue
            break
        if len(reservations) >= policy.reservation_depth:
            continue
        if _never_fits(job, nodes):
            refused[job.id] = "no node of the partition can ever hold this shape"
            blocked.pop()
            continue
        # Victims come from work already running, never from jobs started in this pass.
        if exposed is None and not job.preemptible and job.qos > Qos.OVERBURN:
            exposed = _exposed(state)
        victims = _victims(capacity, job, exposed or [], preempted, now)
        if victims:
            preempted.extend(r.job.id for r in victims)
            for run in victims:
                for name, gpus in run.placement:
                    capacity.free[name] += gpus
            kept = _fit(job, _candidates(capacity, job, now)) or ()
            for name, gpus in kept:  # hold the freed GPUs for it
                capacity.free[name] -= gpus
            earliest: tuple[int, Placement] | None = (now + policy.grace_seconds, kept)
        else:
            earliest = _earliest(capacity, job, _by_end(running, preempted), now)
        if earliest is None:
            continue
        start, placement = earliest
        names = tuple(sorted({name for name, _ in placement}))
        reservations.append(Reservation(job.id, start, names))
        for name in names:
            capacity.reserved_from[name] = min(capacity.reserved_from.get(name, start), start)

    estimates = (
        _estimates(
            capacity,
            blocked[: policy.estimate_depth],
            running,
            preempted,
            reservations,
            now,
            dedicated,
        )
        if queue is None
        else {}
    )
    for job_id, start in list(estimates.items()):
        job = next(j for j in blocked if j.id == job_id)
        if job.project in caps and job.id in held:
            estimates[job_id] = max(start, _cap_free_at(job, caps[job.project], running, now))
    return Decisions(
        starts=tuple(starts),
        preemptions=tuple(preempted),
        reservations=tuple(reservations),
        estimates=estimates,
        refused=refused,
        held=held,
    )


def _owners_waiting(dedicated: set[str], pending: Sequence[Job]) -> set[str]:
    """Projects holding dedicated nodes that have jobs in the queue (they lend nothing)."""
    waiting: set[str] = set()
    if not dedicated:
        return waiting
    for job in pending:
        if job.project in dedicated:
            waiting.add(job.project)
            if len(waiting) == len(dedicated):
                break
    return waiting


def _cap_free_at(job: Job, cap: int, running: list[Running], now: int) -> int:
    """When enough of the project's running GPUs end for ``job`` to fit under its cap."""
    own = sorted(
        (r for r in running if r.job.project == job.project), key=lambda r: (r.end, r.job.seq)
    )
    in_use = sum(r.job.gpus for r in own)
    for run in own:
        if in_use + job.gpus <= cap:
            break
        in_use -= run.job.gpus
        now = max(now, run.end)
    return now


_END_ORDER = attrgetter("end", "job.seq")


def _by_end(running: list[Running], preempted: list[int]) -> list[Running]:
    if not preempted:
        return sorted(running, key=_END_ORDER)
    gone = set(preempted)
    return sorted((r for r in running if r.job.id not in gone), key=_END_ORDER)


def _estimates(
    capacity: PassCapacity,
    jobs: list[Job],
    running: list[Running],
    preempted: list[int],
    reservations: list[Reservation],
    now: int,
    dedicated: set[str],
) -> dict[int, int]:
    """Start-time estimates: a reserved job's reservation; for the others, the earliest time
    they fit as running jobs reach their walltimes (a lower bound: jobs ahead of them in the
    queue may take those GPUs first)."""
    reserved = {r.job_id: r.start for r in reservations}
    live = _by_end(running, preempted)
    result = {}
    known: dict[object, int | None] = {}  # same shape, same lower bound
    for job in jobs:
        if job.id in reserved:
            result[job.id] = reserved[job.id]
            continue
        key = (job.shape, job.project) if job.project in dedicated else job.shape
        if key not in known:
            earliest = _earliest(capacity, job, live, now)
            known[key] = earliest[0] if earliest is not None else None
        if known[key] is not None:
            result[job.id] = known[key]  # type: ignore[assignment]
    return result
