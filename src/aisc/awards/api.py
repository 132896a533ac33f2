from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from aisc.awards import closeout, service
from aisc.awards.models import AwardStatus
from aisc.awards.schemas import AwardRead
from aisc.http import IdPath, IdQuery, PagingDep, Uow, requires
from aisc.schemas import Schema

router = APIRouter(prefix="/awards", tags=["awards"])


@router.get("", response_model=list[AwardRead], dependencies=[requires("award.read")])
def list_awards(
    uow: Uow, page: PagingDep, status: AwardStatus | None = None, organisation_id: IdQuery = None
) -> list[AwardRead]:
    with uow() as ctx:
        rows = service.list_awards(
            ctx,
            status=status,
            organisation_id=organisation_id,
            limit=page.limit,
            offset=page.offset,
        )
        return [service.read_award(ctx, a) for a in rows]


@router.get("/{award_id}", response_model=AwardRead, dependencies=[requires("award.read")])
def get_award(award_id: IdPath, uow: Uow) -> AwardRead:
    with uow() as ctx:
        return service.read_award(ctx, service.view_award(ctx, award_id=award_id))


@router.post(
    "/{award_id}/accept", response_model=AwardRead, dependencies=[requires("award.accept")]
)
def accept(award_id: IdPath, uow: Uow) -> AwardRead:
    with uow() as ctx:
        return service.read_award(ctx, service.accept(ctx, award_id=award_id))


class ReasonIn(Schema):
    reason: str = Field(min_length=1, max_length=5000)


@router.post(
    "/{award_id}/suspend", response_model=AwardRead, dependencies=[requires("award.suspend")]
)
def suspend(award_id: IdPath, data: ReasonIn, uow: Uow) -> AwardRead:
    with uow() as ctx:
        return service.read_award(ctx, service.suspend(ctx, award_id=award_id, reason=data.reason))


@router.post(
    "/{award_id}/resume", response_model=AwardRead, dependencies=[requires("award.suspend")]
)
def resume(award_id: IdPath, uow: Uow) -> AwardRead:
    with uow() as ctx:
        return service.read_award(ctx, service.resume(ctx, award_id=award_id))


class CloseIn(Schema):
    outcome: closeout.CloseOutcome = Field(
        description="completed (the period is over) or terminated (early, with a reason)"
    )
    reason: str = Field(default="", max_length=5000)


@router.post("/{award_id}/close", response_model=AwardRead, dependencies=[requires("award.close")])
def close(award_id: IdPath, data: CloseIn, uow: Uow) -> AwardRead:
    """Close the award and release its remaining commitment to the fund (refused while jobs
    run or usage, or dedicated cards, are not billed yet)."""
    with uow() as ctx:
        award = closeout.close(ctx, award_id=award_id, outcome=data.outcome, reason=data.reason)
        return service.read_award(ctx, award)
