"""Writing, claiming and settling outbox messages (see the package docstring).

``enqueue`` runs inside the deciding service's transaction. ``claim_due``, ``_record_sent`` and
``_record_failure`` each run in a short transaction of the delivery worker's own; nothing here
sends anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select

from aisc.access import authorize
from aisc.context import Ctx
from aisc.errors import Conflict, NotFound, ValidationFailed
from aisc.outbox.channels import Outgoing
from aisc.outbox.models import OutboxMessage

# How long a claim holds a message: far beyond one SMTP conversation (10 s timeout), so a live
# worker records before it lapses; a dead worker's claim lapses and the message goes again.
CLAIM_LEASE = timedelta(minutes=5)
# After the n-th failed attempt the next one waits FIRST_RETRY * 2**(n-1), at most MAX_RETRY.
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
# Eight attempts span about an hour of backoff; then the message is given up, and stays listed.
MAX_ATTEMPTS = 8
REDACTED = "[delivered; the body held a secret and is no longer kept]"


def enqueue(
    ctx: Ctx,
    *,
    key: str,
    kind: str,
    to: Sequence[str],
    subject: str,
    body: str,
    sensitive: bool = False,
) -> OutboxMessage | None:
    """Queue one message in the caller's transaction; None if ``key`` was queued before.

    Nothing leaves until that transaction commits and a worker delivers it.
    """
    recipients = sorted({address.strip() for address in to if address.strip()})
    if not recipients:
        raise ValidationFailed(f"outbox message {key}: no recipients", field="to")
    exists = ctx.db.execute(
        select(OutboxMessage.id).where(OutboxMessage.key == key)
    ).scalar_one_or_none()
    if exists is not None:
        return None
    message = OutboxMessage(
        key=key,
        kind=kind,
        recipients=recipients,
        subject=subject,
        body=body,
        sensitive=sensitive,
        created_at=ctx.now,
        attempts=0,
        next_attempt_at=ctx.now,
        channel="",
        last_error="",
    )
    ctx.db.add(message)
    ctx.db.flush()
    return message


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure."""
    return min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 20)), MAX_RETRY)


def claim_due(ctx: Ctx, *, limit: int = 50) -> list[Outgoing]:
    """Claim up to ``limit`` due messages for this worker until ``now + CLAIM_LEASE``.

    On PostgreSQL the rows are locked with SKIP LOCKED, so two workers claiming at once get
    different messages; on SQLite the write transaction itself is the lock. A message claimed
    ``MAX_ATTEMPTS`` times is given up here when no attempt ever recorded an outcome (its
    worker kept dying).
    """
    authorize(ctx, "metrics.read")
    rows = ctx.db.execute(
        select(OutboxMessage)
        .where(
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.gave_up_at.is_(None),
            OutboxMessage.next_attempt_at <= ctx.now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    claimed = []
    for message in rows:
        if message.attempts >= MAX_ATTEMPTS:
            _give_up(ctx, message, message.last_error or "claimed without a recorded outcome")
            continue
        message.attempts += 1
        message.next_attempt_at = ctx.now + CLAIM_LEASE
        claimed.append(
            Outgoing(
                id=message.id,
                key=message.key,
                kind=message.kind,
                to=tuple(message.recipients),
                subject=message.subject,
                body=message.body,
                created_at=message.created_at,
            )
        )
    ctx.db.flush()
    return claimed


def _locked(ctx: Ctx, message_id: int) -> OutboxMessage:
    message = ctx.db.execute(
        select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update()
    ).scalar_one_or_none()
    if message is None:
        raise NotFound(f"outbox message {message_id} not found", field="id")
    return message


def _record_sent(ctx: Ctx, *, message_id: int, channel: str) -> None:
    """The message left through ``channel``: it is done (a second record changes nothing)."""
    message = _locked(ctx, message_id)
    if message.delivered_at is not None:
        return
    message.delivered_at, message.channel, message.gave_up_at = ctx.now, channel, None
    if message.sensitive:
        message.body = REDACTED


def _record_failure(ctx: Ctx, *, message_id: int, error: str) -> None:
    """The attempt failed: try again after the backoff, or give up after ``MAX_ATTEMPTS``."""
    message = _locked(ctx, message_id)
    if message.delivered_at is not None:
        return  # another worker's attempt (after a lapsed claim) got it out
    if message.attempts >= MAX_ATTEMPTS:
        _give_up(ctx, message, error)
        return
    message.last_error = error[:2000]
    message.next_attempt_at = ctx.now + backoff(message.attempts)


def _give_up(ctx: Ctx, message: OutboxMessage, error: str) -> None:
    message.gave_up_at, message.last_error = ctx.now, error[:2000]
    if message.sensitive:
        message.body = REDACTED


def retry(ctx: Ctx, *, message_id: int) -> OutboxMessage:
    """Make a given-up (or waiting) message due now, with its attempts counted afresh."""
    authorize(ctx, "metrics.read")
    message = _locked(ctx, message_id)
    if message.delivered_at is not None:
        raise Conflict(f"outbox message {message_id} was delivered already", field="id")
    if message.sensitive and message.body == REDACTED:
        raise Conflict(
            f"outbox message {message_id} held a secret that is no longer kept; ask for a new "
            "one (e.g. a new reset link)",
            field="id",
        )
    message.attempts, message.gave_up_at, message.next_attempt_at = 0, None, ctx.now
    return message


def list_messages(
    ctx: Ctx, *, undelivered: bool = False, limit: int = 100, offset: int = 0
) -> list[OutboxMessage]:
    """The outbox, oldest first; ``undelivered``: only what has not left (given up included)."""
    authorize(ctx, "metrics.read")
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if undelivered:
        query = query.where(OutboxMessage.delivered_at.is_(None))
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def delivered_by_key(ctx: Ctx, keys: Sequence[str]) -> dict[str, OutboxMessage]:
    """The messages queued under ``keys`` (for a domain showing whether its notes went out)."""
    if not keys:
        return {}
    rows = ctx.db.execute(select(OutboxMessage).where(OutboxMessage.key.in_(list(keys))))
    return {m.key: m for m in rows.scalars()}


def due_at(message: OutboxMessage) -> datetime | None:
    """When a worker may next try, or None when nothing more will be tried."""
    if message.delivered_at is not None or message.gave_up_at is not None:
        return None
    return message.next_attempt_at
