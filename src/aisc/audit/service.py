"""Write and verify the audit chain.

``record`` must be called inside the transaction of the change it describes (the edge commits
both or neither). Each event's hash is an HMAC-SHA256, under a key kept outside the database
(``aisc.audit.keys``), of its content and the hash of the event before it; the event names the
key's id so keys can be rotated. Someone who can write to the database but cannot read the key
file can neither edit an event nor re-chain the events after it.

``verify`` recomputes every hash and reports the first event that does not match: edited,
deleted, inserted or reordered rows all break the chain. Events written before the chain was
keyed (no ``key_id``) are checked with the plain SHA-256 they were written with; they may only
precede the keyed events, and the first keyed event seals them (its keyed hash covers the last
of them). Removing events from the end, and rewinding the head with them, leaves a shorter chain
that is still consistent: that is caught only against a checkpoint, a signed head exported for
safekeeping outside the platform (``checkpoint``), which ``verify`` checks the chain still
contains. ``deep=True`` also compares the money-bearing rows with what their events recorded
(``aisc.audit.deep``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Result, Row, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from aisc.access import authorize
from aisc.audit import keys
from aisc.audit.deep import Difference, compare_rows
from aisc.audit.models import AuditEvent, AuditHead
from aisc.context import Ctx
from aisc.errors import ValidationFailed

GENESIS = "0" * 64
CHECKPOINT_FORMAT = "aisc-audit-checkpoint/1"


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


def _material(
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
    key_id: str | None,
) -> bytes:
    fields: list[Any] = [
        seq,
        at.isoformat(),
        actor,
        action,
        object_type,
        object_id,
        before,
        after,
        prev_hash,
    ]
    if key_id is not None:  # unkeyed events were hashed without it; keep their hashes valid
        fields.append(key_id)
    return canonical_json(fields).encode()


# The statements of an append, built once (building one costs more than running it).
_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
_HEADS: Table = AuditHead.__table__  # type: ignore[assignment]
_NEW_HEAD = insert(_HEADS).values(id=1, seq=0, hash=GENESIS)
_APPEND = insert(_EVENTS).returning(_EVENTS.c.id)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def _lock_head(db: Session) -> tuple[int, str]:
    """The chain's head (sequence number and hash), locked until the transaction ends.

    Plain rows, not ORM objects: every change writes an event, so this is on every writing
    request's path. ``FOR UPDATE`` on PostgreSQL makes concurrent writers append one after the
    other (SQLite's write lock does the same); the first event creates the head row. Run
    through the session, so its pending changes are flushed first: the event follows the change
    it describes.
    """
    row = db.execute(_HEAD).first()
    if row is None:
        db.connection().execute(_NEW_HEAD)
        return 0, GENESIS
    return int(row.seq), str(row.hash)


def record(
    ctx: Ctx,
    *,
    action: str,
    object_type: str,
    object_id: int | str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event for a change made in ``ctx``'s transaction, chained with the current key.

    The head is locked first, then the event is inserted and the head moved to it, as plain
    statements on the session's connection (an ``AuditHead`` the session holds is expired, so
    it reads the new head).
    """
    head_seq, head_hash = _lock_head(ctx.db)
    ring = keys.load_or_create(keys.configured_key_file(), now=ctx.now, legacy_events=head_seq)
    key_id = ring.current.id
    seq = head_seq + 1
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
        "prev_hash": head_hash,
    }
    digest = ring.mac(key_id, _material(**fields, key_id=key_id))  # type: ignore[arg-type]
    assert digest is not None
    connection = ctx.db.connection()
    event_id = connection.execute(
        _APPEND, {**fields, "hash": digest, "key_id": key_id}
    ).scalar_one()
    connection.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": digest})
    held = ctx.db.identity_map.get(identity_key(AuditHead, 1))
    if held is not None:
        ctx.db.expire(held)
    return AuditEvent(id=event_id, **fields, hash=digest, key_id=key_id)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events_checked: int
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    reason: str | None = None
    legacy_events: int = 0
    checkpoint_seq: int | None = None
    rows_checked: int | None = None
    differences: list[Difference] = field(default_factory=list)


def _events(db: Session) -> Result[Any]:
    # Ordered by primary key (insertion order): reordering rows shows up as a seq or link break.
    # Plain rows in batches, not ORM objects: verifying the whole trail is the hot path of
    # `verify`. The caller closes the result (a server-side cursor on PostgreSQL).
    e = AuditEvent
    query = select(
        e.id, e.seq, e.at, e.actor, e.action, e.object_type, e.object_id,
        e.before, e.after, e.prev_hash, e.hash, e.key_id,
    ).order_by(e.id)  # fmt: skip
    return db.execute(query.execution_options(yield_per=2000))


@dataclass(frozen=True)
class _Chain:
    """What walking the chain found: where it broke, or where it ends."""

    bad: VerifyResult | None
    checked: int
    legacy: int
    hashes: dict[int, tuple[int, str]]  # seq -> (id, hash), for the checkpointed seq only


