"""Ending everything a person is signed in with, at once.

A password change, a reset, a deactivation and a staff member's "sign out everywhere" all come
here: every browser session and API token of the person is revoked (``revoked_at`` set, so a
later reactivation revives nothing), and outstanding reset links are spent. The caller's own
browser session may be kept (a person changing their own password stays signed in where they
did it). Rows are revoked, not deleted, so the audit trail and the token list still show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, update

from aisc.access import authorize
from aisc.accounts.models import ApiToken, PasswordReset, WebSession
from aisc.audit.service import record
from aisc.context import Ctx


@dataclass(frozen=True)
class Ended:
    """How many sessions and tokens a sign-out ended."""

    person_id: int
    sessions: int
    tokens: int


def end_everything(
    ctx: Ctx, *, person_id: int, reason: str, keep_session_id: int | None = None
) -> Ended:
    """Revoke every live session and token of ``person_id`` (but ``keep_session_id``).

    A step of signing out, a password change or reset, or deactivating an account: the
    callers check who may do those; ending sessions itself is open (``session.end``).
    """
    authorize(ctx, "session.end")
    ctx.db.flush()
    sessions_q = (
        update(WebSession)
        .where(WebSession.person_id == person_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=ctx.now)
    )
    if keep_session_id is not None:
        sessions_q = sessions_q.where(WebSession.id != keep_session_id)
    sessions = cast(CursorResult[Any], ctx.db.execute(sessions_q)).rowcount
    revoked = ctx.db.execute(
        update(ApiToken)
        .where(ApiToken.person_id == person_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=ctx.now)
    )
    tokens = cast(CursorResult[Any], revoked).rowcount
    ctx.db.execute(
        update(PasswordReset)
        .where(PasswordReset.person_id == person_id, PasswordReset.used_at.is_(None))
        .values(used_at=ctx.now)
    )
    ended = Ended(person_id=person_id, sessions=int(sessions or 0), tokens=int(tokens or 0))
    record(
        ctx,
        action="person.sessions_end",
        object_type="person",
        object_id=person_id,
        after={
            "reason": reason,
            "sessions": ended.sessions,
            "tokens": ended.tokens,
            "kept_session_id": keep_session_id,
        },
    )
    return ended
