"""QOS grants: give an award a privileged tier, take it back, and check a job's tier.

Who may use which tier is data: the standard tiers belong to every award; ``hero`` and
``debug`` (the top of the priority order, and on the local executor the tiers that preempt)
belong to an award only while a grant for it is in force. The gateway asks ``require_tier``
for every job; on Slurm the provisioning sync turns the grants in force into the QOS list of
the award's account (``aisc.slurm.desired``), so Slurm refuses an ungranted tier itself.

A grant may carry a GPU-hour limit: the tier's jobs submitted since the grant count against
it, by their recorded usage plus what queued and running ones ask for (as the award's own
budget is counted at the gateway).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from aisc.access import authorize
from aisc.audit.service import record
from aisc.awards.models import Award
from aisc.awards.service import view_award
from aisc.billing.months import midnight
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, Forbidden, NotFound, ValidationFailed
from aisc.jobs.models import Job, JobQos, JobState
from aisc.metering.models import UsageRecord
from aisc.qos.models import PRIVILEGED_TIERS, STANDARD_TIERS, QosGrant
from aisc.qos.schemas import QosGrantCreate, QosGrantRead, QosTiersRead

ORDER = [JobQos.SCAVENGER, JobQos.OVERBURN, JobQos.STANDARD, JobQos.HERO, JobQos.DEBUG]


def _grants(ctx: Ctx, award_id: int) -> list[QosGrant]:
    return list(
        ctx.db.execute(
            select(QosGrant).where(QosGrant.award_id == award_id).order_by(QosGrant.id)
        ).scalars()
    )


def _grants_in_force(ctx: Ctx, *, award_id: int) -> dict[JobQos, QosGrant]:
    """The award's privileged tiers now, each with the grant that gives it."""
    return {g.qos: g for g in _grants(ctx, award_id) if g.in_force(ctx.now)}


def _tiers(ctx: Ctx, *, award_id: int) -> list[JobQos]:
    """Every tier the award's jobs may use now, lowest first."""
    held = STANDARD_TIERS | set(_grants_in_force(ctx, award_id=award_id))
    return [q for q in ORDER if q in held]


def _used_gpu_seconds(ctx: Ctx, grant: QosGrant) -> int:
    """GPU-seconds the tier's jobs ran and ask for since the grant (what its limit counts)."""
    since = (
        Job.award_id == grant.award_id,
        Job.qos == grant.qos,
        Job.submitted_at >= grant.granted_at,
    )
    used = ctx.db.execute(
        select(func.coalesce(func.sum(UsageRecord.gpu_seconds), 0))
        .join(Job, Job.id == UsageRecord.job_id)
        .where(*since)
    ).scalar_one()
    queued = ctx.db.execute(
        select(func.coalesce(func.sum(Job.nodes * Job.gpus_per_node * Job.walltime_s), 0)).where(
            *since, Job.state.in_((JobState.PENDING, JobState.RUNNING))
        )
    ).scalar_one()
    return int(used) + int(queued)


def require_tier(ctx: Ctx, *, award_id: int, qos: JobQos, gpu_seconds: int) -> None:
    """Refuse a job whose tier the award does not hold, or whose grant's limit it would pass.

    A step of submitting a job (the submitter's reach to the award is checked there).
    """
    authorize(ctx, "job.submit")
    if qos in STANDARD_TIERS:
        return
    grant = _grants_in_force(ctx, award_id=award_id).get(qos)
    if grant is None:
        held = ", ".join(q.value for q in _tiers(ctx, award_id=award_id))
        raise Forbidden(
            f"qos: award {award_id} holds the tiers {held}; {qos.value!r} needs a grant from "
            "the secretariat or an operator",
            field="qos",
            details={"tiers": held.split(", ")},
        )
    if grant.gpu_hours is not None:
        left = grant.gpu_hours * 3600 - _used_gpu_seconds(ctx, grant)
        if gpu_seconds > left:
            raise Conflict(
                f"qos: the job asks for {gpu_seconds / 3600:.1f} GPU-hours; the {qos.value} "
                f"grant of award {award_id} has {max(left, 0) / 3600:.1f} GPU-hours left",
                field="qos",
            )


