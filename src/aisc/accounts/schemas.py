from __future__ import annotations

from datetime import datetime

from pydantic import Field

from aisc.accounts.models import OrgCategory, Role
from aisc.schemas import Email, Id, LongText, Name, ReadSchema, Schema


class OrganisationCreate(Schema):
    name: Name
    name_zh: Name | None = None
    category: OrgCategory
    br_number: str | None = Field(default=None, max_length=50)
    description: LongText = ""


class OrganisationUpdate(Schema):
    name: Name | None = None
    name_zh: Name | None = None
    category: OrgCategory | None = None
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


class PersonCreate(Schema):
    email: Email
    name: Name
    roles: list[Role] = Field(default_factory=list)
    organisation_ids: list[Id] = Field(default_factory=list)


class PersonRead(ReadSchema):
    id: int
    email: str
    name: str
    roles: list[Role]
    organisation_ids: list[int]
    created_at: datetime

    @classmethod
    def of(cls, person: object) -> PersonRead:
        from aisc.accounts.models import Person

        assert isinstance(person, Person)
        return cls(
            id=person.id,
            email=person.email,
            name=person.name,
            roles=sorted(person.role_set),
            organisation_ids=person.organisation_ids,
            created_at=person.created_at,
        )
