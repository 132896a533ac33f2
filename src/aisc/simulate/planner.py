"""Capacity planner: predicted queueing and busy % month by month, with and without an award.

For each month of the application's period the capacity check gives the installed cards and the
cards committed before and after approval. The planner turns a commitment into offered work: the
committed cards x ``REALISATION`` (the share of reserved GPU time awards actually use: about 80%
at the centre) busy on average, as jobs drawn from a workload profile (job sizes and durations:
by default the Philly trace's, or those of a trace given; durations cut at one day so that the
simulation reaches a steady state), arriving at random. It replays that
work through the scheduling core (the ``aisc`` policy) on a cluster scaled down to at most
``MAX_NODES`` 8-GPU nodes (offered load scaled alike), for ``DAYS`` simulated days, and reports
the mean and 90th percentile queueing delay (the first day is warm-up) and the busy % of
installed GPUs. Months whose loads are within 5 points share a simulation. Deterministic (seed 42).
``aisc.allocations.forecast`` puts the outlook into an application's capacity check.

Scaling keeps the utilisation, not the absolute job sizes: jobs are capped at a quarter of the
scaled cluster. It is a planning estimate, not a promise; its assumptions are in the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from aisc.simulate.jobs import ClusterShape, run_jobs
from aisc.simulate.traces import TraceJob

REALISATION = 0.8
MAX_NODES = 32
DAYS = 3
WARMUP_S = 86_400
SEED = 42
# Philly (ATC'19) as published with the trace: GPUs per job and the duration distribution
# (median 1,144 s, 90th percentile 11,265 s: a log-normal fits both).
PHILLY_GPUS = ((1, 76_627), (2, 1_818), (4, 1_870), (8, 1_643), (16, 199), (32, 67), (64, 6))
PHILLY_MEDIAN_S, PHILLY_P90_S = 1_144, 11_265
# Jobs are cut at a day so that three simulated days reach a steady state after the first.
MAX_DURATION_S = 86_400


@dataclass(frozen=True)
class Profile:
    """Job sizes (GPUs) and durations to draw from."""

    name: str
    sizes: tuple[int, ...]  # samples, or (size, weight) pairs when ``weights`` is set
    weights: tuple[float, ...]
    durations: tuple[int, ...] = ()  # empirical durations; empty: log-normal (median, p90)
    median_s: float = PHILLY_MEDIAN_S
    p90_s: float = PHILLY_P90_S

    @classmethod
    def philly(cls) -> Profile:
        total = sum(c for _, c in PHILLY_GPUS)
        return cls(
            name="philly",
            sizes=tuple(s for s, _ in PHILLY_GPUS),
            weights=tuple(c / total for _, c in PHILLY_GPUS),
        )

    @classmethod
    def from_trace(cls, name: str, jobs: Sequence[TraceJob]) -> Profile:
        if not jobs:
            raise ValueError("the trace has no jobs")
        return cls(
            name=name,
            sizes=tuple(max(1, j.gpus) for j in jobs),
            weights=(),
            durations=tuple(min(j.duration, MAX_DURATION_S) for j in jobs),
        )

    def draw(self, rng: np.random.Generator, count: int, cap: int) -> list[tuple[int, int]]:
        """``count`` (GPUs, duration) pairs, GPUs capped at ``cap``."""
        if self.durations:
            picks = rng.integers(len(self.sizes), size=count)
            return [(min(self.sizes[i], cap), max(1, self.durations[i])) for i in picks.tolist()]
        sigma = math.log(self.p90_s / self.median_s) / 1.2815515655446004
        sizes = rng.choice(np.array(self.sizes), size=count, p=np.array(self.weights))
        durations = np.minimum(
            rng.lognormal(mean=math.log(self.median_s), sigma=sigma, size=count), MAX_DURATION_S
        )
        return [
            (min(int(s), cap), max(1, int(d)))
            for s, d in zip(sizes.tolist(), durations.tolist(), strict=True)
        ]

    def mean_gpu_seconds(self, cap: int) -> float:
        rng = np.random.default_rng(SEED)
        sample = self.draw(rng, 20_000, cap)
        return sum(g * d for g, d in sample) / len(sample)


@dataclass(frozen=True)
class Outlook:
    busy_pct: float  # of installed GPUs
    wait_mean_s: float
    wait_p90_s: float
    overloaded: bool  # offered work exceeds the GPUs: the queue only grows


def simulate_load(
    *, installed_cards: float, busy_cards: float, profile: Profile, seed: int = SEED
) -> Outlook:
    """Queueing for ``busy_cards`` GPUs of offered work on ``installed_cards`` GPUs."""
    if installed_cards <= 0:
        return Outlook(0.0, 0.0, 0.0, busy_cards > 0)
    nodes = max(1, min(MAX_NODES, round(installed_cards / 8)))
    cluster = ClusterShape(nodes=nodes, gpus_per_node=8)
    scale = cluster.gpus / installed_cards
    offered = busy_cards * scale  # GPUs busy on average in the scaled cluster
    cap = max(1, cluster.gpus // 4)
    rng = np.random.default_rng(seed)
    rate = offered / profile.mean_gpu_seconds(cap)  # jobs per second
    horizon = DAYS * 86_400
    count = int(rate * horizon)
    if count == 0:
        return Outlook(0.0, 0.0, 0.0, False)
    arrivals = np.sort(rng.uniform(0, horizon, size=count)).astype(int)
    shapes = profile.draw(rng, count, cap)
    jobs = []
    for index, (at, (gpus, duration)) in enumerate(zip(arrivals.tolist(), shapes, strict=True)):
        per_node, span = (gpus, 1) if gpus <= 8 else (8, -(-gpus // 8))
        # Users ask for more than they use: a walltime 1.5-3 x the duration, whole minutes.
        walltime = int(math.ceil(duration * rng.uniform(1.5, 3.0) / 60) * 60)
        jobs.append(
            TraceJob(
                id=f"w{index}", submit=at, duration=duration, gpus_per_node=per_node,
                nodes=span, walltime=walltime, project=f"p{index % 8}",
            )
        )  # fmt: skip
    result = run_jobs(jobs, policy="aisc", cluster=cluster)
    waits = sorted(w for w, at in zip(result.waits, result.submits, strict=True) if at >= WARMUP_S)
    steady = result.hourly_busy[WARMUP_S // 3600 : horizon // 3600]
    busy = sum(steady) / len(steady) / cluster.gpus if steady else 0.0
    return Outlook(
        busy_pct=round(100 * min(busy, 1.0), 1),
        wait_mean_s=round(sum(waits) / len(waits)) if waits else 0.0,
        wait_p90_s=float(waits[int(0.9 * (len(waits) - 1))]) if waits else 0.0,
        overloaded=offered >= cluster.gpus,
    )


@dataclass(frozen=True)
class MonthOutlook:
    month: str
    installed_cards: Decimal
    committed_before: Decimal
    committed_after: Decimal
    before: Outlook
    after: Outlook


def forecast(
    months: Sequence[tuple[str, Decimal, Decimal, Decimal]], profile: Profile
) -> list[MonthOutlook]:
    """For (month, installed, committed before, committed after) rows: the outlook both ways."""
    cache: dict[tuple[int, int], Outlook] = {}

    def outlook(installed: Decimal, committed: Decimal) -> Outlook:
        busy = min(float(committed), float(installed) * 2) * REALISATION
        # Loads within 5 points of each other share a simulation.
        key = (round(float(installed)), 5 * round(20 * busy / max(float(installed), 1)))
        if key not in cache:
            cache[key] = simulate_load(
                installed_cards=float(installed),
                busy_cards=key[1] / 100 * float(installed),
                profile=profile,
            )
        return cache[key]

    return [
        MonthOutlook(
            month, installed, before, after, outlook(installed, before), outlook(installed, after)
        )
        for month, installed, before, after in months
    ]
