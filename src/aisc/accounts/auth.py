"""Sign-in, browser sessions and API tokens.

- Passwords are hashed with argon2 (never stored or audited in clear) and must meet a policy:
  at least 12 characters, three of four character classes, and not containing the e-mail's
  local part.
- Sign-in is throttled: after ``MAX_FAILURES`` failures in a row from one client address that
  address is locked out of the account for ``LOCKOUT`` (and the account everywhere when many
  addresses are); while locked even the right password is refused. Failures are recorded (the
  edge commits them) and every refusal says only "invalid e-mail or password". The steps, and
  why the password is hashed outside any transaction, are in ``aisc.accounts.signin``.
- API tokens are random (256 bits), shown once, stored as their SHA-256, scoped, expiring and
  revocable.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import select

from aisc.access import acting_person, authorize
from aisc.accounts.models import ApiToken, Person, WebSession
from aisc.accounts.service import get_person
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.errors import InvalidTransition, NotFound, ValidationFailed

MIN_LENGTH = 12
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SCOPES = frozenset({"read", "write"})
TOKEN_PREFIX = "aisc_"
MAX_TOKEN_DAYS = 365
# argon2id at RFC 9106's low-memory parameters (t=3, 64 MiB, p=4): about 0.2 s a hash on purpose.
_hasher = PasswordHasher()


def check_password_policy(password: str, *, email: str) -> None:
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 3:
        problems.append("three of: lower case, upper case, digits, symbols")
    local = email.split("@")[0].lower()
    if len(local) >= 3 and local in password.lower():
        problems.append("not containing the e-mail address")
    if problems:
        raise ValidationFailed("password: needs " + "; ".join(problems), field="password")


def set_password(ctx: Ctx, *, person_id: int, password: str) -> Person:
    person = get_person(ctx, person_id=person_id)
    check_password_policy(password, email=person.email)
    person.password_hash = _hasher.hash(password)
    person.failed_logins, person.locked_until = 0, None
    ctx.db.flush()
    record(
        ctx,
        action="person.password",
        object_type="person",
        object_id=person.id,
        after={"password": "changed"},
    )
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
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = ctx.db.execute(
        select(ApiToken).where(ApiToken.secret_hash == _digest(secret))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None or token.expires_at <= ctx.now:
        return None
    person = ctx.db.get(Person, token.person_id)
    if person is None or not person.is_active:
        return None
    return person, frozenset(token.scopes.split())


SESSION_HOURS = 12


def start_session(ctx: Ctx, *, person: Person, via: str = "password") -> tuple[str, WebSession]:
    """A browser session for ``person``; the cookie value is returned once, never stored."""
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
    session = ctx.db.execute(
        select(WebSession).where(WebSession.secret_hash == _digest(secret))
    ).scalar_one_or_none()
    if session is None or session.revoked_at is not None or session.expires_at <= ctx.now:
        return None
    person = ctx.db.get(Person, session.person_id)
    if person is None or not person.is_active:
        return None
    return person, session


def end_session(ctx: Ctx, *, session_id: int) -> None:
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
    if session_id is None:
        return None
    session = ctx.db.get(WebSession, session_id)
    return session.csrf_token if session is not None else None
