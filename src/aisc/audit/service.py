"""Write and verify the audit chain.

``record`` must be called inside the transaction of the change it describes (the edge commits
both or neither). ``verify`` recomputes every hash and reports the first event that does not
match: edited, deleted, inserted or reordered rows all break the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aisc.audit.models import AuditEvent, AuditHead
from aisc.context import Ctx

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot audit a value of type {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_default)


def _event_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    before: str,
    after: str,
    prev_hash: str,
) -> str:
    material = canonical_json(
        [seq, at.isoformat(), actor, action, object_type, object_id, before, after, prev_hash]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _lock_head(db: Session) -> AuditHead:
    head = db.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        db.add(head)
        db.flush()
    return head


def record(
    ctx: Ctx,
    *,
    action: str,
    object_type: str,
    object_id: int | str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event for a change made in ``ctx``'s transaction."""
    head = _lock_head(ctx.db)
    seq = head.seq + 1
    at = ctx.now.astimezone(UTC)
    fields = {
        "seq": seq,
        "at": at,
        "actor": ctx.actor,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "before": canonical_json(before or {}),
        "after": canonical_json(after or {}),
        "prev_hash": head.hash,
    }
    digest = _event_hash(**fields)  # type: ignore[arg-type]
    event = AuditEvent(**fields, hash=digest)
    ctx.db.add(event)
    head.seq = seq
    head.hash = digest
    ctx.db.flush()
    return event


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events_checked: int
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    reason: str | None = None


def _iter_events(db: Session) -> Iterator[AuditEvent]:
    # Ordered by primary key (insertion order): reordering rows shows up as a seq or link break.
    yield from db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()


def verify(db: Session) -> VerifyResult:
    """Recompute the chain; return the first broken event, if any."""
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    for event in _iter_events(db):
        if event.seq != expected_seq:
            return VerifyResult(
                False,
                checked,
                event.seq,
                event.id,
                f"sequence jumps from {expected_seq - 1} to {event.seq} (event missing or moved)",
            )
        if event.prev_hash != prev_hash:
            return VerifyResult(
                False, checked, event.seq, event.id, "link to previous event broken"
            )
        digest = _event_hash(
            seq=event.seq,
            at=event.at,
            actor=event.actor,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            before=event.before,
            after=event.after,
            prev_hash=event.prev_hash,
        )
        if digest != event.hash:
            return VerifyResult(
                False, checked, event.seq, event.id, "content does not match its hash"
            )
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    head = db.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        return VerifyResult(
            False,
            checked,
            head.seq,
            None,
            f"chain ends at event {expected_seq - 1} but the head records event {head.seq} "
            "(events removed from the end)",
        )
    return VerifyResult(True, checked)


def list_events(
    db: Session,
    *,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.seq)
    since = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
    until = until.replace(tzinfo=UTC) if until and until.tzinfo is None else until
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    if since:
        query = query.where(AuditEvent.at >= since)
    if until:
        query = query.where(AuditEvent.at < until)
    return list(db.execute(query.limit(limit).offset(offset)).scalars())