def read_grant(ctx: Ctx, grant: QosGrant) -> QosGrantRead:
    """A grant as read; ``grant`` came through ``award_tiers`` or was just made or revoked."""
    authorize(ctx, "qos.read")
    return QosGrantRead(
        **{k: v for k, v in row_dict(grant).items() if k in QosGrantRead.model_fields},
        in_force=grant.in_force(ctx.now),
        used_gpu_seconds=_used_gpu_seconds(ctx, grant),
    )


def award_tiers(ctx: Ctx, *, award_id: int) -> QosTiersRead:
    """The tiers an award holds now and every grant it was given (members and staff)."""
    award = view_award(ctx, award_id=award_id, action="qos.read")
    return QosTiersRead(
        award_id=award.id,
        tiers=_tiers(ctx, award_id=award.id),
        grants=[read_grant(ctx, g) for g in _grants(ctx, award.id)],
    )


def grant(ctx: Ctx, *, award_id: int, data: QosGrantCreate) -> QosGrant:
    """Give an award a privileged tier (the secretariat or an operator)."""
    authorize(ctx, "qos.grant")
    award = ctx.db.get(Award, award_id)
    if award is None:
        raise NotFound(f"award {award_id} not found", field="award_id")
    if data.qos not in PRIVILEGED_TIERS:
        raise ValidationFailed(
            f"qos: {data.qos.value!r} is a standard tier every award holds; grants are for "
            + ", ".join(sorted(q.value for q in PRIVILEGED_TIERS)),
            field="qos",
        )
    expires_at: datetime | None = None
    if data.expires_on is not None:
        expires_at = midnight(data.expires_on)
        if expires_at <= ctx.now:
            raise ValidationFailed(
                f"expires_on: {data.expires_on} is not in the future", field="expires_on"
            )
    if data.qos in _grants_in_force(ctx, award_id=award.id):
        raise Conflict(
            f"qos: award {award.id} already holds {data.qos.value}; revoke that grant first",
            field="qos",
        )
    row = QosGrant(
        award_id=award.id,
        qos=data.qos,
        gpu_hours=data.gpu_hours,
        expires_at=expires_at,
        reason=data.reason,
        granted_at=ctx.now,
        granted_by=ctx.actor,
    )
    ctx.db.add(row)
    ctx.db.flush()
    record(ctx, action="qos.grant", object_type="award", object_id=award.id, after=row_dict(row))
    return row


def revoke(ctx: Ctx, *, award_id: int, grant_id: int, reason: str = "") -> QosGrant:
    """End a grant now; the award's jobs already admitted in the tier keep it."""
    authorize(ctx, "qos.grant")
    row = ctx.db.get(QosGrant, grant_id)
    if row is None or row.award_id != award_id:
        raise NotFound(f"grant {grant_id} of award {award_id} not found", field="grant_id")
    if row.revoked_at is not None:
        raise Conflict(f"grant {grant_id} is already revoked", field="grant_id")
    before = row_dict(row)
    row.revoked_at, row.revoked_by = ctx.now, ctx.actor
    ctx.db.flush()
    record(
        ctx,
        action="qos.revoke",
        object_type="award",
        object_id=award_id,
        before=before,
        after={**row_dict(row), "reason": reason},
    )
    return row


def tiers_by_award(ctx: Ctx) -> dict[int, dict[JobQos, QosGrant]]:
    """Every award's grants in force (for the Slurm sync, which runs as the system)."""
    authorize(ctx, "qos.read")
    held: dict[int, dict[JobQos, QosGrant]] = {}
    for row in ctx.db.execute(
        select(QosGrant).where(QosGrant.revoked_at.is_(None)).order_by(QosGrant.id)
    ).scalars():
        if row.in_force(ctx.now):
            held.setdefault(row.award_id, {})[row.qos] = row
    return held
