"""Record usage once per key; sums per award."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aisc.access import authorize
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.metering.models import UsageRecord


def record_usage(
    ctx: Ctx,
    *,
    key: str,
    source: str,
    award_id: int,
    gpu_model: str,
    gpu_seconds: int,
    started_at: datetime,
    ended_at: datetime,
    job_id: int | None = None,
) -> UsageRecord | None:
    """Store one usage record; a key already recorded is ignored (returns None)."""
    if ctx.db.execute(select(UsageRecord.id).where(UsageRecord.key == key)).first():
        return None
    usage = UsageRecord(
        key=key,
        source=source,
        job_id=job_id,
        award_id=award_id,
        gpu_model_code=gpu_model,
        gpu_seconds=max(0, gpu_seconds),
        started_at=started_at,
        ended_at=ended_at,
        recorded_at=ctx.now,
    )
    ctx.db.add(usage)
    ctx.db.flush()
    record(
        ctx, action="usage.record", object_type="usage", object_id=usage.id, after=row_dict(usage)
    )
    return usage


def used_gpu_seconds(db: Session, *, award_id: int) -> int:
    total = db.execute(
        select(func.coalesce(func.sum(UsageRecord.gpu_seconds), 0)).where(
            UsageRecord.award_id == award_id
        )
    ).scalar_one()
    return int(total)


def list_usage(
    ctx: Ctx,
    *,
    award_id: int | None = None,
    job_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[UsageRecord]:
    """Usage records the principal may see (the project's members and staff)."""
    from aisc.awards.models import Award

    access = authorize(ctx, "usage.read")
    query = select(UsageRecord).order_by(UsageRecord.id)
    reach = access.application_ids()
    if reach is not None:
        query = query.join(Award, Award.id == UsageRecord.award_id).where(
            Award.application_id.in_(reach)
        )
    if award_id is not None:
        query = query.where(UsageRecord.award_id == award_id)
    if job_id is not None:
        query = query.where(UsageRecord.job_id == job_id)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())
