"""Job priority: fair share by award rate, burn-rate pacing, age and QOS tier.

- fair share: 2^(-usage_share / award_share), Slurm's classic form: a project that has used
  less than its share of the centre rises towards 1, one far over it sinks towards 0;
- pacing: a logistic of (planned - used) fraction of the award: a project behind its planned
  burn rises, one ahead sinks (0.5 when on plan);
- age: time waiting, capped at ``max_age``;
- QOS: the tier, in steps larger than all other factors together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter, itemgetter

import numpy as np

from aisc.scheduling.core.model import Job, Policy, Project, Qos

PACING_STEEPNESS = 6.0
_PROJECT, _SUBMIT, _QOS, _SEQ = (attrgetter(a) for a in ("project", "submit_time", "qos", "seq"))
QOS_MAX = max(q.value for q in Qos)


def project_factors(projects: Mapping[str, Project]) -> dict[str, tuple[float, float]]:
    """Fair share plus pacing per project (the job-independent part of priority)."""
    total_share = sum(p.share for p in projects.values()) or 1.0
    total_usage = sum(p.usage for p in projects.values())
    factors: dict[str, tuple[float, float]] = {}
    for name, project in projects.items():
        share = project.share / total_share
        usage = project.usage / total_usage if total_usage > 0 else 0.0
        fairshare = 2.0 ** (-usage / share) if share > 0 else 0.0
        pacing = 1.0 / (1.0 + math.exp(-PACING_STEEPNESS * (project.planned - project.used)))
        factors[name] = fairshare, pacing
    return factors


def priorities(
    jobs: Sequence[Job], projects: Mapping[str, Project], policy: Policy, now: int
) -> np.ndarray:
    """Priority of each job (in the order given), vectorised over the queue."""
    factors = project_factors(projects)
    per_project = {
        name: policy.fairshare_weight * fs + policy.pacing_weight * pace
        for name, (fs, pace) in factors.items()
    }
    default = policy.pacing_weight * 0.5
    count = len(jobs)
    get = per_project.get
    base = np.fromiter((get(p, default) for p in map(_PROJECT, jobs)), float, count)
    submit = np.fromiter(map(_SUBMIT, jobs), float, count)
    qos = np.fromiter(map(_QOS, jobs), float, count)  # an IntEnum: its number
    age = np.clip(now - submit, 0, policy.max_age) / policy.max_age
    result: np.ndarray = base + policy.age_weight * age + policy.qos_weight * qos / QOS_MAX
    return result


def order(
    jobs: Iterable[Job], projects: Mapping[str, Project], policy: Policy, now: int
) -> list[Job]:
    """Pending jobs, highest priority first; ties by submission order (``seq``)."""
    queue = list(jobs)
    if not queue:
        return []
    prio = priorities(queue, projects, policy, now)
    seq = np.fromiter(map(_SEQ, queue), np.int64, len(queue))
    # lexsort sorts by the last key first: priority descending, then seq ascending.
    ranked = np.lexsort((seq, -prio)).tolist()
    if len(ranked) == 1:
        return queue
    return list(itemgetter(*ranked)(queue))  # one C call picks them all
