"""Sign-in, passwords, browser sessions and API tokens.

- Passwords are hashed with argon2 (never stored or audited in clear) and must meet a policy
  after NIST SP 800-63B: 12 to 256 characters, no composition rules, and not easy to guess as
  zxcvbn judges it (common passwords, dictionary words, keyboard patterns, dates, and the
  person's own e-mail address and name).
- Sign-in is throttled: after ``MAX_FAILURES`` failures in a row from one client address that
  address is locked out of the account for ``LOCKOUT`` (and the account everywhere when many
  addresses are); while locked even the right password is refused. Failures are recorded (the
  edge commits them) and every refusal says only "invalid e-mail or password". The steps, and
  why the password is hashed outside any transaction, are in ``aisc.accounts.signin``.
- A new password (set by the operator, changed by the person, or through a reset e-mail) ends
  every session and token of the person (``aisc.accounts.sessions``); a person changing their
  own keeps the browser session they did it in. A reset link is single-use, expires after
  ``RESET_VALID`` and is stored as its SHA-256; it also lifts a lockout, so a locked-out owner
  can always get back in.
- API tokens are random (256 bits), shown once, stored as their SHA-256, scoped, expiring and
  revocable.
- The portal's sign-in form carries a one-time token (against login CSRF); a used one is
  remembered and refused if presented again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.orm import lazyload
from zxcvbn import zxcvbn

from aisc.access import Role, acting_person, authorize
from aisc.accounts.models import (
    ApiToken,
    Membership,
    PasswordReset,
    Person,
    PersonRole,
    SignInFailure,
    UsedLoginToken,
    WebSession,
)
from aisc.accounts.service import get_person, view_person
from aisc.accounts.sessions import Ended, end_everything
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed

MIN_LENGTH = 12
# Long enough for any passphrase, short enough that hashing and the strength check stay cheap.
MAX_LENGTH = 256
# zxcvbn scores 0 (too guessable) to 4; 3 is "safely unguessable" against an offline attack
# on a slow hash. zxcvbn's run time grows fast with length, so it judges the first 72
# characters (its own default bound); a longer password is at least that strong.
MIN_SCORE = 3
JUDGED_LENGTH = 72
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SCOPES = frozenset({"read", "write"})
TOKEN_PREFIX = "aisc_"
MAX_TOKEN_DAYS = 365
# argon2id at RFC 9106's low-memory parameters (t=3, 64 MiB, p=4): about 0.2 s a hash on purpose.
_hasher = PasswordHasher()


class WrongPassword(Forbidden):
    """The current password given to change it is not right."""

    code = "wrong_password"


def _user_inputs(email: str, name: str) -> list[str]:
    """Words of the person's own that a password should not be built from."""
    local, _, domain = email.lower().partition("@")
    words = [email.lower(), local, *local.replace(".", " ").replace("_", " ").split()]
    words += [part for part in domain.split(".") if len(part) > 2]
    words += [name.lower(), *name.lower().split()]
    return [w for w in dict.fromkeys(words) if w]


