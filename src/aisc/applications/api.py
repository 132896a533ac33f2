from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import Field

from aisc.applications import service
from aisc.applications.models import ApplicationStatus, Domain
from aisc.applications.schemas import (
    ApplicationCreate,
    ApplicationRead,
    ApplicationUpdate,
    Finding,
)
from aisc.http import IdPath, IdQuery, PageDep, Uow
from aisc.schemas import Schema

router = APIRouter(prefix="/applications", tags=["applications"])


class NoteIn(Schema):
    note: str = Field(default="", max_length=5000)


@router.get("", response_model=list[ApplicationRead])
def list_applications(
    uow: Uow,
    page: PageDep,
    status: ApplicationStatus | None = None,
    organisation_id: IdQuery = None,
    domain: Domain | None = None,
    q: str | None = None,
) -> list[ApplicationRead]:
    with uow() as ctx:
        rows = service.list_applications(
            ctx,
            status=status,
            organisation_id=organisation_id,
            domain=domain,
            search=q,
            limit=page.limit,
            offset=page.offset,
        )
        return [ApplicationRead.of(a) for a in rows]


@router.post("", response_model=ApplicationRead, status_code=status.HTTP_201_CREATED)
def create_application(data: ApplicationCreate, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.create_application(ctx, data=data))


@router.get("/{application_id}", response_model=ApplicationRead)
def get_application(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.get_application(ctx, application_id=application_id))


@router.patch("/{application_id}", response_model=ApplicationRead)
def update_application(
    application_id: IdPath, data: ApplicationUpdate, uow: Uow
) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(
            service.update_application(ctx, application_id=application_id, data=data)
        )


@router.get("/{application_id}/screening", response_model=list[Finding])
def preview_screening(application_id: IdPath, uow: Uow) -> list[Finding]:
    """What screening would find now, without changing anything."""
    with uow() as ctx:
        app = service.get_application(ctx, application_id=application_id)
        return [Finding(**f) for f in service.screening_findings(ctx, app)]


@router.post("/{application_id}/submit", response_model=ApplicationRead)
def submit(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.submit(ctx, application_id=application_id))


@router.post("/{application_id}/withdraw", response_model=ApplicationRead)
def withdraw(application_id: IdPath, uow: Uow, data: NoteIn | None = None) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(
            service.withdraw(ctx, application_id=application_id, reason=data.note if data else "")
        )


@router.post("/{application_id}/screen", response_model=ApplicationRead)
def screen(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.start_screening(ctx, application_id=application_id))


@router.post("/{application_id}/return", response_model=ApplicationRead)
def return_incomplete(
    application_id: IdPath, uow: Uow, data: NoteIn | None = None
) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(
            service.return_incomplete(
                ctx, application_id=application_id, note=data.note if data else ""
            )
        )


@router.post("/{application_id}/start-review", response_model=ApplicationRead)
def start_review(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.start_review(ctx, application_id=application_id))


@router.post("/{application_id}/reopen", response_model=ApplicationRead)
def reopen(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.reopen(ctx, application_id=application_id))
