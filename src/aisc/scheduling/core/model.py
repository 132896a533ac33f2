"""The plain data the core reads and writes. Times are integer seconds."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Qos(enum.IntEnum):
    """Service tiers: larger steps than any other priority factor."""

    SCAVENGER = 0
    OVERBURN = 1
    STANDARD = 2
    HERO = 3
    DEBUG = 4


@dataclass(frozen=True)
class Node:
    name: str
    gpus: int
    partition: str
    gpu_model: str
    leaf: str = ""
    available: bool = True  # up (draining, down or in maintenance nodes take no new work)
    reserved_for: str | None = None  # project holding the node as a dedicated allocation


@dataclass(frozen=True)
class Job:
    id: int
    seq: int  # submission order: breaks every tie
    project: str
    partition: str
    gpu_model: str
    nodes: int
    gpus_per_node: int
    walltime: int  # seconds, as requested (never the true duration)
    submit_time: int
    qos: Qos = Qos.STANDARD
    preemptible: bool = False
    # What a placement depends on (derived once: every pass compares the shapes of all jobs).
    shape: tuple[str, str, int, int, bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        shape = (self.partition, self.gpu_model, self.nodes, self.gpus_per_node, self.preemptible)
        object.__setattr__(self, "shape", shape)

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node

    @property
    def whole_node(self) -> bool:
        return self.nodes > 1


@dataclass(frozen=True)
class Running:
    job: Job
    start: int
    placement: tuple[tuple[str, int], ...]  # (node, gpus)
    # When the walltime runs out: the latest the GPUs can be held. Derived once, not passed:
    # every pass sorts the running jobs by it.
    end: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "end", self.start + self.job.walltime)


@dataclass(frozen=True)
class Project:
    """What the policy knows about a project."""

    name: str
    share: float  # fair share, proportional to the award's rate
    usage: float  # decayed GPU-seconds used
    planned: float = 0.0  # fraction of the award planned to be used by now (0..1)
    used: float = 0.0  # fraction of the award used by now (0..1)
    budget_gpu_seconds: int | None = None  # remaining pooled budget; None = not limited
    max_gpus: int | None = None  # concurrent GPUs (a dedicated allocation's cards); None = none


@dataclass(frozen=True)
class Policy:
    fairshare_weight: float = 10_000
    pacing_weight: float = 5_000
    age_weight: float = 2_000
    qos_weight: float = 20_000
    max_age: int = 7 * 86_400
    reservation_depth: int = 1  # EASY backfill: one reservation, for the top blocked job
    backfill: bool = True  # False: strict order, nothing starts past the first blocked job
    estimate_depth: int = 100  # pending jobs that get a start-time estimate each pass
    grace_seconds: int = 120  # SIGTERM -> SIGKILL for preempted jobs


@dataclass(frozen=True)
class State:
    now: int
    nodes: tuple[Node, ...]
    running: tuple[Running, ...]
    pending: tuple[Job, ...]
    projects: dict[str, Project] = field(default_factory=dict)
    # Free GPUs per node, when the caller keeps them (as a simulator does); None: derived from
    # ``running``. Either way they must agree (tested).
    free: dict[str, int] | None = None


@dataclass(frozen=True)
class Start:
    job_id: int
    placement: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Reservation:
    job_id: int
    start: int
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Decisions:
    starts: tuple[Start, ...]
    preemptions: tuple[int, ...]
    reservations: tuple[Reservation, ...]
    estimates: dict[int, int]  # job id -> estimated start time
    refused: dict[int, str]  # job id -> why it cannot run (e.g. over budget, impossible shape)
    held: dict[int, str] = field(default_factory=dict)  # job id -> the limit it waits on
