"""What a running platform is wired to, built once per process from its settings.

``Deployment`` holds the collaborators that services and workers must not build for themselves:
the mailer the outbox delivers through (a file under the data directory by default, SMTP when
``AISC_SMTP_HOST`` is set) and the job executor (the local executor, or the Slurm backend when
``AISC_EXECUTOR=slurm``). Each process builds one: ``create_app`` for the server, the CLI's state
for a command, the demo builder. The unit of work carries it (``ctx.deployment``), so no edge
passes a collaborator to a service, and a context opened without one (``ctx.require_deployment()``)
refuses with ``NotReady`` rather than quietly skipping what it could not do.

The executor is built on first use: a command that never runs a job does not import or probe it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from aisc.errors import Conflict
from aisc.outbox.channels import Mailer, mailer_from_settings
from aisc.settings import Settings

if TYPE_CHECKING:
    from aisc.executors.local import LocalExecutor
    from aisc.slurm.backend import SlurmBackend


@dataclass
class Deployment:
    """The deployment's collaborators (see the module docstring)."""

    settings: Settings
    mailer: Mailer = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Deployment:
        return cls(settings=settings, mailer=mailer_from_settings(settings))

    @cached_property
    def slurm(self) -> SlurmBackend:
        """The Slurm link the settings describe (slurmrestd and/or Slurm's commands): the job
        executor when ``AISC_EXECUTOR=slurm``; the provisioning and status commands use it too."""
        from aisc.slurm.connect import backend_from_settings

        return backend_from_settings(self.settings)

    @cached_property
    def executor(self) -> LocalExecutor | SlurmBackend:
        """The job executor the settings name (``AISC_EXECUTOR``)."""
        if self.settings.executor == "slurm":
            return self.slurm
        from aisc.executors.local import LocalExecutor

        return LocalExecutor(
            self.settings.effective_run_dir,
            isolation=self.settings.job_isolation,
            private=(self.settings.data_dir,),
            readonly=tuple(self.settings.job_readonly_paths),
        )

    @property
    def local_executor(self) -> LocalExecutor:
        from aisc.executors.local import LocalExecutor

        executor = self.executor
        if not isinstance(executor, LocalExecutor):
            raise Conflict(
                "this deployment runs jobs on Slurm (AISC_EXECUTOR=slurm), not the local executor",
                field="executor",
            )
        return executor
