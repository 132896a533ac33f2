"""Sign-in and API tokens (the primitives; route enforcement comes with the permission matrix).

- Passwords are hashed with argon2 (never stored or audited in clear) and must meet a policy:
  at least 12 characters, three of four character classes, and not containing the e-mail's
  local part.
- Sign-in is throttled: after ``MAX_FAILURES`` failures in a row the account is locked for
  ``LOCKOUT``; while locked even the right password is refused. Failures are recorded (the edge
  commits them) and every refusal says only "invalid e-mail or password".
- API tokens are random (256 bits), shown once, stored as their SHA-256, scoped, expiring and
  revocable.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from aisc.accounts.models import ApiToken, Person
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


def authenticate(ctx: Ctx, *, email: str, password: str) -> Person | None:
    """The person whose credentials these are, or None (failures are recorded, not raised)."""
    person = ctx.db.execute(
        select(Person).where(Person.email == email.strip().lower())
    ).scalar_one_or_none()
    if person is None or not person.is_active or person.password_hash is None:
        _hasher.hash(password)  # spend the same time as a real check: no account probing
        return None
    if person.locked_until is not None and person.locked_until > ctx.now:
        record(ctx, action="login.locked", object_type="person", object_id=person.id)
        return None
    try:
        _hasher.verify(person.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        person.failed_logins += 1
        if person.failed_logins >= MAX_FAILURES:
            person.locked_until = ctx.now + LOCKOUT
            person.failed_logins = 0
        record(
            ctx,
            action="login.failed",
            object_type="person",
            object_id=person.id,
            after={"locked_until": person.locked_until},
        )
        return None
    if _hasher.check_needs_rehash(person.password_hash):
        person.password_hash = _hasher.hash(password)
    person.failed_logins, person.locked_until = 0, None
    record(ctx, action="login.ok", object_type="person", object_id=person.id)
    return person


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    ctx: Ctx, *, person_id: int, name: str, scopes: list[str], days: int = 30
) -> tuple[str, ApiToken]:
    """A new token for ``person_id``; the secret is returned once and never stored."""
    person = get_person(ctx, person_id=person_id)
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


def list_tokens(db: Session, *, person_id: int | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if person_id is not None:
        query = query.where(ApiToken.person_id == person_id)
    return list(db.execute(query).scalars())


def revoke_token(ctx: Ctx, *, token_id: int) -> ApiToken:
    token = ctx.db.get(ApiToken, token_id)
    if token is None:
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
