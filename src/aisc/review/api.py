from __future__ import annotations

from fastapi import APIRouter, Query, status

from aisc.http import IdPath, Uow
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
)
def assign(application_id: IdPath, data: AssignmentCreate, uow: Uow) -> ReviewRead:
    with uow() as ctx:
        assignment = service.assign_reviewer(
            ctx, application_id=application_id, reviewer_id=data.reviewer_id
        )
        return service.read_review(assignment)


@router.put(
    "/applications/{application_id}/reviews/{reviewer_id}/declaration", response_model=ReviewRead
)
def declare(
    application_id: IdPath, reviewer_id: IdPath, data: DeclarationIn, uow: Uow
) -> ReviewRead:
    with uow() as ctx:
        return service.read_review(
            service.declare(ctx, application_id=application_id, reviewer_id=reviewer_id, data=data)
        )


@router.put(
    "/applications/{application_id}/reviews/{reviewer_id}/scores", response_model=ReviewRead
)
def score(application_id: IdPath, reviewer_id: IdPath, data: ScoresIn, uow: Uow) -> ReviewRead:
    with uow() as ctx:
        return service.read_review(
            service.submit_scores(
                ctx, application_id=application_id, reviewer_id=reviewer_id, data=data
            )
        )


@router.get("/applications/{application_id}/reviews", response_model=ReviewSummary)
def reviews(
    application_id: IdPath,
    uow: Uow,
    viewer_id: int = Query(ge=1, lt=2**31, description="the person looking"),
) -> ReviewSummary:
    with uow() as ctx:
        return service.review_summary(ctx, application_id=application_id, viewer_id=viewer_id)


@router.get("/reviewers/{reviewer_id}/queue", response_model=list[ReviewRead])
def queue(reviewer_id: IdPath, uow: Uow) -> list[ReviewRead]:
    with uow() as ctx:
        return service.list_assignments_for(ctx, reviewer_id=reviewer_id)


@router.post(
    "/applications/{application_id}/decision",
    response_model=DecisionRead,
    status_code=status.HTTP_201_CREATED,
)
def decide(application_id: IdPath, data: DecisionCreate, uow: Uow) -> DecisionRead:
    with uow() as ctx:
        return decision_service.read_decision(
            ctx, decision_service.decide(ctx, application_id=application_id, data=data)
        )


@router.get("/applications/{application_id}/decisions", response_model=list[DecisionRead])
def decisions(application_id: IdPath, uow: Uow) -> list[DecisionRead]:
    with uow() as ctx:
        return [
            decision_service.read_decision(ctx, d)
            for d in decision_service.list_decisions(ctx, application_id=application_id)
        ]
