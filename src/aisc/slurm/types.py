"""What aisc hands to Slurm and what it reads back: plain, typed data.

Errors: ``SlurmUnavailable`` means Slurm could not be asked (a daemon down, a timeout): the
work stays queued in the platform and is retried. ``SlurmRefused`` means Slurm answered no (an
accounting policy, an unknown account): retrying would not help.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from aisc.errors import Conflict, NotReady

# Slurm's own words for answers that will not change on a retry. Anything else that fails is
# treated as Slurm being unavailable: the job stays queued in the platform, never lost.
PERMANENT = (
    "violates accounting/qos policy",
    "invalid account",
    "invalid partition",
    "invalid qos",
    "requested node configuration is not available",
    "requested time limit is invalid",
    "invalid generic resource",
    "invalid user id",
    "access/permission denied",
    "job has invalid",
    "qosmax",
    "qosgrp",
    "assocmax",
)

# Words of a failure to reach a daemon at all.
CONNECTION = (
    "unable to contact",
    "connection refused",
    "timed out",
    "is not installed",
    "unable to connect",
    "persistent connection",
    "zero bytes were transmitted",
    "slurmrestd:",
)

# Slurm's words for a job that holds its nodes now.
RUNNING = frozenset({"RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED",
                     "RESIZING", "SIGNALING", "STAGE_OUT"})  # fmt: skip
# Slurm's words for a job that will not run again (what each means for the platform's job:
# ``aisc.jobs.lifecycle.slurm_ending``).
FINAL = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "TIMEOUT",
        "CANCELLED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
    }
)


class SlurmUnavailable(NotReady):
    code = "slurm_unavailable"


class SlurmRefused(Conflict):
    code = "slurm_refused"


def is_permanent(message: str) -> bool:
    text = message.lower()
    return any(marker in text for marker in PERMANENT)


def is_connection_error(message: str) -> bool:
    text = message.lower()
    return any(marker in text for marker in CONNECTION)


def failure(message: str) -> SlurmUnavailable | SlurmRefused:
    """The error for a failed Slurm request, by what Slurm said."""
    message = " ".join(message.split()) or "no answer"
    if is_permanent(message):
        return SlurmRefused(f"refused by Slurm: {message}")
    return SlurmUnavailable(f"Slurm is unavailable: {message}")


@dataclass(frozen=True)
class JobSpec:
    """One batch job: the platform job ``aisc_id`` on ``nodes`` x ``gpus_per_node`` GPUs."""

    aisc_id: int
    user: str
    account: str
    partition: str
    nodes: int
    gpus_per_node: int
    gpu_type: str
    time_limit_min: int
    workdir: str
    stdout: str
    stderr: str
    argv: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)
    qos: str | None = None
    reservation: str | None = None

    @property
    def name(self) -> str:
        return job_name(self.aisc_id)

    @property
    def gres(self) -> str | None:
        if self.gpus_per_node <= 0:
            return None
        return (
            f"gpu:{self.gpu_type}:{self.gpus_per_node}"
            if self.gpu_type
            else (f"gpu:{self.gpus_per_node}")
        )

    def script(self) -> str:
        """The batch script: the job's argument list, quoted, run once on every node.

        The arguments are quoted with ``shlex.quote``, never interpolated: the script runs
        exactly the program and arguments the user gave.
        """
        command = shlex.join(self.argv)
        if self.nodes > 1:
            command = f"srun --ntasks-per-node=1 --kill-on-bad-exit=1 -- {command}"
        return f"#!/bin/bash\n# aisc job {self.aisc_id}\nexec {command}\n"


def job_name(aisc_id: int) -> str:
    """The Slurm job name that tags a platform job: a retry finds it instead of resubmitting."""
    return f"aisc-job-{aisc_id}"


def aisc_id_of(name: str) -> int | None:
    prefix = "aisc-job-"
    if name.startswith(prefix) and name[len(prefix) :].isdigit():
        return int(name[len(prefix) :])
    return None


@dataclass(frozen=True)
class SlurmJob:
    """A job as Slurm reports it (accounting, or the controller)."""

    job_id: str
    name: str
    account: str
    user: str
    state: str  # Slurm's state word: PENDING, RUNNING, COMPLETED, CANCELLED, ...
    reason: str = ""
    nodes: tuple[str, ...] = ()
    submit: int | None = None  # epoch seconds
    start: int | None = None
    end: int | None = None
    elapsed: int = 0  # seconds
    exit_code: int | None = None
    gpus: int = 0  # allocated GPUs, all nodes
    gpu_type: str = ""
    partition: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def gpu_seconds(self) -> int:
        return self.gpus * self.elapsed
