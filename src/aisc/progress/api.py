"""Progress reports and conditions of approval under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter, Query

from aisc.http import IdPath, IdQuery, PagingDep, Uow, requires
from aisc.progress import conditions, service
from aisc.progress.models import ConditionStatus, ReportStatus
from aisc.progress.schemas import (
    ChangesNote,
    ConditionRead,
    ConditionResolve,
    ReportRead,
    ReportSubmit,
    ReviewNote,
)
from aisc.schemas import Day

router = APIRouter(tags=["progress"])


@router.get(
    "/progress-reports", response_model=list[ReportRead], dependencies=[requires("progress.read")]
)
def list_reports(
    uow: Uow,
    page: PagingDep,
    award_id: IdQuery = None,
    status: ReportStatus | None = None,
) -> list[ReportRead]:
    """Reports in reach, by due date (a project's own; all of them for the secretariat)."""
    with uow() as ctx:
        rows = service.list_reports(
            ctx, award_id=award_id, status=status, limit=page.limit, offset=page.offset
        )
        return [service.read_report(ctx, r) for r in rows]


@router.get(
    "/progress-reports/{report_id}",
    response_model=ReportRead,
    dependencies=[requires("progress.read")],
)
def get_report(report_id: IdPath, uow: Uow) -> ReportRead:
    with uow() as ctx:
        return service.read_report(ctx, service.view_report(ctx, report_id=report_id))


@router.post(
    "/progress-reports/{report_id}/submit",
    response_model=ReportRead,
    dependencies=[requires("progress.submit")],
)
def submit_report(report_id: IdPath, data: ReportSubmit, uow: Uow) -> ReportRead:
    """The project's lead submits a report that is due, or resubmits one sent back."""
    with uow() as ctx:
        report = service.submit_report(ctx, report_id=report_id, data=data)
        return service.read_report(ctx, report)


@router.post(
    "/progress-reports/{report_id}/accept",
    response_model=ReportRead,
    dependencies=[requires("progress.review")],
)
def accept_report(report_id: IdPath, data: ReviewNote, uow: Uow) -> ReportRead:
    """Accept a submitted report (a suspension its lateness caused is lifted)."""
    with uow() as ctx:
        report = service.accept_report(ctx, report_id=report_id, note=data.note)
        return service.read_report(ctx, report)


@router.post(
    "/progress-reports/{report_id}/request-changes",
    response_model=ReportRead,
    dependencies=[requires("progress.review")],
)
def request_changes(report_id: IdPath, data: ChangesNote, uow: Uow) -> ReportRead:
    with uow() as ctx:
        report = service.request_changes(ctx, report_id=report_id, note=data.note)
        return service.read_report(ctx, report)


@router.get(
    "/progress-outcomes", response_model=dict[str, int], dependencies=[requires("scheme.read")]
)
def outcomes(uow: Uow, as_of: Day | None = Query(default=None)) -> dict[str, int]:
    """What accepted reports say the projects delivered, by kind, as of a date."""
    with uow() as ctx:
        return service.outcome_totals(ctx, as_of=as_of)


@router.get(
    "/conditions", response_model=list[ConditionRead], dependencies=[requires("condition.read")]
)
def list_conditions(
    uow: Uow, award_id: IdQuery = None, status: ConditionStatus | None = None
) -> list[ConditionRead]:
    """Conditions of approval of the awards in reach (overdue: open past its due date)."""
    with uow() as ctx:
        rows = conditions.list_conditions(ctx, award_id=award_id, status=status)
        return [conditions.read_condition(ctx, c) for c in rows]


@router.post(
    "/conditions/{condition_id}/resolve",
    response_model=ConditionRead,
    dependencies=[requires("condition.resolve")],
)
def resolve_condition(condition_id: IdPath, data: ConditionResolve, uow: Uow) -> ConditionRead:
    """Mark a condition met (with evidence) or waived (with the reason)."""
    with uow() as ctx:
        found = conditions.resolve(
            ctx, condition_id=condition_id, outcome=data.outcome, text=data.text
        )
        return conditions.read_condition(ctx, found)
