from __future__ import annotations

from fastapi import APIRouter, Query, status

from aisc.allocations import service
from aisc.allocations.models import AllocationState
from aisc.allocations.schemas import AllocationCreate, AllocationRead, CapacityCheck
from aisc.http import IdPath, IdQuery, PagingDep, Uow, requires

router = APIRouter(tags=["allocations"])


@router.get(
    "/allocations", response_model=list[AllocationRead], dependencies=[requires("allocation.read")]
)
def list_allocations(
    uow: Uow,
    page: PagingDep,
    award_id: IdQuery = None,
    partition: str | None = None,
    state: AllocationState | None = None,
) -> list[AllocationRead]:
    with uow() as ctx:
        return service.list_allocations(
            ctx,
            award_id=award_id,
            partition=partition,
            state=state,
            limit=page.limit,
            offset=page.offset,
        )


@router.post(
    "/allocations",
    response_model=AllocationRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("allocation.manage")],
)
def create_allocation(data: AllocationCreate, uow: Uow) -> AllocationRead:
    """Allocate (part of) an award on a partition; refused when the GPUs are not there."""
    with uow() as ctx:
        return service.read_allocation(ctx, service.create_allocation(ctx, data=data))


@router.get(
    "/allocations/{allocation_id}",
    response_model=AllocationRead,
    dependencies=[requires("allocation.read")],
)
def get_allocation(allocation_id: IdPath, uow: Uow) -> AllocationRead:
    with uow() as ctx:
        return service.read_allocation(
            ctx, service.get_allocation(ctx, allocation_id=allocation_id)
        )


@router.get(
    "/applications/{application_id}/capacity-check",
    response_model=CapacityCheck,
    dependencies=[requires("capacity.read")],
)
def capacity_check(
    application_id: IdPath,
    uow: Uow,
    partition: str | None = None,
    forecast: bool = Query(
        False, description="also replay a workload model: queueing and busy % (seconds)"
    ),
) -> CapacityCheck:
    """What approving this application as requested would do to the centre, month by month."""
    with uow() as ctx:
        check = service.application_check(ctx, application_id=application_id, partition=partition)
    if forecast:
        from aisc.allocations.forecast import forecast_check

        check = forecast_check(check)
    return check
