from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from aisc.awards import changes, closeout, service
from aisc.awards.models import AwardStatus
from aisc.awards.schemas import AwardChangeRead, AwardRead
from aisc.http import IdPath, IdQuery, PagingDep, Uow, requires
from aisc.schemas import Day, Schema

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


# --- changes to an award (aisc.awards.changes) ----------------------------------------------

# A whole number the service judges (zero or negative is refused there, naming the field).
Amount = Annotated[int, Field(gt=-(2**31), lt=2**31)]


class ChangeIn(Schema):
    reason: str = Field(min_length=1, max_length=5000)
    decided_by: str = Field(
        min_length=1, max_length=300, description="the decision recorded (e.g. the meeting)"
    )


class ExtendIn(ChangeIn):
    end_date: Day


class TopUpIn(ChangeIn):
    gpu_cards: Amount | None = Field(default=None, description="cards added (dedicated)")
    gpu_hours: Amount | None = Field(default=None, description="GPU-hours added (pooled)")
    end_date: Day | None = Field(default=None, description="a later end date")
    effective_date: Day | None = Field(
        default=None, description="added cards start (default today)"
    )


class ReduceIn(ChangeIn):
    gpu_cards: Amount | None = Field(default=None, description="cards taken away (dedicated)")
    gpu_hours: Amount | None = Field(default=None, description="GPU-hours taken away (pooled)")
    effective_date: Day | None = Field(default=None, description="from (default today)")


class EndEarlyIn(ChangeIn):
    end_date: Day


@router.get(
    "/{award_id}/changes",
    response_model=list[AwardChangeRead],
    dependencies=[requires("award.read")],
)
def list_changes(award_id: IdPath, uow: Uow) -> list[AwardChangeRead]:
    with uow() as ctx:
        return [AwardChangeRead.of(c) for c in changes.list_changes(ctx, award_id=award_id)]


@router.post(
    "/{award_id}/extend", response_model=AwardChangeRead, dependencies=[requires("award.change")]
)
def extend(award_id: IdPath, data: ExtendIn, uow: Uow) -> AwardChangeRead:
    """A later end date for a pooled award, at no cost (a dedicated one needs a top-up)."""
    with uow() as ctx:
        change = changes.extend(
            ctx,
            award_id=award_id,
            end_date=data.end_date,
            reason=data.reason,
            decided_by=data.decided_by,
        )
        return AwardChangeRead.of(change)


@router.post(
    "/{award_id}/top-up", response_model=AwardChangeRead, dependencies=[requires("award.change")]
)
def top_up(award_id: IdPath, data: TopUpIn, uow: Uow) -> AwardChangeRead:
    """More cards, GPU-hours or time; the added subsidy is committed from the fund (refused
    when the fund or the capacity cannot cover it)."""
    with uow() as ctx:
        change = changes.top_up(
            ctx,
            award_id=award_id,
            gpu_cards=data.gpu_cards,
            gpu_hours=data.gpu_hours,
            end_date=data.end_date,
            effective_date=data.effective_date,
            reason=data.reason,
            decided_by=data.decided_by,
        )
        return AwardChangeRead.of(change)


@router.post(
    "/{award_id}/reduce", response_model=AwardChangeRead, dependencies=[requires("award.change")]
)
def reduce(award_id: IdPath, data: ReduceIn, uow: Uow) -> AwardChangeRead:
    """Fewer cards from a date, or fewer GPU-hours; the commitment's share is released."""
    with uow() as ctx:
        change = changes.reduce(
            ctx,
            award_id=award_id,
            gpu_cards=data.gpu_cards,
            gpu_hours=data.gpu_hours,
            effective_date=data.effective_date,
            reason=data.reason,
            decided_by=data.decided_by,
        )
        return AwardChangeRead.of(change)


@router.post(
    "/{award_id}/end-early",
    response_model=AwardChangeRead,
    dependencies=[requires("award.change")],
)
def end_early(award_id: IdPath, data: EndEarlyIn, uow: Uow) -> AwardChangeRead:
    """A dedicated award's cards end on a date inside its period; the unused commitment is
    released pro rata."""
    with uow() as ctx:
        change = changes.end_early(
            ctx,
            award_id=award_id,
            end_date=data.end_date,
            reason=data.reason,
            decided_by=data.decided_by,
        )
        return AwardChangeRead.of(change)