def check_password_policy(
    password: str, *, email: str, name: str = "", field: str = "password"
) -> None:
    """Refuse a password that is too short, too long or easy to guess (a clear message)."""
    problem = None
    local = email.split("@")[0].lower()
    if len(password) < MIN_LENGTH:
        problem = f"needs at least {MIN_LENGTH} characters (a few unrelated words work well)"
    elif len(password) > MAX_LENGTH:
        problem = f"at most {MAX_LENGTH} characters"
    elif len(local) >= 3 and local in password.lower():
        problem = "must not contain your e-mail address"
    else:
        verdict = zxcvbn(password[:JUDGED_LENGTH], user_inputs=_user_inputs(email, name))
        if verdict["score"] < MIN_SCORE:
            why = verdict["feedback"].get("warning") or "it follows a common pattern"
            problem = (
                f"too easy to guess ({why.rstrip('.')}); use a longer phrase of unrelated words"
            )
    if problem is not None:
        raise ValidationFailed(f"{field}: {problem}", field=field)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_password(stored: str | None, password: str) -> bool:
    if stored is None:
        _hasher.hash(password)  # the same time as a real check
        return False
    try:
        return bool(_hasher.verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _new_password(ctx: Ctx, person: Person, password: str, field: str = "password") -> None:
    check_password_policy(password, email=person.email, name=person.name, field=field)
    person.password_hash = hash_password(password)
    person.failed_logins, person.locked_until = 0, None
    # A new password also lifts every per-address lock: the owner starts clean.
    ctx.db.execute(delete(SignInFailure).where(SignInFailure.person_id == person.id))


def set_password(ctx: Ctx, *, person_id: int, password: str) -> Person:
    """The operator sets a person's password: every session and token of theirs ends."""
    authorize(ctx, "person.manage")
    person = get_person(ctx, person_id=person_id)
    _new_password(ctx, person, password)
    ctx.db.flush()
    record(
        ctx,
        action="person.password",
        object_type="person",
        object_id=person.id,
        after={"password": "changed"},
    )
    end_everything(ctx, person_id=person.id, reason="password set")
    return person


def authenticate(ctx: Ctx, *, email: str, password: str, source: str = "local") -> Person | None:
    """The person whose credentials these are, or None (failures are recorded, not raised).

    All of ``aisc.accounts.signin``'s steps in the caller's transaction, so the password is
    hashed while it is open: for tools and tests. Servers run the steps themselves, hashing
    between a read and a write transaction, so a sign-in never holds the database lock.
    """
    from aisc.accounts import signin

    attempt = signin.read_attempt(ctx, email=email, source=source)
    verdict = signin.check_password(attempt, password)
    return signin.record_attempt(ctx, attempt=attempt, verdict=verdict)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    ctx: Ctx, *, person_id: int | None, name: str, scopes: list[str], days: int = 30
) -> tuple[str, ApiToken]:
    """A new token for ``person_id`` (a signed-in person: only their own).

    The secret is returned once and never stored.
    """
    authorize(ctx, "session.manage")
    person = get_person(ctx, person_id=acting_person(ctx, person_id, field="person_id"))
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise ValidationFailed(f"scopes: choose from {', '.join(sorted(SCOPES))}", field="scopes")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationFailed(f"days: between 1 and {MAX_TOKEN_DAYS}", field="days")
    if not name.strip():
        raise ValidationFailed("name: a token needs a name", field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        person_id=person.id,
        name=name.strip()[:100],
        prefix=secret[:12],
        secret_hash=_digest(secret),
        scopes=" ".join(sorted(set(scopes))),
        created_at=ctx.now,
        expires_at=ctx.now + timedelta(days=days),
    )
    ctx.db.add(token)
    ctx.db.flush()
    record(
        ctx,
        action="token.create",
        object_type="api_token",
        object_id=token.id,
        after={
            "person_id": person.id,
            "name": token.name,
            "prefix": token.prefix,
            "scopes": token.scopes,
            "expires_at": token.expires_at,
        },
    )
    return secret, token


def list_tokens(ctx: Ctx, *, person_id: int | None = None) -> list[ApiToken]:
    """Tokens (a signed-in person sees only their own)."""
    authorize(ctx, "session.read")
    if ctx.principal.person_id is not None:
        person_id = acting_person(ctx, person_id, field="person_id")
    query = select(ApiToken).order_by(ApiToken.id)
    if person_id is not None:
        query = query.where(ApiToken.person_id == person_id)
    return list(ctx.db.execute(query).scalars())


def revoke_token(ctx: Ctx, *, token_id: int) -> ApiToken:
    """Revoke a token (a signed-in person: only their own; others' are "not found")."""
    authorize(ctx, "session.manage")
    token = ctx.db.get(ApiToken, token_id)
    mine = ctx.principal.person_id
    if token is None or (mine is not None and token.person_id != mine):
        raise NotFound(f"token {token_id} not found", field="token_id")
    if token.revoked_at is not None:
        raise InvalidTransition(f"token {token_id} is already revoked", field="token_id")
    token.revoked_at = ctx.now
    ctx.db.flush()
    record(ctx, action="token.revoke", object_type="api_token", object_id=token.id)
    return token


