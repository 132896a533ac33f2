from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import Field

from aisc.applications import service
from aisc.applications.models import ApplicationStatus, Domain
from aisc.applications.schemas import (
    ApplicationCreate,
    ApplicationRead,
    ApplicationUpdate,
    FindingRead,
    MemberIn,
    MemberRead,
)
from aisc.http import IdPath, IdQuery, PagingDep, Uow, requires
from aisc.schemas import Schema

router = APIRouter(prefix="/applications", tags=["applications"])


class NoteIn(Schema):
    note: str = Field(default="", max_length=5000)


@router.get("", response_model=list[ApplicationRead], dependencies=[requires("application.read")])
def list_applications(
    uow: Uow,
    page: PagingDep,
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


@router.post(
    "",
    response_model=ApplicationRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("application.create")],
)
def create_application(data: ApplicationCreate, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.create_application(ctx, data=data))


@router.get(
    "/{application_id}", response_model=ApplicationRead, dependencies=[requires("application.read")]
)
def get_application(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.view_application(ctx, application_id=application_id))


@router.patch(
    "/{application_id}", response_model=ApplicationRead, dependencies=[requires("application.edit")]
)
def update_application(
    application_id: IdPath, data: ApplicationUpdate, uow: Uow
) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(
            service.update_application(ctx, application_id=application_id, data=data)
        )


@router.get(
    "/{application_id}/screening",
    response_model=list[FindingRead],
    dependencies=[requires("application.read")],
)
def preview_screening(application_id: IdPath, uow: Uow) -> list[FindingRead]:
    """What screening would find now, without changing anything."""
    with uow() as ctx:
        app = service.view_application(ctx, application_id=application_id)
        return [FindingRead(**f) for f in service.screening_findings(ctx, app)]


@router.post(
    "/{application_id}/submit",
    response_model=ApplicationRead,
    dependencies=[requires("application.submit")],
)
def submit(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.submit(ctx, application_id=application_id))


@router.post(
    "/{application_id}/withdraw",
    response_model=ApplicationRead,
    dependencies=[requires("application.submit")],
)
def withdraw(application_id: IdPath, uow: Uow, data: NoteIn | None = None) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(
            service.withdraw(ctx, application_id=application_id, reason=data.note if data else "")
        )


@router.post(
    "/{application_id}/screen",
    response_model=ApplicationRead,
    dependencies=[requires("application.screen")],
)
def screen(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.start_screening(ctx, application_id=application_id))


@router.post(
    "/{application_id}/return",
    response_model=ApplicationRead,
    dependencies=[requires("application.screen")],
)
def return_incomplete(
    application_id: IdPath, uow: Uow, data: NoteIn | None = None
) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(
            service.return_incomplete(
                ctx, application_id=application_id, note=data.note if data else ""
            )
        )


@router.post(
    "/{application_id}/start-review",
    response_model=ApplicationRead,
    dependencies=[requires("application.screen")],
)
def start_review(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.start_review(ctx, application_id=application_id))


@router.post(
    "/{application_id}/reopen",
    response_model=ApplicationRead,
    dependencies=[requires("application.screen")],
)
def reopen(application_id: IdPath, uow: Uow) -> ApplicationRead:
    with uow() as ctx:
        return ApplicationRead.of(service.reopen(ctx, application_id=application_id))


@router.get(
    "/{application_id}/members",
    response_model=list[MemberRead],
    dependencies=[requires("application.read")],
)
def list_members(application_id: IdPath, uow: Uow) -> list[MemberRead]:
    """The project team: PI(s) and members, who alone (besides staff) see the project."""
    with uow() as ctx:
        return [
            MemberRead.model_validate(m)
            for m in service.list_members(ctx, application_id=application_id)
        ]


@router.post(
    "/{application_id}/members",
    response_model=MemberRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("application.members")],
)
def add_member(application_id: IdPath, data: MemberIn, uow: Uow) -> MemberRead:
    with uow() as ctx:
        return MemberRead.model_validate(
            service.add_member(
                ctx, application_id=application_id, person_id=data.person_id, role=data.role
            )
        )


@router.delete(
    "/{application_id}/members/{person_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[requires("application.members")],
)
def remove_member(application_id: IdPath, person_id: IdPath, uow: Uow) -> None:
    with uow() as ctx:
        service.remove_member(ctx, application_id=application_id, person_id=person_id)
