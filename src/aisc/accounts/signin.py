"""Signing in with a password without holding the database while hashing.

A password check costs about 0.2 s of argon2 on purpose; on SQLite a write transaction holds
the one database lock, so hashing inside one stalls every other writer (and, before reads
stopped taking the lock, every reader). The edge (the API's login route, the portal's sign-in
form) therefore runs three steps:

1. ``read_attempt(ctx, email=..., source=...)`` in a *read* transaction: who the e-mail names
   and whether this source may try that account now.
2. ``check_password(attempt, password, slots=...)`` in no transaction at all: exactly one
   argon2 operation whatever the case, so unknown, inactive, password-less and locked accounts
   are refused in the time a wrong password takes (no account probing by timing). At most
   ``slots`` checks run at once in a process (``aisc.ratelimit.HashSlots``).
3. ``record_attempt(ctx, attempt=..., verdict=...)`` in a short *write* transaction: re-reads
   the person (a password change, a deactivation or a lock that happened during the check
   wins), counts the failure or clears it, audits, and returns the person on success.

Throttling, from the outside in:

- per client address, at the edge: ``settings.sign_in_per_minute`` attempts a minute, known and
  unknown e-mails alike (429 with ``Retry-After``);
- per account and source: ``MAX_FAILURES`` failures in a row (each within ``LOCKOUT`` of the
  last) lock *that source* out of *that account* for ``LOCKOUT``. Other addresses are
  unaffected, so a flood from one address cannot keep the owner out;
- per account: when ``LOCKED_SOURCES`` different sources are locked out of one account at the
  same time (guessing spread over many addresses), the account is locked everywhere for
  ``LOCKOUT``; its owner can still get in by resetting the password by e-mail.

Every refusal says the same thing ("invalid e-mail or password") in the same time, locked or
not. The trail: ``login.ok``, ``login.failed`` (a wrong password, an inactive or password-less
account; with the source and reason) and ``login.locked`` (attempts refused by a lock, audited
at the 1st, 10th, 100th ... of a lock) on the person; failures for e-mails that name no
account are counted per source and hour in ``unknown_sign_ins`` and audited as
``login.unknown`` when the count reaches 1, 10, 100, ... (carrying the count), so a flood adds a
handful of events, not one per attempt. The e-mail tried is never recorded (people type
passwords into the e-mail field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from aisc.access import authorize
from aisc.accounts import auth
from aisc.accounts.models import Person, SignInFailure, UnknownSignIns
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.ratelimit import HashSlots, client_key

MAX_FAILURES = auth.MAX_FAILURES
LOCKOUT = auth.LOCKOUT
LOCKED_SOURCES = 10


@dataclass(frozen=True)
class Attempt:
    """What step 1 read: enough to check the password without the database."""

    email: str
    source: str
    person_id: int | None
    password_hash: str | None  # None: nothing to check against (the attempt fails)
    refusal: str | None  # refused whatever the password: unknown, inactive, no_password, locked


@dataclass(frozen=True)
class Verdict:
    matches: bool
    new_hash: str | None = None  # the password re-hashed at today's parameters, if they changed


def read_attempt(ctx: Ctx, *, email: str, source: str) -> Attempt:
    """Step 1 (read transaction): the account an e-mail names and whether it may be tried."""
    authorize(ctx, "session.start")  # before there is a principal: anyone may try
    email = email.strip().lower()
    source = client_key(source)[:64]
    person = ctx.db.execute(select(Person).where(Person.email == email)).scalar_one_or_none()
    if person is None:
        return Attempt(email, source, None, None, "unknown")
    refusal = None
    if not person.is_active:
        refusal = "inactive"
    elif person.password_hash is None:
        refusal = "no_password"
    elif _locked(ctx, person, source):
        refusal = "locked"
    return Attempt(email, source, person.id, person.password_hash, refusal)


def check_password(attempt: Attempt, password: str, *, slots: HashSlots | None = None) -> Verdict:
    """Step 2 (no transaction): one argon2 operation, whatever the attempt."""
    if slots is None:
        return _check(attempt, password)
    with slots.slot():
        return _check(attempt, password)


def _check(attempt: Attempt, password: str) -> Verdict:
    hasher = auth._hasher
    if attempt.password_hash is None:
        hasher.hash(password)  # the same time as a real check: no account probing
        return Verdict(matches=False)
    try:
        hasher.verify(attempt.password_hash, password)  # also when locked: the same time
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verdict(matches=False)
    if attempt.refusal is None and hasher.check_needs_rehash(attempt.password_hash):
        return Verdict(matches=True, new_hash=hasher.hash(password))
    return Verdict(matches=True)


def record_attempt(ctx: Ctx, *, attempt: Attempt, verdict: Verdict) -> Person | None:
    """Step 3 (write transaction): the signed-in person, or None with the failure recorded."""
    authorize(ctx, "session.start")
    if attempt.person_id is None:
        _count_unknown(ctx, attempt.source)
        return None
    person = ctx.db.get(Person, attempt.person_id)
    if person is None:  # deleted since step 1
        _count_unknown(ctx, attempt.source)
        return None
    refusal = attempt.refusal
    if refusal is None:  # what step 1 saw may have changed during the check
        if not person.is_active:
            refusal = "inactive"
        elif person.password_hash != attempt.password_hash:
            refusal = "password_changed"
        elif _locked(ctx, person, attempt.source):
            refusal = "locked"
    if refusal == "locked":
        _count_locked(ctx, person, attempt.source)
        return None
    if refusal is not None or not verdict.matches:
        _count_failure(ctx, person, attempt.source, reason=refusal or "wrong_password")
        return None
    if verdict.new_hash is not None:
        person.password_hash = verdict.new_hash
    person.failed_logins = 0
    ctx.db.execute(
        delete(SignInFailure).where(
            SignInFailure.person_id == person.id, SignInFailure.source == attempt.source
        )
    )
    record(
        ctx,
        action="login.ok",
        object_type="person",
        object_id=person.id,
        after={"source": attempt.source},
    )
    return person


def _locked(ctx: Ctx, person: Person, source: str) -> bool:
    if person.locked_until is not None and person.locked_until > ctx.now:
        return True
    row = ctx.db.get(SignInFailure, (person.id, source))
    return row is not None and row.locked_until is not None and row.locked_until > ctx.now


C = TypeVar("C", SignInFailure, UnknownSignIns)


def _insert(session: Session) -> Callable[..., Any]:
    """The dialect's INSERT, for ``ON CONFLICT DO NOTHING`` (a row two attempts create at once)."""
    name = session.get_bind().dialect.name
    return pg_insert if name == "postgresql" else sqlite_insert


