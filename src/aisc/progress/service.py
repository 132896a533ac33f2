"""Progress reports: the schedule, submission by the project's lead, review by the secretariat.

The schedule is made when an award becomes active (``on_award_active``, a step of accepting
it): progress reports the scheme's ``report_months`` after the award's start (or the months the
committee set with its decision, ``ReportingPlan``), the ones that fall before the award's end,
and a final report ``final_report_days`` after it. Awards that were active before reports
existed get theirs from the worker's housekeeping (``aisc.progress.duties``), which makes any
schedule still missing; making it twice changes nothing.

A report moves only through ``REPORT_MOVES``. Accepting a report lifts the hold its lateness
placed (``HoldKind.REPORT_OVERDUE`` with the report's id); the award runs again unless another
reason still holds it. Every change is audited in its transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, select

from aisc.access import SYSTEM, acting_person, authorize, awards_in_reach, permit, visible
from aisc.accounts.models import Person
from aisc.applications.models import ProjectMember, ProjectRole
from aisc.applications.screening import add_months
from aisc.audit.service import record
from aisc.awards.models import Award, AwardStatus, HoldKind
from aisc.awards.service import get_award, lift_hold
from aisc.context import Ctx
from aisc.errors import AiscError, InvalidTransition, NotFound, ValidationFailed
from aisc.outbox import service as outbox
from aisc.progress.models import ProgressReport, ReportingPlan, ReportKind, ReportStatus
from aisc.progress.schemas import OUTPUT_KINDS, Outputs, ReportRead, ReportSubmit
from aisc.scheme.models import Scheme
from aisc.scheme.service import get_scheme

S = ReportStatus
# (from, to) pairs a report may take; nothing else moves a report.
REPORT_MOVES = {
    (S.DUE, S.SUBMITTED),
    (S.CHANGES_REQUESTED, S.SUBMITTED),
    (S.SUBMITTED, S.ACCEPTED),
    (S.SUBMITTED, S.CHANGES_REQUESTED),
}
# Reports the lead still owes: not yet in, or sent back.
OWED = (S.DUE, S.CHANGES_REQUESTED)
RUNNING = (AwardStatus.ACTIVE, AwardStatus.SUSPENDED)
_VERBS = {S.SUBMITTED: "submit", S.ACCEPTED: "accept", S.CHANGES_REQUESTED: "request_changes"}


def parse_months(text: str, *, field: str = "report_months") -> list[int]:
    """'1, 3, 9' -> [1, 3, 9]: whole months after an award's start, ascending, none repeated."""
    try:
        months = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise ValidationFailed(f"{field}: write whole months, e.g. 1,3,9", field=field) from exc
    if any(m < 1 or m > 120 for m in months):
        raise ValidationFailed(f"{field}: months run from 1 to 120", field=field)
    return months


def schedule_dates(
    *, start: date, end: date, months: list[int], final_days: int
) -> list[tuple[ReportKind, int, date]]:
    """The reports an award owes: (kind, sequence, due date). Pure, for the tests and the docs."""
    due = [add_months(start, m) for m in sorted(set(months))]
    rows = [(ReportKind.PROGRESS, i, d) for i, d in enumerate((d for d in due if d < end), 1)]
    rows.append((ReportKind.FINAL, 1, end + timedelta(days=final_days)))
    return rows


def set_plan(ctx: Ctx, *, award_id: int, report_months: list[int]) -> ReportingPlan:
    """The committee's cadence for one award, recorded with its decision (``decision.make``)."""
    authorize(ctx, "decision.make")
    months = parse_months(",".join(str(m) for m in report_months))
    if not months:
        raise ValidationFailed("report_months: name at least one month", field="report_months")
    plan = ReportingPlan(award_id=award_id, report_months=months, created_at=ctx.now)
    ctx.db.add(plan)
    ctx.db.flush()
    return plan


