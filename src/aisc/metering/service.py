"""Record usage once per key, into the open bucket of its award, model and month.

Every public function takes ``ctx`` and authorises: reading usage needs ``usage.read`` (a
project's members see their own); recording it is the cluster's side of the platform (the job
loops, the accounting ingest an operator runs), ``cluster.provision``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, insert, select

from aisc.access import authorize, awards_in_reach, permit, project_of
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import ValidationFailed
from aisc.metering.models import UsageBucket, UsageRecord


def month_of(moment: datetime) -> date:
    """The month (its first day, in UTC) a usage record belongs to: the month it ended in."""
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def _open_bucket(ctx: Ctx, *, award_id: int, gpu_model: str, month: date) -> UsageBucket:
    """The bucket usage of (award, model, month) goes into now: the open one, locked, or a new
    generation when the last one has been billed."""
    found = ctx.db.execute(
        select(UsageBucket)
        .where(
            UsageBucket.award_id == award_id,
            UsageBucket.gpu_model_code == gpu_model,
            UsageBucket.month == month,
            UsageBucket.charge_id.is_(None),
        )
        .with_for_update()
    ).scalar_one_or_none()
    if found is not None:
        return found
    last = ctx.db.execute(
        select(func.coalesce(func.max(UsageBucket.generation), 0)).where(
            UsageBucket.award_id == award_id,
            UsageBucket.gpu_model_code == gpu_model,
            UsageBucket.month == month,
        )
    ).scalar_one()
    bucket = UsageBucket(
        award_id=award_id,
        gpu_model_code=gpu_model,
        month=month,
        generation=int(last) + 1,
        gpu_seconds=0,
        records=0,
    )
    ctx.db.add(bucket)
    ctx.db.flush()
    return bucket


def ingest_batch(ctx: Ctx, *, source: str, rows: list[dict[str, Any]]) -> int:
    """Ingest a batch of accounting (e.g. a dump of finished jobs): records whose key is new are
    stored and added to their buckets; known keys are skipped. One audit event per batch.

    Each row: key, award_id, gpu_model, gpu_seconds, started_at, ended_at, job_id (optional).
    Returns how many records were new.
    """
    authorize(ctx, "cluster.provision")
    keys = [r["key"] for r in rows]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("rows: a batch repeats a key", field="rows")
    known: set[str] = set()
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        known.update(
            ctx.db.execute(select(UsageRecord.key).where(UsageRecord.key.in_(chunk))).scalars()
        )
    fresh = [r for r in rows if r["key"] not in known]
    totals: dict[tuple[int, str, date], list[int]] = defaultdict(lambda: [0, 0])
    for r in fresh:
        total = totals[(r["award_id"], r["gpu_model"], month_of(r["ended_at"]))]
        total[0] += max(0, r["gpu_seconds"])
        total[1] += 1
    bucket_ids = {}
    for (award_id, gpu_model, month), (seconds, count) in sorted(totals.items()):
        bucket = _open_bucket(ctx, award_id=award_id, gpu_model=gpu_model, month=month)
        bucket.gpu_seconds += seconds
        bucket.records += count
        bucket_ids[(award_id, gpu_model, month)] = bucket.id
    ctx.db.flush()
    values = [
        {
            "key": r["key"],
            "source": source,
            "job_id": r.get("job_id"),
            "award_id": r["award_id"],
            "gpu_model_code": r["gpu_model"],
            "gpu_seconds": max(0, r["gpu_seconds"]),
            "started_at": r["started_at"],
            "ended_at": r["ended_at"],
            "recorded_at": ctx.now,
            "bucket_id": bucket_ids[(r["award_id"], r["gpu_model"], month_of(r["ended_at"]))],
        }
        for r in fresh
    ]
    for start in range(0, len(values), 5000):
        ctx.db.execute(insert(UsageRecord), values[start : start + 5000])
    if fresh:
        record(
            ctx,
            action="usage.ingest",
            object_type="usage",
            object_id=source,
            after={"records": len(fresh), "skipped": len(rows) - len(fresh)},
        )
    return len(fresh)


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
    authorize(ctx, "cluster.provision")
    if ctx.db.execute(select(UsageRecord.id).where(UsageRecord.key == key)).first():
        return None
    seconds = max(0, gpu_seconds)
    bucket = _open_bucket(ctx, award_id=award_id, gpu_model=gpu_model, month=month_of(ended_at))
    bucket.gpu_seconds += seconds
    bucket.records += 1
    usage = UsageRecord(
        key=key,
        source=source,
        job_id=job_id,
        award_id=award_id,
        gpu_model_code=gpu_model,
        gpu_seconds=seconds,
        started_at=started_at,
        ended_at=ended_at,
        recorded_at=ctx.now,
        bucket_id=bucket.id,
    )
    ctx.db.add(usage)
    ctx.db.flush()
    record(
        ctx, action="usage.record", object_type="usage", object_id=usage.id, after=row_dict(usage)
    )
    return usage


def used_gpu_seconds(ctx: Ctx, *, award_id: int) -> int:
    """GPU-seconds an award has used, from every source."""
    permit(ctx, "usage.read", application_id=project_of(ctx, award_id))
    total = ctx.db.execute(
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
    access = authorize(ctx, "usage.read")
    query = select(UsageRecord).order_by(UsageRecord.id)
    scope = awards_in_reach(access, UsageRecord.award_id)
    if scope is not None:
        query = query.where(scope)
    if award_id is not None:
        query = query.where(UsageRecord.award_id == award_id)
    if job_id is not None:
        query = query.where(UsageRecord.job_id == job_id)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())
