from __future__ import annotations

from fastapi import APIRouter, Query

from aisc.audit import service
from aisc.audit.schemas import AuditEventRead, VerifyRead
from aisc.http import PagingDep, Uow, requires
from aisc.schemas import Moment

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/events", response_model=list[AuditEventRead], dependencies=[requires("audit.read")])
def events(
    uow: Uow,
    page: PagingDep,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
) -> list[AuditEventRead]:
    with uow() as ctx:
        rows = service.list_events(
            ctx,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            since=since,
            until=until,
            limit=page.limit,
            offset=page.offset,
        )
        return [AuditEventRead.model_validate(e) for e in rows]


@router.get("/verify", response_model=VerifyRead, dependencies=[requires("audit.read")])
def verify(
    uow: Uow,
    deep: bool = Query(
        False,
        description="also compare decisions, awards, ledger entries, invoices and credit "
        "notes with the state their audit events recorded",
    ),
) -> VerifyRead:
    with uow() as ctx:
        return VerifyRead.model_validate(service.verify(ctx, deep=deep))
