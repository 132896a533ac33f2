"""The job loop a deployment runs: the local executor's (embedded default) or Slurm's, on the
executor the deployment was built with (``aisc.deployment``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from aisc.deployment import Deployment
from aisc.scheduling.loop import JobRunner
from aisc.slurm.runner import SlurmRunner

Runner = JobRunner | SlurmRunner


def make_runner(
    deployment: Deployment, factory: sessionmaker[Session], clock: Callable[[], datetime]
) -> Runner:
    settings = deployment.settings
    if settings.executor == "slurm":
        return SlurmRunner(factory, deployment.slurm, settings, clock)
    return JobRunner(
        factory,
        deployment.local_executor,
        clock,
        grace_seconds=settings.preemption_grace_s,
    )
