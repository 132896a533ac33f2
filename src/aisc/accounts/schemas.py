from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from aisc.accounts.models import OrgCategory, Role, RoleRequestStatus
from aisc.accounts.names import normalise
from aisc.schemas import Email, Id, LongText, Name, ReadSchema, Schema


def _org_name(value: str) -> str:
    name = normalise(value)
    if not name:
        raise ValueError("the name is empty without its spaces and invisible characters")
    if len(name) > 200:
        raise ValueError("the name is longer than 200 characters")
    return name


# Stored normalised (aisc.accounts.names): NFKC, invisible characters out, spaces collapsed.
OrgName = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_org_name)]


class OrganisationCreate(Schema):
    name: OrgName
    name_zh: Name | None = None
    category: OrgCategory
    br_number: str | None = Field(default=None, max_length=50)
    description: LongText = ""


class OrganisationUpdate(Schema):
    name: OrgName | None = None
    name_zh: Name | None = None
    category: OrgCategory | None = Field(
        default=None, description="set or changed by the secretariat only"
    )
    br_number: str | None = Field(default=None, max_length=50)
    description: LongText | None = None


class OrganisationRead(ReadSchema):
    id: int
    name: str
    name_zh: str | None
    category: OrgCategory
    br_number: str | None
    description: str
    created_at: datetime
    category_verified_at: datetime | None = Field(
        default=None, description="when the secretariat confirmed the category (none: declared)"
    )


class CategorySet(Schema):
    category: OrgCategory
    note: str = Field(default="", max_length=2000)


class FlagClear(Schema):
    note: str = Field(default="", max_length=2000)


class OrganisationFlagRead(ReadSchema):
    id: int
    organisation_id: int
    resembles_id: int
    reason: str
    created_at: datetime
    cleared_at: datetime | None
    cleared_by: str | None
    note: str


Username = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z_][a-z0-9_-]*$",
        description="the person's cluster login (a POSIX user name)",
    ),
]


class PersonCreate(Schema):
    email: Email
    name: Name
    username: Username | None = None
    roles: list[Role] = Field(default_factory=list)
    organisation_ids: list[Id] = Field(default_factory=list)


class PersonUpdate(Schema):
    """Fields to change; roles and organisations, when given, replace the current ones."""

    name: Name | None = None
    username: Username | None = None
    roles: list[Role] | None = None
    organisation_ids: list[Id] | None = None
    is_active: bool | None = Field(
        default=None, description="false signs the person out everywhere and keeps them out"
    )


class PersonRead(ReadSchema):
    id: int
    email: str
    name: str
    username: str | None = None
    roles: list[Role]
    organisation_ids: list[int]
    is_active: bool = True
    created_at: datetime
    pending_roles: list[Role] = Field(
        default_factory=list,
        description="staff roles asked for, waiting for a second staff member's approval",
    )

    @classmethod
    def of(cls, person: object) -> PersonRead:
        from aisc.accounts.models import Person

        assert isinstance(person, Person)
        return cls(
            id=person.id,
            email=person.email,
            name=person.name,
            username=person.username,
            roles=sorted(person.role_set),
            organisation_ids=person.organisation_ids,
            is_active=person.is_active,
            created_at=person.created_at,
            pending_roles=sorted({r.role for r in person.pending_role_requests}),
        )


class TokenRead(ReadSchema):
    id: int
    person_id: int
    name: str
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    scopes: str = Field(description="space-separated: read, write")
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class TokenCreate(Schema):
    name: Name
    scopes: list[Literal["read", "write"]] = Field(min_length=1, max_length=2)
    days: int = Field(default=30, ge=1, le=365)


class TokenCreated(TokenRead):
    secret: str = Field(description="the token itself: shown this once, never stored")


class LoginIn(Schema):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1000)


class SessionRead(Schema):
    person: PersonRead
    via: str = Field(description="how this request is authenticated: session or token")
    csrf_token: str | None = Field(
        default=None, description="send it as X-CSRF-Token with every change made in a session"
    )


Password = Annotated[str, Field(max_length=1000)]


class PasswordChange(Schema):
    current_password: Password
    new_password: Password


class PasswordResetRequest(Schema):
    email: str = Field(max_length=254)


class PasswordResetConfirm(Schema):
    token: str = Field(min_length=1, max_length=200, description="the secret from the e-mail")
    new_password: Password


class Notice(Schema):
    message: str


class SignedOut(Schema):
    person_id: int
    sessions: int = Field(description="browser sessions ended")
    tokens: int = Field(description="API tokens revoked")


class RoleRequestRead(ReadSchema):
    id: int
    person_id: int
    role: Role
    status: RoleRequestStatus
    requested_by_id: int | None
    requested_at: datetime
    decided_by_id: int | None
    decided_at: datetime | None
    note: str


class RoleDecision(Schema):
    note: LongText = ""
