"""The Slurm executor's client: slurmrestd first, Slurm's commands as the fallback.

Submission goes through slurmrestd (JWT) when it is configured; when slurmrestd cannot be
reached the same job goes through ``sbatch``. A refusal (an accounting policy, say) is final
either way and is never retried through the other path. Accounting always comes from
``sacct``: it is what the centre bills from.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from aisc.slurm.commands import SlurmCommands
from aisc.slurm.rest import SlurmRest
from aisc.slurm.types import JobSpec, SlurmJob, SlurmUnavailable

log = logging.getLogger(__name__)


class SlurmBackend:
    def __init__(self, commands: SlurmCommands, rest: SlurmRest | None = None) -> None:
        self.commands = commands
        self.rest = rest

    def submit(self, spec: JobSpec) -> tuple[str, str]:
        """Submit; returns (Slurm job id, the path used: ``rest`` or ``sbatch``)."""
        if self.rest is not None:
            try:
                return self.rest.submit(spec), "rest"
            except SlurmUnavailable as exc:
                log.warning("slurmrestd unavailable, submitting with sbatch: %s", exc.message)
        return self.commands.submit(spec), "sbatch"

    def controller_jobs(
        self, *, job_ids: Sequence[str] = (), names: Sequence[str] = ()
    ) -> list[SlurmJob]:
        """Jobs the controller still holds, among ``job_ids`` or ``names``."""
        if not job_ids and not names:
            return []
        if self.rest is not None:
            try:
                wanted_ids, wanted_names = set(job_ids), set(names)
                return [
                    j for j in self.rest.jobs() if j.job_id in wanted_ids or j.name in wanted_names
                ]
            except SlurmUnavailable as exc:
                log.warning("slurmrestd unavailable, asking squeue: %s", exc.message)
        return self.commands.queue(job_ids=job_ids, names=names)

    def accounting(
        self,
        *,
        job_ids: Iterable[str] = (),
        names: Iterable[str] = (),
        since: int | None = None,
        until: int | None = None,
        states: Sequence[str] = (),
    ) -> list[SlurmJob]:
        return self.commands.accounting(
            job_ids=job_ids, names=names, since=since, until=until, states=states
        )

    def gpu_indices(self, job_id: str) -> dict[str, tuple[int, ...]]:
        if self.rest is not None:
            try:
                found = self.rest.gpu_indices(job_id)
                if found:
                    return found
            except SlurmUnavailable:
                pass
        return self.commands.gpu_indices(job_id)

    def cancel(self, job_id: str, *, user: str | None = None) -> None:
        if self.rest is not None:
            try:
                self.rest.cancel(job_id, user=user)
                return
            except SlurmUnavailable as exc:
                log.warning("slurmrestd unavailable, cancelling with scancel: %s", exc.message)
        self.commands.cancel(job_id)

    def close(self) -> None:
        if self.rest is not None:
            self.rest.close()