def _walk(db: Session, ring: keys.KeyRing | None, key_file: Path, watch: int | None) -> _Chain:
    events = _events(db)
    try:
        return _walk_events(db, events, ring, key_file, watch)
    finally:
        events.close()


def _walk_events(
    db: Session, events: Result[Any], ring: keys.KeyRing | None, key_file: Path, watch: int | None
) -> _Chain:
    prev_hash = GENESIS
    expected_seq = 1
    checked = legacy = 0
    keyed = False
    seen: dict[int, tuple[int, str]] = {}

    def broken(event: Row[Any], reason: str, seq: int | None = None) -> _Chain:
        result = VerifyResult(
            False, checked, event.seq if seq is None else seq, event.id, reason, legacy
        )
        return _Chain(result, checked, legacy, seen)

    for event in events:
        if event.seq != expected_seq:
            return broken(
                event,
                f"sequence jumps from {expected_seq - 1} to {event.seq} (event missing or moved)",
            )
        if event.prev_hash != prev_hash:
            return broken(event, "link to previous event broken")
        material = _material(
            seq=event.seq,
            at=event.at,
            actor=event.actor,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            before=event.before,
            after=event.after,
            prev_hash=event.prev_hash,
            key_id=event.key_id,
        )
        if event.key_id is None:
            if keyed:
                return broken(
                    event,
                    "an unkeyed event after the chain was keyed (written or rewritten "
                    "without the key)",
                )
            sealed = ring.legacy_events if ring is not None else None
            if sealed is not None and event.seq > sealed:
                return broken(
                    event,
                    f"an unkeyed event, but the chain was keyed from event {sealed + 1} on, "
                    f"when the key file {key_file} was created (written without the key, or "
                    "the key file belongs to another database)",
                )
            if hashlib.sha256(material).hexdigest() != event.hash:
                return broken(event, "content does not match its hash")
            legacy += 1
        else:
            keyed = True
            if ring is None:
                return broken(
                    event,
                    f"chained with key {event.key_id}, but there is no audit key file at "
                    f"{key_file} (set AISC_AUDIT_KEY_FILE)",
                )
            digest = ring.mac(event.key_id, material)
            if digest is None:
                return broken(
                    event,
                    f"chained with key {event.key_id}, which the key file {key_file} does not "
                    "hold (the wrong key file, or a forged key id)",
                )
            if digest != event.hash:
                return broken(
                    event,
                    "content does not match its keyed hash (edited and re-hashed without the "
                    "key, or verified with the wrong key)",
                )
        if event.seq == watch:
            seen[event.seq] = (event.id, event.hash)
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    head = db.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        result = VerifyResult(
            False,
            checked,
            head.seq,
            None,
            f"chain ends at event {expected_seq - 1} but the head records event {head.seq} "
            "(events removed from the end)",
            legacy,
        )
        return _Chain(result, checked, legacy, seen)
    return _Chain(None, checked, legacy, seen)


def verify(
    ctx: Ctx,
    *,
    checkpoint: Checkpoint | None = None,
    public_key: Ed25519PublicKey | None = None,
    deep: bool = False,
    key_file: Path | None = None,
) -> VerifyResult:
    """Recompute the chain; return the first broken event, if any.

    With ``checkpoint`` (signed by ``public_key``, or else by this deployment's signing key),
    the checkpointed event must still be in the chain with the same hash. With ``deep``, the
    money-bearing rows must still hold what their audit events recorded.
    """
    authorize(ctx, "audit.read")
    return _verify(ctx, checkpoint=checkpoint, public_key=public_key, deep=deep, key_file=key_file)


def _verify(
    ctx: Ctx,
    *,
    checkpoint: Checkpoint | None = None,
    public_key: Ed25519PublicKey | None = None,
    deep: bool = False,
    key_file: Path | None = None,
) -> VerifyResult:
    db = ctx.db
    key_file = key_file or keys.configured_key_file()
    if checkpoint is not None:
        _check_signature(checkpoint, public_key, key_file)
    ring = keys.load(key_file)
    chain = _walk(db, ring, key_file, checkpoint.seq if checkpoint else None)
    if chain.bad is not None:
        return chain.bad
    cp_seq = None
    if checkpoint is not None:
        cp_seq = checkpoint.seq
        found = chain.hashes.get(checkpoint.seq)
        if found is None:
            return VerifyResult(
                False,
                chain.checked,
                checkpoint.seq,
                checkpoint.event_id,
                f"the checkpoint of {checkpoint.at} vouches for event {checkpoint.seq}, but the "
                f"chain ends at event {chain.checked} (events removed from the end)",
                chain.legacy,
                cp_seq,
            )
        if found != (checkpoint.event_id, checkpoint.hash):
            return VerifyResult(
                False,
                chain.checked,
                checkpoint.seq,
                found[0],
                f"event {checkpoint.seq} is not the one the checkpoint of {checkpoint.at} "
                "vouches for (the chain was rewritten up to it)",
                chain.legacy,
                cp_seq,
            )
    if not deep:
        return VerifyResult(True, chain.checked, legacy_events=chain.legacy, checkpoint_seq=cp_seq)
    rows, differences = compare_rows(ctx)
    if differences:
        first = differences[0]
        return VerifyResult(
            False,
            chain.checked,
            first.seq,
            None,
            f"{len(differences)} money-bearing row field(s) differ from their audit events; "
            f"first: {first.describe()}",
            chain.legacy,
            cp_seq,
            rows,
            differences,
        )
    return VerifyResult(
        True,
        chain.checked,
        legacy_events=chain.legacy,
        checkpoint_seq=cp_seq,
        rows_checked=rows,
    )


