"""Scheduling pass at scale: 400 nodes x 8 GPUs, a realistic job-shape mix, 50,000 pending.

Prints the median and p99 of a full pass, and of an event-triggered pass (one running job has
ended since the previous pass: the queue order kept from the last full pass, its first 1,000
jobs considered). Targets on a 2-core machine: full pass median <= 100 ms and
p99 <= 500 ms; event pass <= 10 ms.

    .venv/bin/python benchmarks/scheduler_pass.py [--pending 50000] [--nodes 400] [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace

from aisc.scheduling.core import Job, Node, Policy, Project, Qos, Running, State, schedule
from aisc.scheduling.core.priority import order

H = 3600
SHAPES = [  # (nodes, gpus per node, weight): mostly small jobs, some whole nodes, a few gangs
    (1, 1, 40),
    (1, 2, 15),
    (1, 4, 15),
    (1, 8, 18),
    (2, 8, 6),
    (4, 8, 4),
    (8, 8, 2),
]


def build(pending: int, node_count: int, seed: int = 42) -> State:
    rng = random.Random(seed)
    nodes = tuple(
        Node(f"n{i:04d}", 8, "training", "H800", leaf=f"leaf{i // 32}") for i in range(node_count)
    )
    projects = {
        f"p{i:03d}": Project(
            f"p{i:03d}",
            rng.uniform(1, 10),
            rng.uniform(0, 1e7),
            planned=rng.uniform(0, 1),
            used=rng.uniform(0, 1),
        )
        for i in range(200)
    }
    names = list(projects)
    weights = [w for *_, w in SHAPES]

    def make(job_id: int, submit: int) -> Job:
        width, per, _ = rng.choices(SHAPES, weights)[0]
        return Job(
            id=job_id,
            seq=job_id,
            project=rng.choice(names),
            partition="training",
            gpu_model="H800",
            nodes=width,
            gpus_per_node=per,
            walltime=rng.choice([1, 2, 4, 8, 12, 24, 48]) * H,
            submit_time=submit,
            qos=rng.choices(list(Qos), [2, 5, 80, 3, 10])[0],
            preemptible=rng.random() < 0.1,
        )

    # Fill about 90% of the GPUs with running single-node work.
    running, free = [], {n.name: 8 for n in nodes}
    job_id = 1
    for node in nodes:
        while free[node.name] > 0 and rng.random() < 0.9:
            gpus = min(free[node.name], rng.choice([1, 2, 4, 8]))
            job = make(job_id, 0)
            job = replace(job, nodes=1, gpus_per_node=gpus)
            running.append(Running(job, rng.randrange(0, 10 * H), ((node.name, gpus),)))
            free[node.name] -= gpus
            job_id += 1
    pending_jobs = tuple(make(job_id + i, rng.randrange(0, 20 * H)) for i in range(pending))
    return State(
        now=20 * H, nodes=nodes, running=tuple(running), pending=pending_jobs, projects=projects
    )


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pending", type=int, default=50_000)
    parser.add_argument("--nodes", type=int, default=400)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    state = build(args.pending, args.nodes)
    used = sum(g for r in state.running for _, g in r.placement)
    print(
        f"{args.nodes} nodes x 8 GPUs, {len(state.running)} running jobs on {used} GPUs "
        f"({100 * used / (8 * args.nodes):.0f}%), {len(state.pending)} pending"
    )
    first = schedule(state)
    print(
        f"one pass: {len(first.starts)} starts, {len(first.reservations)} reservations, "
        f"{len(first.preemptions)} preemptions, {len(first.estimates)} estimates"
    )
    median, p99 = timed(lambda: schedule(state), args.runs)
    print(f"full pass: median {median:.0f} ms, p99 {p99:.0f} ms")
    # An event (one running job ends): the queue order kept from the last full pass, the first
    # 1,000 jobs of it considered, no estimates.
    queue = order(state.pending, state.projects, Policy(), state.now)
    ended = State(
        now=state.now,
        nodes=state.nodes,
        running=state.running[1:],
        pending=state.pending,
        projects=state.projects,
    )
    median, p99 = timed(lambda: schedule(ended, queue=queue, depth=1000), args.runs * 5)
    print(f"event pass (one job ended, depth 1,000): median {median:.1f} ms, p99 {p99:.1f} ms")
    median, p99 = timed(lambda: schedule(ended), args.runs)
    print(f"full pass after the event: median {median:.0f} ms, p99 {p99:.0f} ms")


if __name__ == "__main__":
    main()