def resolve_token(ctx: Ctx, *, secret: str) -> tuple[Person, frozenset[str]] | None:
    """The person and scopes a presented token stands for, or None if it is not valid now."""
    authorize(ctx, "session.start")  # before there is a principal: anyone may present one
    if not secret.startswith(TOKEN_PREFIX):
        return None
    found = ctx.db.execute(
        _with_person(ApiToken).where(ApiToken.secret_hash == _digest(secret))
    ).first()
    if found is None:
        return None
    token, person = found
    if token.revoked_at is not None or token.expires_at <= ctx.now or not person.is_active:
        return None
    return person, frozenset(token.scopes.split())


@dataclass(frozen=True)
class Caller:
    """Who presented a valid token or session cookie: what a request's principal is made of.

    ``scopes`` are the token's (a session has every scope); ``session_id`` and ``csrf_token``
    only for a session.
    """

    person_id: int
    roles: frozenset[Role]
    organisation_ids: frozenset[int]
    scopes: frozenset[str] = frozenset({"read", "write"})
    session_id: int | None = None
    csrf_token: str = ""


def caller_by_token(ctx: Ctx, *, secret: str) -> Caller | None:
    """``resolve_token`` for every API request: the same checks, in one statement.

    The token, its person, the person's roles and organisations come back as plain rows (one
    per role and organisation pair): no ORM objects, no second query for the relations.
    """
    authorize(ctx, "session.start")  # before there is a principal: anyone may present one
    if not secret.startswith(TOKEN_PREFIX):
        return None
    rows = _caller_rows(ctx, ApiToken, secret)
    if not rows:
        return None
    return _caller(rows, scopes=frozenset(rows[0].extra.split()))


def caller_by_session(ctx: Ctx, *, secret: str) -> Caller | None:
    """``resolve_session`` for every API request: the same checks, in one statement."""
    authorize(ctx, "session.start")  # before there is a principal: anyone may present one
    rows = _caller_rows(ctx, WebSession, secret)
    if not rows:
        return None
    return _caller(rows, session_id=rows[0].credential_id, csrf_token=rows[0].extra)


def _caller_query(credential: type[ApiToken] | type[WebSession], extra: Any) -> Select[Any, Any]:
    """The rows of a credential (by the SHA-256 of its secret, ``digest``) that is valid at
    ``now``: not revoked, not expired, its person active; one row per role and organisation
    pair of the person, and none when it is not valid."""
    return (
        select(
            credential.id.label("credential_id"),
            extra.label("extra"),
            Person.id.label("person_id"),
            PersonRole.role,
            Membership.organisation_id,
        )
        .join(Person, Person.id == credential.person_id)
        .outerjoin(PersonRole, PersonRole.person_id == Person.id)
        .outerjoin(Membership, Membership.person_id == Person.id)
        .where(
            credential.secret_hash == bindparam("digest"),
            credential.revoked_at.is_(None),
            credential.expires_at > bindparam("now"),
            Person.is_active.is_(True),
        )
    )


# Built once: building a statement costs more than running it (every request runs one).
_CALLER_QUERIES = {
    ApiToken: _caller_query(ApiToken, ApiToken.scopes),
    WebSession: _caller_query(WebSession, WebSession.csrf_token),
}


def _caller_rows(ctx: Ctx, credential: type[ApiToken] | type[WebSession], secret: str) -> list[Any]:
    query = _CALLER_QUERIES[credential]
    return list(ctx.db.execute(query, {"digest": _digest(secret), "now": ctx.now}))


def _caller(rows: list[Any], **more: Any) -> Caller:
    return Caller(
        person_id=rows[0].person_id,
        roles=frozenset(r.role for r in rows if r.role is not None),
        organisation_ids=frozenset(
            r.organisation_id for r in rows if r.organisation_id is not None
        ),
        **more,
    )


def _with_person(credential: type[ApiToken] | type[WebSession]) -> Select[Any, Any]:
    """A token or session row with its person, in one query (every request runs it): the
    person's roles and organisations come with it, nothing else it has."""
    return (
        select(credential, Person)
        .join(Person, Person.id == credential.person_id)
        .options(lazyload(Person.pending_role_requests))
    )


