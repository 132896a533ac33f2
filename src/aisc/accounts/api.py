from __future__ import annotations

from fastapi import APIRouter, status

from aisc.accounts import service
from aisc.accounts.models import Role
from aisc.accounts.schemas import (
    OrganisationCreate,
    OrganisationRead,
    OrganisationUpdate,
    PersonCreate,
    PersonRead,
)
from aisc.http import IdPath, PageDep, Uow

router = APIRouter(tags=["accounts"])


@router.get("/organisations", response_model=list[OrganisationRead])
def list_organisations(uow: Uow, page: PageDep) -> list[OrganisationRead]:
    with uow() as ctx:
        rows = service.list_organisations(ctx, limit=page.limit, offset=page.offset)
        return [OrganisationRead.model_validate(o) for o in rows]


@router.post("/organisations", response_model=OrganisationRead, status_code=status.HTTP_201_CREATED)
def create_organisation(data: OrganisationCreate, uow: Uow) -> OrganisationRead:
    with uow() as ctx:
        return OrganisationRead.model_validate(service.create_organisation(ctx, data=data))


@router.get("/organisations/{organisation_id}", response_model=OrganisationRead)
def get_organisation(organisation_id: IdPath, uow: Uow) -> OrganisationRead:
    with uow() as ctx:
        return OrganisationRead.model_validate(
            service.get_organisation(ctx, organisation_id=organisation_id)
        )


@router.patch("/organisations/{organisation_id}", response_model=OrganisationRead)
def update_organisation(
    organisation_id: IdPath, data: OrganisationUpdate, uow: Uow
) -> OrganisationRead:
    with uow() as ctx:
        return OrganisationRead.model_validate(
            service.update_organisation(ctx, organisation_id=organisation_id, data=data)
        )


@router.get("/people", response_model=list[PersonRead])
def list_people(uow: Uow, page: PageDep, role: Role | None = None) -> list[PersonRead]:
    with uow() as ctx:
        rows = service.list_people(ctx, role=role, limit=page.limit, offset=page.offset)
        return [PersonRead.of(p) for p in rows]


@router.post("/people", response_model=PersonRead, status_code=status.HTTP_201_CREATED)
def create_person(data: PersonCreate, uow: Uow) -> PersonRead:
    with uow() as ctx:
        return PersonRead.of(service.create_person(ctx, data=data))


@router.get("/people/{person_id}", response_model=PersonRead)
def get_person(person_id: IdPath, uow: Uow) -> PersonRead:
    with uow() as ctx:
        return PersonRead.of(service.get_person(ctx, person_id=person_id))
