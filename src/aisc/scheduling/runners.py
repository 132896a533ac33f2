"""The job loop a deployment runs: the local executor's (embedded default) or Slurm's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from aisc.executors.local import LocalExecutor
from aisc.scheduling.loop import LocalJobLoop
from aisc.settings import Settings
from aisc.slurm.connect import backend_from_settings
from aisc.slurm.loop import SlurmJobLoop

JobLoop = LocalJobLoop | SlurmJobLoop


def make_job_loop(
    settings: Settings, factory: sessionmaker[Session], clock: Callable[[], datetime]
) -> JobLoop:
    if settings.executor == "slurm":
        return SlurmJobLoop(factory, backend_from_settings(settings), settings, clock)
    return LocalJobLoop(
        factory,
        LocalExecutor(
            settings.effective_run_dir,
            isolation=settings.job_isolation,
            private=(settings.data_dir,),
            readonly=tuple(settings.job_readonly_paths),
        ),
        clock,
        grace_seconds=settings.preemption_grace_s,
    )
