"""Organisations (tenants) and people with roles.

A person may hold several roles and belong to several organisations. Authentication fields
arrive with the accounts issue; until then a person is an identity the services check roles on.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, and_
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from aisc.access import Role as Role  # owned by the permission matrix; the models store it
from aisc.accounts.names import name_key, skeleton
from aisc.db.base import Base, UTCDateTime, enum_column


def _derived(context: Any, derive: Callable[[str], str]) -> str:
    return derive(str(context.get_current_parameters()["name"]))


class OrgCategory(enum.StrEnum):
    """Kinds of applicant entity. The first five are the scheme's eligible categories."""

    UNIVERSITY = "university"
    RESEARCH_INSTITUTE = "research_institute"
    AI_STARTUP = "ai_startup"
    ENTERPRISE = "enterprise"
    PUBLIC_BODY = "public_body"
    OTHER = "other"


class Organisation(Base):
    """An applicant entity. Its name is stored normalised (``aisc.accounts.names``) with the
    key duplicates are found by and the skeleton look-alikes are found by.

    The category decides eligibility, so only the secretariat sets or changes it; one declared
    by an applicant is unverified (``category_verified_at`` empty) until the secretariat
    confirms it, and screening says so.
    """

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    # Derived from the name when not given (the services set them on every rename).
    name_key: Mapped[str] = mapped_column(
        String(1000),
        unique=True,
        index=True,  # a unique index, which SQLite adds to a table without rebuilding it
        nullable=False,
        default=lambda c: _derived(c, name_key),
    )
    name_skeleton: Mapped[str] = mapped_column(
        String(1000), nullable=False, index=True, default=lambda c: _derived(c, skeleton)
    )
    name_zh: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[OrgCategory] = mapped_column(
        enum_column(OrgCategory, "org_category"), nullable=False
    )
    br_number: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    category_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    category_verified_by: Mapped[str | None] = mapped_column(String(100))


class OrganisationFlag(Base):
    """An organisation whose name looks like another's, for the secretariat to look at.

    Open while ``cleared_at`` is empty; screening reports it on the organisation's applications.
    """

    __tablename__ = "organisation_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    resembles_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False
    )
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Sign-in: an argon2 hash (never the password), failed attempts and the lock they trigger.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # The person's login on the cluster (a POSIX user name): how Slurm knows them.
    username: Mapped[str | None] = mapped_column(String(32), unique=True)

    roles: Mapped[list[PersonRole]] = relationship(
        back_populates="person",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="PersonRole.role",
    )
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="Membership.organisation_id",
    )
    # Staff roles asked for and not yet approved or rejected (the two-person rule).
    pending_role_requests: Mapped[list[RoleRequest]] = relationship(
        primaryjoin=lambda: and_(
            Person.id == foreign(RoleRequest.person_id),
            RoleRequest.status == RoleRequestStatus.PENDING,
        ),
        viewonly=True,
        lazy="selectin",
        order_by=lambda: RoleRequest.id,
    )

    @property
    def role_set(self) -> set[Role]:
        return {r.role for r in self.roles}

    @property
    def organisation_ids(self) -> list[int]:
        return [m.organisation_id for m in self.memberships]


class PersonRole(Base):
    __tablename__ = "person_roles"
    __table_args__ = (UniqueConstraint("person_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"), nullable=False)

    person: Mapped[Person] = relationship(back_populates="roles")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("person_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=False
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False, index=True
    )

    person: Mapped[Person] = relationship(back_populates="memberships")


class ApiToken(Base):
    """A bearer token for the API: scoped, expiring, revocable; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)  # shown to tell tokens apart
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    scopes: Mapped[str] = mapped_column(String(200), nullable=False)  # space-separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A browser session: the cookie's SHA-256 (never the cookie) and its CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=False, index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    via: Mapped[str] = mapped_column(String(20), nullable=False)  # password | oidc
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInFailure(Base):
    """Failed sign-ins to one account from one client address, and the lock they set there.

    Counting per (account, source) is what keeps a flood from one address from locking the
    owner out everywhere (``aisc.accounts.signin``).
    """

    __tablename__ = "sign_in_failures"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UnknownSignIns(Base):
    """Failed sign-ins for e-mails that name no usable account, per client address and hour.

    The audit trail gets one event when a source's count in a window reaches 1, 10, 100, ...
    (carrying the count), so a flood cannot flood the trail; the exact count is here.
    """

    __tablename__ = "unknown_sign_ins"
    __table_args__ = (UniqueConstraint("source", "window_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PasswordReset(Base):
    """A password reset sent by e-mail: single-use, expiring; only the link's SHA-256 is kept."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=False, index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsedLoginToken(Base):
    """A sign-in form's one-time token, once presented: a second use is refused."""

    __tablename__ = "used_login_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class RoleRequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class RoleRequest(Base):
    """A staff role someone asked to grant: it takes effect only when another staff member
    approves it (the two-person rule)."""

    __tablename__ = "role_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"), nullable=False)
    status: Mapped[RoleRequestStatus] = mapped_column(
        enum_column(RoleRequestStatus, "role_request_status"), nullable=False
    )
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