SESSION_HOURS = 12


def start_session(ctx: Ctx, *, person: Person, via: str = "password") -> tuple[str, WebSession]:
    """A browser session for ``person``; the cookie value is returned once, never stored."""
    authorize(ctx, "session.start")  # the caller has checked the password or the sign-in
    secret = secrets.token_urlsafe(32)
    session = WebSession(
        person_id=person.id,
        secret_hash=_digest(secret),
        csrf_token=secrets.token_urlsafe(32),
        via=via,
        created_at=ctx.now,
        expires_at=ctx.now + timedelta(hours=SESSION_HOURS),
    )
    ctx.db.add(session)
    ctx.db.flush()
    record(
        ctx,
        action="session.start",
        object_type="person",
        object_id=person.id,
        after={"session_id": session.id, "via": via, "expires_at": session.expires_at},
    )
    return secret, session


def resolve_session(ctx: Ctx, *, secret: str) -> tuple[Person, WebSession] | None:
    """The person and session a presented cookie stands for, or None if it is not valid now."""
    authorize(ctx, "session.start")  # before there is a principal: anyone may present one
    found = ctx.db.execute(
        _with_person(WebSession).where(WebSession.secret_hash == _digest(secret))
    ).first()
    if found is None:
        return None
    session, person = found
    if session.revoked_at is not None or session.expires_at <= ctx.now or not person.is_active:
        return None
    return person, session


def end_session(ctx: Ctx, *, session_id: int) -> None:
    """Sign out of one browser session (a missing or ended one is left as it is)."""
    authorize(ctx, "session.end")
    session = ctx.db.get(WebSession, session_id)
    if session is None or session.revoked_at is not None:
        return
    session.revoked_at = ctx.now
    ctx.db.flush()
    record(
        ctx,
        action="session.end",
        object_type="person",
        object_id=session.person_id,
        after={"session_id": session.id},
    )


def session_csrf(ctx: Ctx, session_id: int | None) -> str | None:
    """The CSRF token of a session (None for a request made with a token)."""
    authorize(ctx, "session.start")  # read while the request's principal is being resolved
    if session_id is None:
        return None
    session = ctx.db.get(WebSession, session_id)
    return session.csrf_token if session is not None else None


# --- changing passwords, resets and signing people out ---------------------------------------


def change_own_password(
    ctx: Ctx, *, current_password: str, new_password: str, session_id: int | None
) -> Ended | None:
    """The signed-in person changes their password; None when the current one is wrong.

    A wrong current password counts towards the sign-in lock (so a stolen session cannot
    guess it at leisure) and is recorded: the edge commits, then refuses. Every other session
    and every token of the person ends; the session ``session_id`` (the one the change was
    made in) is kept.
    """
    authorize(ctx, "password.change")
    person_id = ctx.principal.person_id
    if person_id is None:
        raise ValidationFailed("password: only a signed-in person changes their own password")
    person = get_person(ctx, person_id=person_id)
    locked = person.locked_until is not None and person.locked_until > ctx.now
    if locked or not _check_password(person.password_hash, current_password):
        if not locked:
            person.failed_logins += 1
            if person.failed_logins >= MAX_FAILURES:
                person.locked_until = ctx.now + LOCKOUT
                person.failed_logins = 0
        record(
            ctx,
            action="person.password_refused",
            object_type="person",
            object_id=person.id,
            after={"locked_until": person.locked_until},
        )
        return None
    _new_password(ctx, person, new_password, field="new_password")
    ctx.db.flush()
    record(
        ctx,
        action="person.password",
        object_type="person",
        object_id=person.id,
        after={"password": "changed by its owner"},
    )
    return end_everything(
        ctx, person_id=person.id, reason="password changed", keep_session_id=session_id
    )


def sign_out_person(ctx: Ctx, *, person_id: int) -> Ended:
    """Staff end every session and token of a person (e.g. after a stolen laptop)."""
    authorize(ctx, "person.signout")
    person = view_person(ctx, person_id=person_id)
    return end_everything(ctx, person_id=person.id, reason="signed out by staff")