def rotate_key(ctx: Ctx, *, key_file: Path | None = None) -> keys.HmacKey:
    """Make a new key current for the events to come; older keys stay to verify older events.

    ``audit.key``: the keys live in a file beside the platform, not in the database, so only
    the system (the command line, run by whoever holds that file) may change them.
    """
    authorize(ctx, "audit.key")
    key_file = key_file or keys.configured_key_file()
    head = ctx.db.get(AuditHead, 1)
    return keys.rotate(key_file, now=ctx.now, legacy_events=head.seq if head else 0)


# -- checkpoints ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed head: the last event when it was taken, for safekeeping outside the platform."""

    seq: int
    event_id: int
    hash: str
    count: int
    at: str
    public_key: str
    signature: str

    def body(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "seq": self.seq,
            "event_id": self.event_id,
            "hash": self.hash,
            "count": self.count,
            "at": self.at,
            "public_key": self.public_key,
        }

    def message(self) -> bytes:
        return canonical_json(self.body()).encode()

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}


def checkpoint(ctx: Ctx, *, key_file: Path | None = None) -> Checkpoint:
    """Sign the head of an intact chain (refused when the chain does not verify).

    ``audit.key``: it signs with (and on first use creates) the deployment's signing key.
    """
    authorize(ctx, "audit.key")
    db, now = ctx.db, ctx.now
    key_file = key_file or keys.configured_key_file()
    result = _verify(ctx, key_file=key_file)
    if not result.ok:
        raise ValidationFailed(
            f"the audit chain does not verify (event {result.first_bad_seq}: {result.reason}); "
            "a checkpoint would vouch for a broken chain",
            field="audit",
        )
    last = db.execute(
        select(AuditEvent.id, AuditEvent.seq, AuditEvent.hash)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    if last is None:
        raise ValidationFailed("the audit trail is empty: nothing to checkpoint", field="audit")
    private = keys.ensure_signing_key(key_file)
    unsigned = Checkpoint(
        seq=last.seq,
        event_id=last.id,
        hash=last.hash,
        count=result.events_checked,
        at=now.astimezone(UTC).isoformat(timespec="seconds"),
        public_key=keys.public_key_text(private.public_key()),
        signature="",
    )
    return replace(unsigned, signature=keys.sign(private, unsigned.message()))


def read_checkpoint(text: str) -> Checkpoint:
    """Parse an exported checkpoint (its signature is checked by ``verify``)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"checkpoint: not JSON ({exc})", field="checkpoint") from exc
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValidationFailed(
            f"checkpoint: not an audit checkpoint (format {CHECKPOINT_FORMAT} expected)",
            field="checkpoint",
        )
    types = {"seq": int, "event_id": int, "count": int}
    for name in ("seq", "event_id", "hash", "count", "at", "public_key", "signature"):
        value = data.get(name)
        wanted = types.get(name, str)
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise ValidationFailed(
                f"checkpoint.{name}: missing or not a {wanted.__name__}", field=f"checkpoint.{name}"
            )
    return Checkpoint(
        seq=data["seq"],
        event_id=data["event_id"],
        hash=data["hash"],
        count=data["count"],
        at=data["at"],
        public_key=data["public_key"],
        signature=data["signature"],
    )


def _check_signature(
    checkpoint: Checkpoint, public_key: Ed25519PublicKey | None, key_file: Path
) -> None:
    if public_key is None:
        path = keys.signing_key_file(key_file)
        if not path.exists():
            raise ValidationFailed(
                f"checkpoint: no signing key at {path} to check it against; pass the public key "
                "it was published with",
                field="public_key",
            )
        public_key = keys.load_signing_key(path).public_key()
    if keys.public_key_text(public_key) != checkpoint.public_key:
        raise ValidationFailed(
            "checkpoint: signed by another key than the one it is checked against",
            field="checkpoint.public_key",
        )
    if not keys.signature_valid(public_key, checkpoint.message(), checkpoint.signature):
        raise ValidationFailed(
            "checkpoint: the signature does not match its content (the file was altered)",
            field="checkpoint.signature",
        )


def list_events(
    ctx: Ctx,
    *,
    action: str | None = None,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEvent]:
    """Audit events, oldest first, filtered by actor, action, object and time (``audit.read``)."""
    authorize(ctx, "audit.read")
    query = select(AuditEvent).order_by(AuditEvent.seq)
    since = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
    until = until.replace(tzinfo=UTC) if until and until.tzinfo is None else until
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    if since:
        query = query.where(AuditEvent.at >= since)
    if until:
        query = query.where(AuditEvent.at < until)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())
