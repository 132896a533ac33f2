from __future__ import annotations

from fastapi import APIRouter

from aisc.http import IdQuery, PagingDep, Uow, requires
from aisc.metering import service
from aisc.metering.schemas import UsageRead

router = APIRouter(tags=["usage"])


@router.get("/usage", response_model=list[UsageRead], dependencies=[requires("usage.read")])
def list_usage(
    uow: Uow, page: PagingDep, award_id: IdQuery = None, job_id: IdQuery = None
) -> list[UsageRead]:
    """Measured GPU-seconds, one record per job attempt (only the caller's projects)."""
    with uow() as ctx:
        rows = service.list_usage(
            ctx, award_id=award_id, job_id=job_id, limit=page.limit, offset=page.offset
        )
        return [UsageRead.model_validate(u) for u in rows]