def ensure_schedule(ctx: Ctx, *, award_id: int) -> list[ProgressReport]:
    """Make the award's report schedule if it has none; the reports it owes, by due date.

    A step of accepting an award (``award.accept``) or of the worker's housekeeping.
    """
    authorize(ctx, "award.accept")
    existing = _reports_of(ctx, award_id)
    if existing:
        return existing
    award = ctx.db.get(Award, award_id)
    if award is None:
        raise NotFound(f"award {award_id} not found", field="award_id")
    scheme = ctx.db.get(Scheme, award.scheme_id)
    assert scheme is not None
    plan = ctx.db.get(ReportingPlan, award_id)
    months = list(plan.report_months) if plan else parse_months(scheme.report_months)
    for kind, sequence, due in schedule_dates(
        start=award.start_date, end=award.end_date, months=months,
        final_days=scheme.final_report_days,
    ):  # fmt: skip
        ctx.db.add(
            ProgressReport(
                award_id=award_id,
                kind=kind,
                sequence=sequence,
                due_date=due,
                status=S.DUE,
                narrative="",
                milestones=[],
                outputs={},
                attachments=[],
                review_note="",
                created_at=ctx.now,
            )
        )
    ctx.db.flush()
    reports = _reports_of(ctx, award_id)
    record(
        ctx,
        action="progress.schedule",
        object_type="award",
        object_id=award_id,
        after={"reports": [f"{r.kind.value} {r.sequence}: {r.due_date}" for r in reports]},
    )
    return reports


def on_award_active(ctx: Ctx, *, award_id: int) -> None:
    """What follows an award becoming active: its report schedule, and a hold for each
    condition that holds back its compute. A step of ``award.accept``; the holds are the
    scheme's rule rather than the lead's act, so they are placed as the system."""
    from aisc.progress.conditions import hold_for_conditions

    authorize(ctx, "award.accept")
    ensure_schedule(ctx, award_id=award_id)
    hold_for_conditions(replace(ctx, principal=SYSTEM), award_id=award_id)


def _reports_of(ctx: Ctx, award_id: int) -> list[ProgressReport]:
    return list(
        ctx.db.scalars(
            select(ProgressReport)
            .where(ProgressReport.award_id == award_id)
            .order_by(ProgressReport.due_date, ProgressReport.id)
        )
    )


def _in_reach(ctx: Ctx, action: str) -> Select[Any]:
    access = authorize(ctx, action)
    query = select(ProgressReport)
    scope = awards_in_reach(access, ProgressReport.award_id)
    return query if scope is None else query.where(scope)


