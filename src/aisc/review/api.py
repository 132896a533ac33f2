from __future__ import annotations

from fastapi import APIRouter, Query, status

from aisc.http import IdPath, Uow, requires
from aisc.review import decisions as decision_service
from aisc.review import service
from aisc.review.schemas import (
    AssignmentCreate,
    DecisionCreate,
    DecisionRead,
    DeclarationIn,
    ReviewRead,
    ReviewSummary,
    ScoresIn,
)

router = APIRouter(tags=["review"])


@router.post(
    "/applications/{application_id}/reviewers",
    response_model=ReviewRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("review.assign")],
)
def assign(application_id: IdPath, data: AssignmentCreate, uow: Uow) -> ReviewRead:
    with uow() as ctx:
        assignment = service.assign_reviewer(
            ctx, application_id=application_id, reviewer_id=data.reviewer_id
        )
        return service.read_review(assignment)


@router.put(
    "/applications/{application_id}/reviews/{reviewer_id}/declaration",
    response_model=ReviewRead,
    dependencies=[requires("review.write")],
)
def declare(
    application_id: IdPath, reviewer_id: IdPath, data: DeclarationIn, uow: Uow
) -> ReviewRead:
    with uow() as ctx:
        return service.read_review(
            service.declare(ctx, application_id=application_id, reviewer_id=reviewer_id, data=data)
        )


@router.put(
    "/applications/{application_id}/reviews/{reviewer_id}/scores",
    response_model=ReviewRead,
    dependencies=[requires("review.write")],
)
def score(application_id: IdPath, reviewer_id: IdPath, data: ScoresIn, uow: Uow) -> ReviewRead:
    with uow() as ctx:
        return service.read_review(
            service.submit_scores(
                ctx, application_id=application_id, reviewer_id=reviewer_id, data=data
            )
        )


@router.get(
    "/applications/{application_id}/reviews",
    response_model=ReviewSummary,
    dependencies=[requires("review.read")],
)
def reviews(
    application_id: IdPath,
    uow: Uow,
    viewer_id: int | None = Query(
        default=None, ge=1, lt=2**31, description="the person looking (defaults to the caller)"
    ),
) -> ReviewSummary:
    """The reviews and weighted totals, as the caller may see them."""
    with uow() as ctx:
        return service.review_summary(ctx, application_id=application_id, viewer_id=viewer_id)


@router.get(
    "/reviewers/{reviewer_id}/queue",
    response_model=list[ReviewRead],
    dependencies=[requires("review.read")],
)
def queue(reviewer_id: IdPath, uow: Uow) -> list[ReviewRead]:
    with uow() as ctx:
        return service.list_assignments_for(ctx, reviewer_id=reviewer_id)


@router.post(
    "/applications/{application_id}/decision",
    response_model=DecisionRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("decision.make")],
)
def decide(application_id: IdPath, data: DecisionCreate, uow: Uow) -> DecisionRead:
    with uow() as ctx:
        return decision_service.read_decision(
            ctx, decision_service.decide(ctx, application_id=application_id, data=data)
        )


@router.get(
    "/applications/{application_id}/decisions",
    response_model=list[DecisionRead],
    dependencies=[requires("decision.read")],
)
def decisions(application_id: IdPath, uow: Uow) -> list[DecisionRead]:
    with uow() as ctx:
        return [
            decision_service.read_decision(ctx, d)
            for d in decision_service.list_decisions(ctx, application_id=application_id)
        ]