def _counter(ctx: Ctx, model: type[C], **key: Any) -> C:
    """The counter row of ``model`` for ``key``, created at zero if missing and locked for this
    transaction (an insert that does nothing on conflict, then ``SELECT ... FOR UPDATE``, so two
    concurrent failures both count on either database)."""
    ctx.db.execute(
        _insert(ctx.db)(model.__table__)
        .values(**key, failures=0, last_at=ctx.now)
        .on_conflict_do_nothing()
    )
    found: C = ctx.db.execute(
        select(model).filter_by(**key).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    return found


def _failure_row(ctx: Ctx, person_id: int, source: str) -> SignInFailure:
    """The (account, source) counter, created if missing and locked for this transaction."""
    return _counter(ctx, SignInFailure, person_id=person_id, source=source)


def _count_failure(ctx: Ctx, person: Person, source: str, *, reason: str) -> None:
    row = _failure_row(ctx, person.id, source)
    if row.last_at <= ctx.now - LOCKOUT or (
        row.locked_until is not None and row.locked_until <= ctx.now
    ):
        row.failures, row.locked_until = 0, None  # not "in a row" any more, or a lock served
    row.failures += 1
    row.last_at = ctx.now
    person.failed_logins += 1
    if row.failures >= MAX_FAILURES:
        row.locked_until = ctx.now + LOCKOUT
        row.failures = 0  # from now on: attempts refused by the lock
        ctx.db.flush()
        _lock_everywhere_if_spread(ctx, person)
    ctx.db.flush()
    record(
        ctx,
        action="login.failed",
        object_type="person",
        object_id=person.id,
        after={
            "source": source,
            "reason": reason,
            "source_locked_until": row.locked_until,
            "locked_until": person.locked_until,
        },
    )


def _lock_everywhere_if_spread(ctx: Ctx, person: Person) -> None:
    locked = ctx.db.execute(
        select(func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.person_id == person.id, SignInFailure.locked_until > ctx.now)
    ).scalar_one()
    if locked >= LOCKED_SOURCES:
        person.locked_until = ctx.now + LOCKOUT


def _count_locked(ctx: Ctx, person: Person, source: str) -> None:
    row = _failure_row(ctx, person.id, source)
    row.failures += 1
    row.last_at = ctx.now
    ctx.db.flush()
    if _milestone(row.failures):
        record(
            ctx,
            action="login.locked",
            object_type="person",
            object_id=person.id,
            after={
                "source": source,
                "refused": row.failures,
                "source_locked_until": row.locked_until,
                "locked_until": person.locked_until,
            },
        )


def _count_unknown(ctx: Ctx, source: str) -> None:
    row = _counter(ctx, UnknownSignIns, source=source, window_start=_window_start(ctx.now))
    row.failures += 1
    row.last_at = ctx.now
    ctx.db.flush()
    if _milestone(row.failures):
        record(
            ctx,
            action="login.unknown",
            object_type="sign_in_source",
            object_id=row.id,
            after={"source": source, "window_start": row.window_start, "failures": row.failures},
        )


def _window_start(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def _milestone(count: int) -> bool:
    """1, 10, 100, 1000, ...: a handful of audit events however long a flood lasts."""
    while count % 10 == 0:
        count //= 10
    return count == 1