def list_reports(
    ctx: Ctx,
    *,
    award_id: int | None = None,
    status: ReportStatus | None = None,
    waiting: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[ProgressReport]:
    """Reports in reach, by due date; ``waiting``: submitted ones, for the review queue."""
    query = _in_reach(ctx, "progress.read")
    if award_id is not None:
        query = query.where(ProgressReport.award_id == award_id)
    if status is not None:
        query = query.where(ProgressReport.status == status)
    if waiting:
        query = query.where(ProgressReport.status == S.SUBMITTED)
    query = query.order_by(ProgressReport.due_date, ProgressReport.id)
    return list(ctx.db.scalars(query.limit(limit).offset(offset)))


def view_report(ctx: Ctx, *, report_id: int, action: str = "progress.read") -> ProgressReport:
    """The report, if the principal may see it (another tenant's reads as not found)."""
    access = authorize(ctx, action)
    report = ctx.db.get(ProgressReport, report_id)
    award = ctx.db.get(Award, report.award_id) if report else None
    return visible(
        access,
        report,
        f"progress report {report_id}",
        field="report_id",
        application_id=award.application_id if award else None,
    )


def read_report(ctx: Ctx, report: ProgressReport) -> ReportRead:
    """The report as read; ``report`` came through ``view_report`` or a list."""
    authorize(ctx, "progress.read")
    award = ctx.db.get(Award, report.award_id)
    today = ctx.now.date()
    first = report.first_submitted_at
    return ReportRead(
        id=report.id,
        award_id=report.award_id,
        award_title=award.title if award else "",
        kind=report.kind,
        sequence=report.sequence,
        due_date=report.due_date,
        status=report.status,
        overdue=report.status in OWED and today > report.due_date,
        late=first is not None and first.date() > report.due_date,
        narrative=report.narrative,
        milestones=report.milestones,
        outputs=Outputs.model_validate(report.outputs or {}),
        attachments=report.attachments,
        submitted_at=report.submitted_at,
        first_submitted_at=first,
        submitted_by_id=report.submitted_by_id,
        reviewed_at=report.reviewed_at,
        reviewed_by=report.reviewed_by,
        review_note=report.review_note,
    )


def _move(ctx: Ctx, report: ProgressReport, target: ReportStatus, **after: Any) -> None:
    """One move of ``REPORT_MOVES``, audited as ``progress.<verb>``."""
    if (report.status, target) not in REPORT_MOVES:
        raise InvalidTransition(
            f"progress report {report.id} is {report.status.value}; it cannot become "
            f"{target.value}",
            field="status",
        )
    before = report.status
    report.status = target
    ctx.db.flush()
    record(
        ctx,
        action=f"progress.{_VERBS[target]}",
        object_type="progress_report",
        object_id=report.id,
        before={"status": before},
        after={"status": target, **after},
    )


def submit_report(ctx: Ctx, *, report_id: int, data: ReportSubmit) -> ProgressReport:
    """The project's lead submits (or resubmits) a report that is due or was sent back."""
    report = view_report(ctx, report_id=report_id)
    award = get_award(ctx, award_id=report.award_id)
    permit(ctx, "progress.submit", application_id=award.application_id)
    by = acting_person(ctx, data.submitted_by_id, field="submitted_by_id")
    lead = ctx.db.scalar(
        select(ProjectMember.id).where(
            ProjectMember.application_id == award.application_id,
            ProjectMember.person_id == by,
            ProjectMember.role == ProjectRole.PI,
        )
    )
    if lead is None:
        raise ValidationFailed(
            f"submitted_by_id: person {by} does not lead this project", field="submitted_by_id"
        )
    if not data.narrative.strip():
        raise ValidationFailed("narrative: say what the project did", field="narrative")
    if report.status not in OWED:
        raise InvalidTransition(
            f"progress report {report.id} is {report.status.value}; only a report that is due "
            "or was sent back can be submitted",
            field="status",
        )
    report.narrative = data.narrative.strip()
    report.milestones = [m.model_dump(mode="json") for m in data.milestones]
    report.outputs = data.outputs.model_dump(mode="json")
    report.attachments = [a.model_dump(mode="json") for a in data.attachments]
    report.submitted_at = ctx.now
    report.first_submitted_at = report.first_submitted_at or ctx.now
    report.submitted_by_id = by
    _move(ctx, report, S.SUBMITTED, submitted_by_id=by, outputs=data.outputs.totals())
    return report


def accept_report(ctx: Ctx, *, report_id: int, note: str = "") -> ProgressReport:
    """The secretariat accepts a submitted report; a hold its lateness placed is lifted."""
    report = view_report(ctx, report_id=report_id)
    permit(ctx, "progress.review")
    report.reviewed_at = ctx.now
    report.reviewed_by = ctx.actor
    report.review_note = note.strip()
    _move(ctx, report, S.ACCEPTED, note=report.review_note)
    lift_hold(ctx, award_id=report.award_id, kind=HoldKind.REPORT_OVERDUE, ref=report.id)
    return report


def request_changes(ctx: Ctx, *, report_id: int, note: str) -> ProgressReport:
    """The secretariat sends a submitted report back with a note; the lead resubmits."""
    if not note.strip():
        raise ValidationFailed("note: say what should change", field="note")
    report = view_report(ctx, report_id=report_id)
    permit(ctx, "progress.review")
    report.reviewed_at = ctx.now
    report.reviewed_by = ctx.actor
    report.review_note = note.strip()
    _move(ctx, report, S.CHANGES_REQUESTED, note=report.review_note)
    _tell_lead(
        ctx,
        report,
        key=f"progress-report:{report.id}:changes:{report.reviewed_at.isoformat()}",
        subject=f"[aisc] award {report.award_id}: changes asked to progress report {report.id}",
        body=f"The secretariat asks for changes to the report due {report.due_date}:\n\n"
        f"{report.review_note}\n",
    )
    return report


def lead_emails(ctx: Ctx, award_id: int) -> list[str]:
    """The project lead's address (the PI), where reminders and notices go."""
    authorize(ctx, "progress.read")
    award = ctx.db.get(Award, award_id)
    if award is None:
        return []
    return list(
        ctx.db.scalars(
            select(Person.email)
            .join(ProjectMember, ProjectMember.person_id == Person.id)
            .where(
                ProjectMember.application_id == award.application_id,
                ProjectMember.role == ProjectRole.PI,
            )
            .order_by(Person.email)
        )
    )


def _tell_lead(ctx: Ctx, report: ProgressReport, *, key: str, subject: str, body: str) -> bool:
    to = lead_emails(ctx, report.award_id)
    if not to:
        return False
    return (
        outbox.enqueue(ctx, key=key, kind="progress_report", to=to, subject=subject, body=body)
        is not None
    )


def outcome_totals(ctx: Ctx, *, as_of: date | None = None) -> dict[str, int]:
    """What accepted reports say the scheme's projects delivered, by kind, as of a date (by the
    day of acceptance; all of them without one). Public like the scheme's other statistics."""
    authorize(ctx, "scheme.read")
    get_scheme(ctx)
    query = select(ProgressReport.outputs, ProgressReport.reviewed_at).where(
        ProgressReport.status == S.ACCEPTED
    )
    totals = dict.fromkeys(OUTPUT_KINDS, 0)
    for outputs, reviewed_at in ctx.db.execute(query):
        if as_of is not None and (reviewed_at is None or reviewed_at.date() > as_of):
            continue
        for kind, count in Outputs.model_validate(outputs or {}).totals().items():
            totals[kind] += count
    return totals


def running_award_ids(ctx: Ctx) -> list[int]:
    """Awards that are active or suspended (a housekeeping step: ``progress.review``)."""
    authorize(ctx, "progress.review")
    return list(
        ctx.db.scalars(select(Award.id).where(Award.status.in_(RUNNING)).order_by(Award.id))
    )


def owed_reports(ctx: Ctx) -> list[ProgressReport]:
    """Reports of running awards the leads still owe (a housekeeping step)."""
    authorize(ctx, "progress.review")
    return list(
        ctx.db.scalars(
            select(ProgressReport)
            .join(Award, Award.id == ProgressReport.award_id)
            .where(ProgressReport.status.in_(OWED), Award.status.in_(RUNNING))
            .order_by(ProgressReport.due_date, ProgressReport.id)
        )
    )


def tell_lead(ctx: Ctx, report: ProgressReport, *, key: str, subject: str, body: str) -> bool:
    """Queue a message about ``report`` to the lead once per ``key`` (a housekeeping step)."""
    authorize(ctx, "progress.review")
    return _tell_lead(ctx, report, key=key, subject=subject, body=body)


def overdue_reports(ctx: Ctx) -> list[ProgressReport]:
    """Reports in reach still owed past their due date, oldest first (the queue's second part)."""
    query = _in_reach(ctx, "progress.read").where(
        ProgressReport.status.in_(OWED), ProgressReport.due_date < ctx.now.date()
    )
    return list(ctx.db.scalars(query.order_by(ProgressReport.due_date, ProgressReport.id)))


def may_submit(ctx: Ctx, *, report_id: int) -> bool:
    """Whether the principal may submit this report now (to show the form or not)."""
    report = view_report(ctx, report_id=report_id)
    award = ctx.db.get(Award, report.award_id)
    if report.status not in OWED or award is None:
        return False
    try:
        permit(ctx, "progress.submit", application_id=award.application_id)
    except AiscError:
        return False
    return ctx.principal.person_id is not None
