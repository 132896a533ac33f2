"""Usage from Slurm's own accounting (``sacct``) into usage records, idempotently.

Each run of a job (a requeued job runs more than once, all under one Slurm id) becomes one usage
record keyed ``slurm:<cluster>:<job id>:<start>``: its allocated GPUs (``gres/gpu`` in
AllocTRES) times its elapsed seconds, for the award whose account (``award-<id>``) it ran
under, at the GPU model of its GRES type. Jobs submitted to Slurm directly, not through aisc,
are billed the same way. Ingesting the same accounting again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from aisc.access import authorize
from aisc.awards.models import Award
from aisc.cluster.models import GpuModel
from aisc.context import Ctx
from aisc.jobs.models import Job
from aisc.metering.service import ingest_batch
from aisc.settings import Settings
from aisc.slurm.desired import SLURM_SOURCE
from aisc.slurm.types import FINAL, SlurmJob, aisc_id_of

# Slurm states of a run that has ended (its elapsed time is final): a job's final states, and
# the earlier runs of a requeued job.
ENDED = FINAL | {"REQUEUED"}


@dataclass
class IngestResult:
    runs: int = 0  # ended runs Slurm reported
    new: int = 0  # usage records written
    skipped: list[str] | None = None  # runs that could not be attributed, and why


def award_of_account(account: str, prefix: str) -> int | None:
    if account.startswith(prefix) and account[len(prefix) :].isdigit():
        return int(account[len(prefix) :])
    return None


def usage_key(cluster: str, run: SlurmJob) -> str:
    return f"slurm:{cluster}:{run.job_id}:{run.start or 0}"


def ingest_runs(
    ctx: Ctx, runs: list[SlurmJob], settings: Settings, *, owners: dict[str, int] | None = None
) -> IngestResult:
    """Usage records for the ended ``runs`` that used GPUs; returns what was new.

    ``owners`` (Slurm job id -> platform job id) attributes runs the platform handed over;
    others are attributed by their Slurm name. Accounting can show a run that has just ended
    half-written (no partition, a placeholder name): such a run is left for the next ingest.
    Metering is the cluster's to write, as ``ingest_batch`` is (``cluster.provision``).
    """
    authorize(ctx, "cluster.provision")
    owners = owners or {}
    result = IngestResult(skipped=[])
    assert result.skipped is not None
    models = {
        settings.gres_type(code): code for code in ctx.db.execute(select(GpuModel.code)).scalars()
    }
    ended = [
        r
        for r in runs
        if r.state in ENDED and r.start and r.end and (r.partition or r.job_id in owners)
    ]
    result.runs = len(ended)
    award_ids = {
        a
        for a in (award_of_account(r.account, settings.slurm_account_prefix) for r in ended)
        if a is not None
    }
    awards = (
        {a.id: a for a in ctx.db.execute(select(Award).where(Award.id.in_(award_ids))).scalars()}
        if award_ids
        else {}
    )
    job_ids = {i for i in (owners.get(r.job_id) or aisc_id_of(r.name) for r in ended) if i}
    jobs = (
        dict(ctx.db.execute(select(Job.id, Job.award_id).where(Job.id.in_(job_ids))).all())
        if job_ids
        else {}
    )
    rows: dict[str, dict[str, Any]] = {}
    for run in ended:
        if run.gpu_seconds <= 0:
            continue
        award_id = award_of_account(run.account, settings.slurm_account_prefix)
        award = awards.get(award_id) if award_id is not None else None
        if award is None:
            result.skipped.append(f"Slurm job {run.job_id}: account {run.account!r} is no award")
            continue
        gpu_model = models.get(run.gpu_type) if run.gpu_type else award.gpu_model_code
        if gpu_model is None:
            result.skipped.append(
                f"Slurm job {run.job_id}: GPU type {run.gpu_type!r} matches no GPU model"
            )
            continue
        aisc_id = owners.get(run.job_id) or aisc_id_of(run.name)
        assert run.start is not None
        assert run.end is not None
        key = usage_key(settings.slurm_cluster, run)
        rows[key] = {
            "key": key,
            "award_id": award.id,
            "gpu_model": gpu_model,
            "gpu_seconds": run.gpu_seconds,
            "started_at": datetime.fromtimestamp(run.start, UTC),
            "ended_at": datetime.fromtimestamp(run.end, UTC),
            "job_id": aisc_id if aisc_id is not None and jobs.get(aisc_id) == award.id else None,
        }
    if rows:
        result.new = ingest_batch(ctx, source=SLURM_SOURCE, rows=list(rows.values()))
    return result