RESET_VALID = timedelta(hours=1)
# At most this many reset e-mails per person an hour: the answer stays the same beyond it,
# but no more mail is sent (nobody can fill a mailbox through the form).
RESETS_PER_HOUR = 3


def request_password_reset(ctx: Ctx, *, email: str) -> tuple[Person, str] | None:
    """A reset link's secret for the active person with this e-mail, to be mailed after commit.

    None (and nothing stored) for an unknown, inactive or over-asked address: the edge answers
    the same whatever this returns.
    """
    authorize(ctx, "password.reset")
    person = ctx.db.execute(
        select(Person).where(Person.email == email.strip().lower())
    ).scalar_one_or_none()
    if person is None or not person.is_active:
        return None
    recent = ctx.db.execute(
        select(func.count())
        .select_from(PasswordReset)
        .where(
            PasswordReset.person_id == person.id,
            PasswordReset.created_at > ctx.now - timedelta(hours=1),
        )
    ).scalar_one()
    if recent >= RESETS_PER_HOUR:
        return None
    secret = secrets.token_urlsafe(32)
    reset = PasswordReset(
        person_id=person.id,
        secret_hash=_digest(secret),
        created_at=ctx.now,
        expires_at=ctx.now + RESET_VALID,
    )
    ctx.db.add(reset)
    ctx.db.flush()
    record(
        ctx,
        action="person.password_reset_requested",
        object_type="person",
        object_id=person.id,
        after={"reset_id": reset.id, "expires_at": reset.expires_at},
    )
    return person, secret


def confirm_password_reset(ctx: Ctx, *, secret: str, password: str) -> Person:
    """Set a new password with a reset link's secret: once, before it expires.

    The lock is lifted and every session and token ends. A wrong, used or expired secret is
    refused with the same words.
    """
    authorize(ctx, "password.reset")
    reset = ctx.db.execute(
        select(PasswordReset).where(PasswordReset.secret_hash == _digest(secret.strip()))
    ).scalar_one_or_none()
    if reset is None or reset.used_at is not None or reset.expires_at <= ctx.now:
        raise ValidationFailed(
            "token: this reset link is invalid, used or expired; ask for a new one", field="token"
        )
    person = ctx.db.get(Person, reset.person_id)  # no principal yet: the link is the key
    if person is None or not person.is_active:
        raise ValidationFailed(
            "token: this reset link is invalid, used or expired; ask for a new one", field="token"
        )
    _new_password(ctx, person, password, field="new_password")  # the link stays usable
    reset.used_at = ctx.now
    ctx.db.flush()
    record(
        ctx,
        action="person.password_reset",
        object_type="person",
        object_id=person.id,
        after={"reset_id": reset.id, "password": "changed", "lock": "lifted"},
    )
    end_everything(ctx, person_id=person.id, reason="password reset")
    return person


# --- the portal's one-time sign-in form token ------------------------------------------------

LOGIN_FORM_VALID = timedelta(minutes=30)


def issue_login_token(now: datetime) -> str:
    """A sign-in form token: when it was issued, and 192 random bits."""
    return f"{int(now.timestamp())}.{secrets.token_urlsafe(24)}"


def consume_login_token(ctx: Ctx, *, token: str) -> bool:
    """Use a sign-in form token: False when it is malformed, stale, or was used before.

    Used tokens are remembered for a day, well past their 30 minutes of validity (the issue
    time is in the token, so a stale one is refused without a record).
    """
    authorize(ctx, "session.start")
    issued, _, nonce = token.partition(".")
    if not issued.isdigit() or len(nonce) < 32:
        return False
    age = ctx.now.timestamp() - int(issued)
    if not 0 <= age <= LOGIN_FORM_VALID.total_seconds():
        return False
    digest = _digest(nonce)
    if ctx.db.execute(select(UsedLoginToken.id).where(UsedLoginToken.digest == digest)).first():
        return False
    ctx.db.execute(
        delete(UsedLoginToken).where(UsedLoginToken.used_at < ctx.now - timedelta(days=1))
    )
    ctx.db.add(UsedLoginToken(digest=digest, used_at=ctx.now))
    ctx.db.flush()
    return True
