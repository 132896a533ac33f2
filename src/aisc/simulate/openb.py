"""The FGD protocol on Alibaba ``openb``: how much of the cluster's GPU a packing policy fills.

1. Inflate the workload: append tasks sampled uniformly with replacement from the trace until
   the total GPU request reaches ``ratio`` (1.3) x the cluster's GPU capacity.
2. Shuffle.
3. Place the tasks one at a time, in order, with no departures, through
   ``aisc.scheduling.core.packing`` (CPU, memory, GPU model and GPU sharing constraints apply);
   a task that fits nowhere is not placed.
4. After each 1% of arrived GPU request (of capacity), record the GPU allocation ratio
   (allocated milli-GPU / capacity) and the fragmented GPU.

Everything is drawn from one ``numpy`` generator seeded with ``seed``: the same seed gives the
same run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from aisc.scheduling.core.packing import MILLI, NodeSpec, PackingState, Task, typical_tasks

RATIO = 1.3
FRAG_POLICIES = ("fgd", "aisc")


@dataclass
class OpenbRun:
    policy: str
    seed: int
    tasks: int
    placed: int
    failed: int
    capacity_gpus: int
    # index i: allocation (% of GPU capacity) when arrived GPU request reached i% of capacity
    allocation_pct: list[float] = field(default_factory=list)
    fragmented_gpus: list[float] = field(default_factory=list)  # same axis (frag policies)

    def at(self, pct: int) -> float:
        return self.allocation_pct[min(pct, len(self.allocation_pct) - 1)]

    def summary(self) -> dict[str, object]:
        last = len(self.allocation_pct) - 1
        allocated_end = self.allocation_pct[-1] / 100 * self.capacity_gpus
        return {
            "policy": self.policy,
            "seed": self.seed,
            "tasks": self.tasks,
            "placed": self.placed,
            "failed": self.failed,
            "allocation_pct_at": {
                str(p): round(self.at(p), 2) for p in (50, 70, 80, 90, 95, 100, 105, 110, 120, 130)
                if p <= last
            },
            "unallocated_gpus_at_end": round(self.capacity_gpus - allocated_end, 1),
            "fragmented_gpus_at_end": round(self.fragmented_gpus[-1], 1)
            if self.fragmented_gpus
            else None,
            "allocation_pct": [round(v, 3) for v in self.allocation_pct],
        }  # fmt: skip


def inflate(
    tasks: Sequence[Task], capacity_milli: int, ratio: float, rng: np.random.Generator
) -> list[Task]:
    """The trace's tasks plus tasks sampled with replacement until the GPU request reaches
    ``ratio`` x capacity, shuffled."""
    pool = list(tasks)
    demand = sum(t.total_milli for t in pool)
    target = ratio * capacity_milli
    if not any(t.total_milli for t in pool):
        raise ValueError("the trace requests no GPU")
    extra: list[Task] = []
    while demand < target:
        for index in rng.integers(len(tasks), size=1024):
            task = tasks[int(index)]
            extra.append(task)
            demand += task.total_milli
            if demand >= target:
                break
    pool.extend(extra)
    order = rng.permutation(len(pool))
    return [pool[int(i)] for i in order]


def run_openb(
    nodes: Sequence[NodeSpec],
    tasks: Sequence[Task],
    *,
    policy: str,
    seed: int,
    ratio: float = RATIO,
    progress: Callable[[int, int], None] | None = None,
) -> OpenbRun:
    """One run of the protocol; ``progress(done, total)`` is called now and then."""
    rng = np.random.default_rng(seed)
    typical = typical_tasks(tasks) if policy in FRAG_POLICIES else []
    state = PackingState(nodes, typical)
    state.shuffle_ranks(rng)
    capacity = state.gpu_capacity
    if capacity == 0:
        raise ValueError("the cluster has no GPUs")
    queue = inflate(tasks, capacity, ratio, rng)
    run = OpenbRun(
        policy=policy,
        seed=seed,
        tasks=len(queue),
        placed=0,
        failed=0,
        capacity_gpus=capacity // MILLI,
    )
    limit = round(ratio * 100)
    arrived, allocated, mark = 0, 0, 0
    for index, task in enumerate(queue):
        choice = state.choose(task, policy, rng)
        if choice is None:
            run.failed += 1
        else:
            node, gpus = choice
            state.bind(node, task, gpus)
            allocated += task.total_milli
            run.placed += 1
        arrived += task.total_milli
        while mark <= limit and arrived >= mark * capacity / 100:
            run.allocation_pct.append(100 * allocated / capacity)
            if typical:
                run.fragmented_gpus.append(state.fragmentation() / MILLI)
            mark += 1
        if progress is not None and index % 256 == 0:
            progress(index, len(queue))
    while mark <= limit:  # the request fell just short of the last mark
        run.allocation_pct.append(100 * allocated / capacity)
        if typical:
            run.fragmented_gpus.append(state.fragmentation() / MILLI)
        mark += 1
    if progress is not None:
        progress(len(queue), len(queue))
    return run
