"""The job loop a deployment runs: the local executor's (embedded default) or Slurm's, on the
executor the deployment was built with (``aisc.deployment``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from aisc.deployment import Deployment
from aisc.scheduling.loop import LocalJobLoop
from aisc.slurm.loop import SlurmJobLoop

JobLoop = LocalJobLoop | SlurmJobLoop


def make_job_loop(
    deployment: Deployment,
    factory: sessionmaker[Session],
    clock: Callable[[], datetime],
    *,
    guard: Callable[[], None] | None = None,
) -> JobLoop:
    """``guard`` raises when this process may no longer act (the worker's lease check): called
    before a side effect no transaction covers (handing a job to Slurm)."""
    settings = deployment.settings
    if settings.executor == "slurm":
        return SlurmJobLoop(factory, deployment.slurm, settings, clock, guard=guard)
    return LocalJobLoop(
        factory,
        deployment.local_executor,
        clock,
        grace_seconds=settings.preemption_grace_s,
    )
