"""Burn alerts at 50, 80 and 100% of an award, stored once and queued for the project team.

The alert and its outbox message are written in the caller's transaction (the billing run's):
a run that rolls back leaves neither, and nothing is sent before the run commits. The outbox's
worker delivers them (``aisc.outbox``); a listed notification shows when it went out.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from aisc.access import authorize, awards_in_reach
from aisc.applications.models import RequestKind
from aisc.audit.service import record
from aisc.awards.models import Award
from aisc.billing import notify
from aisc.billing.models import (
    CHARGED_STATUSES,
    Notification,
)
from aisc.billing.schemas import NotificationRead
from aisc.context import Ctx
from aisc.metering.models import UsageBucket
from aisc.outbox import service as outbox

BURN_THRESHOLDS = (50, 80, 100)


def burn_pct(award: Award, *, drawn: int, used_seconds: int) -> int:
    """How much of the award is used, in whole percent: the subsidy drawn from its cap, or
    for pooled awards the granted GPU-hours used, whichever is further along."""
    pct = drawn * 100 // award.subsidy_cap_cents if award.subsidy_cap_cents else 0
    if award.kind is RequestKind.POOLED and award.gpu_hours:
        pct = max(pct, used_seconds * 100 // (award.gpu_hours * 3600))
    return pct


def check_burn(ctx: Ctx) -> list[Notification]:
    """Store (once) and queue a notification for each award passing 50, 80 or 100%.

    Part of the monthly run (``billing.run``), in its transaction.
    """
    authorize(ctx, "billing.run")
    from aisc.ledger.models import EntryKind, LedgerEntry

    sent = set(ctx.db.execute(select(Notification.award_id, Notification.kind)).all())
    used = dict(
        ctx.db.execute(
            select(UsageBucket.award_id, func.sum(UsageBucket.gpu_seconds)).group_by(
                UsageBucket.award_id
            )
        ).all()
    )
    drawn: dict[int, int] = defaultdict(int)
    for award_id, entry_kind, amount in ctx.db.execute(
        select(LedgerEntry.award_id, LedgerEntry.kind, func.sum(LedgerEntry.amount_cents))
        .where(LedgerEntry.kind.in_((EntryKind.DISBURSEMENT, EntryKind.REVERSAL)))
        .group_by(LedgerEntry.award_id, LedgerEntry.kind)
    ):
        sign = 1 if entry_kind is EntryKind.DISBURSEMENT else -1
        drawn[int(award_id or 0)] += sign * int(amount)
    made = []
    for award in ctx.db.execute(
        select(Award).where(Award.status.in_(CHARGED_STATUSES)).order_by(Award.id)
    ).scalars():
        pct = burn_pct(award, drawn=drawn[award.id], used_seconds=int(used.get(award.id, 0)))
        for threshold in BURN_THRESHOLDS:
            kind = f"burn_{threshold}"
            if pct < threshold or (award.id, kind) in sent:
                continue
            note = Notification(
                award_id=award.id,
                kind=kind,
                message=(
                    f"Award {award.id} ({award.title}) has used {pct}% of its grant "
                    f"(alert at {threshold}%)."
                ),
                created_at=ctx.now,
            )
            ctx.db.add(note)
            ctx.db.flush()
            notify.queue(ctx, note)
            record(
                ctx,
                action="notification.burn",
                object_type="award",
                object_id=award.id,
                after={"kind": kind, "pct": pct},
            )
            made.append(note)
    return made


def list_notifications(
    ctx: Ctx, *, award_id: int | None = None, limit: int = 100, offset: int = 0
) -> list[NotificationRead]:
    """Stored burn alerts in the caller's reach, each with how it left (from its outbox
    message; not yet: no time and no channel)."""
    access = authorize(ctx, "billing.read")
    query = select(Notification).order_by(Notification.id)
    scope = awards_in_reach(access, Notification.award_id)
    if scope is not None:
        query = query.where(scope)
    if award_id is not None:
        query = query.where(Notification.award_id == award_id)
    notes = list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())
    sent = outbox.delivered_by_key(ctx, [notify.outbox_key(n) for n in notes])
    views = []
    for note in notes:
        message = sent.get(notify.outbox_key(note))
        views.append(
            NotificationRead(
                id=note.id,
                award_id=note.award_id,
                kind=note.kind,
                message=note.message,
                created_at=note.created_at,
                delivered_at=message.delivered_at if message else None,
                channel=message.channel if message else "",
            )
        )
    return views
