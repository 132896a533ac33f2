"""Reviewers (their queue, conflict declarations, scores with the criteria and weights) and the
secretariat and committee (screening, reviewer assignment, reviews and weighted totals, the
decision, the fund position and what a pending approval does to capacity)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aisc.accounts import service as accounts
from aisc.applications import service as applications
from aisc.applications.models import ApplicationStatus
from aisc.applications.schemas import ApplicationRead
from aisc.applications.screening import RULE_CODES
from aisc.context import Ctx
from aisc.errors import AiscError, ValidationFailed
from aisc.money import bp_to_rate, parse_percent
from aisc.portal.labels import N_
from aisc.portal.public import Form
from aisc.portal.web import (
    PAGE_SIZE,
    PageContext,
    form_errors,
    nest,
    page_action,
    page_for,
    page_number,
    parse_form,
    status_of,
    whole_number,
)
from aisc.progress import conditions as progress_conditions
from aisc.progress import service as progress
from aisc.review import decisions
from aisc.review import service as review
from aisc.review.models import DecisionOutcome
from aisc.review.schemas import DecisionCreate, DeclarationIn, ScoresIn
from aisc.scheme.service import fund_position, get_scheme

router = APIRouter(include_in_schema=False)
CONFLICT_DECLARED = N_("Conflict declared: you will not score this application.")
NO_CONFLICT = N_("No conflict declared: you can score it now.")


# --- reviewers -------------------------------------------------------------------------------


@router.get("/reviews", response_class=HTMLResponse)
@page_action("review.queue")
def queue(request: Request) -> Response:
    page = page_for(request)
    assert page.principal.person_id is not None
    with page.uow() as ctx:
        items = review.list_assignments_for(ctx, reviewer_id=page.principal.person_id)
        titles = {
            r.application_id: applications.get_application(ctx, application_id=r.application_id)
            for r in items
        }
        rows = [(r, titles[r.application_id]) for r in items]
    return page.render("reviews.html", rows=rows)


def _review_page(
    page: PageContext, application_id: int, status: int = 200, **extra: Any
) -> Response:
    assert page.principal.person_id is not None
    with page.uow() as ctx:
        app = ApplicationRead.of(applications.view_application(ctx, application_id=application_id))
        mine = next(
            (
                r
                for r in review.list_assignments_for(ctx, reviewer_id=page.principal.person_id)
                if r.application_id == application_id
            ),
            None,
        )
        scheme = get_scheme(ctx)
        criteria = [
            (c.code, c.name, c.weight) for c in sorted(scheme.criteria, key=lambda c: c.position)
        ]
    if mine is None:
        raise ValidationFailed(f"you are not a reviewer of application {application_id}",
                               field="application_id")  # fmt: skip
    given = {s.criterion_code: s for s in mine.scores}
    return page.render("review.html", status, app=app, review=mine, criteria=criteria,
                       given=given, values=extra.get("values", {}))  # fmt: skip


@router.get("/reviews/{application_id}", response_class=HTMLResponse)
@page_action("review.queue")
def review_page(request: Request, application_id: int) -> Response:
    page = page_for(request)
    return _review_page(page, application_id)


@router.post("/reviews/{application_id}/declaration", response_class=HTMLResponse)
@page_action("review.write")
def declare(request: Request, application_id: int, form: Form) -> Response:
    page = page_for(request, form)
    assert page.principal.person_id is not None
    choice = str(form.get("conflict", ""))
    try:
        if choice not in ("yes", "no"):
            raise ValidationFailed("conflict: say whether you have a conflict of interest",
                                   field="conflict")  # fmt: skip
        with page.uow() as ctx:
            review.declare(
                ctx,
                application_id=application_id,
                reviewer_id=page.principal.person_id,
                data=DeclarationIn(conflict=choice == "yes", note=str(form.get("note", ""))[:2000]),
            )
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _review_page(page, application_id, status_of(exc), values=dict(form))
    notice = (
        "Conflict declared: you will not score this application."
        if choice == "yes"
        else ("No conflict declared: you can score it now.")
    )
    return page.redirect(f"/reviews/{application_id}", notice)


@router.post("/reviews/{application_id}/scores", response_class=HTMLResponse)
@page_action("review.write")
def score(request: Request, application_id: int, form: Form) -> Response:
    page = page_for(request, form)
    assert page.principal.person_id is not None
    data = nest(form)
    try:
        scores = {
            code: {"score": value.get("score"), "comment": value.get("comment", "")}
            for code, value in data.get("scores", {}).items()
        }
        body = parse_form(ScoresIn, {"scores": scores, "comment": data.get("comment", "")})
        with page.uow() as ctx:
            review.submit_scores(
                ctx, application_id=application_id, reviewer_id=page.principal.person_id,
                data=body,
            )  # fmt: skip
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _review_page(page, application_id, status_of(exc), values=dict(form))
    return page.redirect("/reviews", N_("Scores saved. Thank you."))


# --- the secretariat and the committee --------------------------------------------------------


@router.get("/secretariat", response_class=HTMLResponse)
@page_action("casework.read")
def secretariat(request: Request) -> Response:
    page = page_for(request)
    status_text = request.query_params.get("status", "")
    wanted = (
        ApplicationStatus(status_text)
        if status_text in ApplicationStatus._value2member_map_
        else None
    )
    number = page_number(request)
    with page.uow() as ctx:
        rows = applications.list_applications(
            ctx, status=wanted, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
        )
        items = [ApplicationRead.of(a) for a in rows[:PAGE_SIZE]]
        fund = fund_position(ctx)
    return page.render(
        "secretariat.html",
        items=items,
        fund=fund,
        statuses=[s.value for s in ApplicationStatus],
        wanted=status_text,
        page_no=number,
        has_more=len(rows) > PAGE_SIZE,
    )


def _case_page(page: PageContext, application_id: int, status: int = 200, **extra: Any) -> Response:
    from aisc.allocations.service import application_check

    with page.uow() as ctx:
        app = ApplicationRead.of(applications.view_application(ctx, application_id=application_id))
        summary = review.review_summary(
            ctx, application_id=application_id, viewer_id=page.principal.person_id
        )
        active = accounts.list_reviewers(ctx)
        names = {p.id: p.name for p in active}
        assigned = {r.reviewer_id for r in summary.reviews}
        reviewers = [(p.id, p.name) for p in active if p.id not in assigned]
        org = accounts.get_organisation(ctx, organisation_id=app.organisation_id)
        scheme = get_scheme(ctx)
        criteria = {c.code: c.name for c in scheme.criteria}
        past = [
            decisions.read_decision(ctx, d)
            for d in decisions.list_decisions(ctx, application_id=application_id)
        ]
        award_id = next((d.award_id for d in past if d.award_id is not None), None)
        reports = (
            [progress.read_report(ctx, r) for r in progress.list_reports(ctx, award_id=award_id)]
            if award_id
            else []
        )
        conditions = (
            [
                progress_conditions.read_condition(ctx, c)
                for c in progress_conditions.list_conditions(ctx, award_id=award_id)
            ]
            if award_id
            else []
        )
        try:
            check = application_check(ctx, application_id=application_id)
        except AiscError:
            check = None
    if check is not None and extra.get("forecast"):
        from aisc.allocations.forecast import forecast_check

        check = forecast_check(check)
    return page.render(
        "case.html",
        status,
        app=app,
        org=org,
        summary=summary,
        names=names,
        reviewers=reviewers,
        criteria=criteria,
        decisions=past,
        award_id=award_id,
        reports=reports,
        conditions=conditions,
        check=check,
        outcomes=[(o.value, page.gettext(_label(o.value))) for o in DecisionOutcome],
        rules=[("", "–"), *((code, code) for code in sorted(RULE_CODES))],
        values=extra.get("values", {}),
        scheme=scheme,
    )


def _label(code: str) -> str:
    from aisc.portal.labels import label

    return label(code)


@router.get("/secretariat/applications/{application_id}", response_class=HTMLResponse)
@page_action("casework.read")
def case(request: Request, application_id: int) -> Response:
    page = page_for(request)
    forecast = request.query_params.get("forecast") == "1"
    return _case_page(page, application_id, forecast=forecast)


def _screen(ctx: Ctx, application_id: int, _form: Any, _page: PageContext) -> None:
    applications.start_screening(ctx, application_id=application_id)


def _start_review(ctx: Ctx, application_id: int, _form: Any, _page: PageContext) -> None:
    applications.start_review(ctx, application_id=application_id)


def _reopen(ctx: Ctx, application_id: int, _form: Any, _page: PageContext) -> None:
    applications.reopen(ctx, application_id=application_id)


def _return(ctx: Ctx, application_id: int, form: Any, _page: PageContext) -> None:
    note = str(form.get("note", ""))[:2000]
    applications.return_incomplete(ctx, application_id=application_id, note=note)


def _assign(ctx: Ctx, application_id: int, form: Any, _page: PageContext) -> None:
    reviewer = whole_number(str(form.get("reviewer_id", "")), field="reviewer_id")
    if not reviewer:
        raise ValidationFailed("reviewer_id: choose a reviewer", field="reviewer_id")
    review.assign_reviewer(ctx, application_id=application_id, reviewer_id=reviewer)


def _decide(ctx: Ctx, application_id: int, form: Any, page: PageContext) -> None:
    decisions.decide(ctx, application_id=application_id, data=_decision(page, form))


# The case's forms: (what it does, the matrix action that opens it, its notice). One route
# each, so that every form names its own action.
CASE_ACTIONS: dict[str, tuple[Callable[[Ctx, int, Any, PageContext], None], str, str]] = {
    "screen": (_screen, "application.screen", N_("Screening done: see the findings.")),
    "start_review": (
        _start_review,
        "application.screen",
        N_("Passed screening: reviewers can be assigned."),
    ),
    "return": (_return, "application.screen", N_("Returned to the applicant as incomplete.")),
    "reopen": (_reopen, "application.screen", N_("Reopened.")),
    "assign": (_assign, "review.assign", N_("Reviewer assigned.")),
    "decide": (_decide, "decision.make", N_("Decision recorded.")),
}


def _case_action(request: Request, application_id: int, name: str, form: Any) -> Response:
    act, _action, notice = CASE_ACTIONS[name]
    page = page_for(request, form)
    try:
        with page.uow() as ctx:
            act(ctx, application_id, form, page)
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _case_page(page, application_id, status_of(exc), values=dict(form))
    return page.redirect(f"/secretariat/applications/{application_id}", notice)


def _case_route(name: str) -> None:
    action = CASE_ACTIONS[name][1]

    @router.post(f"/secretariat/applications/{{application_id}}/{name}",
                 response_class=HTMLResponse, name=f"case_{name}")  # fmt: skip
    @page_action(action)
    def view(request: Request, application_id: int, form: Form) -> Response:
        return _case_action(request, application_id, name, form)


for _name in CASE_ACTIONS:
    _case_route(_name)


def _decision(page: PageContext, form: Any) -> DecisionCreate:
    data = nest(form)
    # One reason field per criterion of the scheme, and one under a screening rule.
    reasons = [
        {"code": code, "text": str(text).strip()}
        for code, text in data.get("reasons", {}).items()
        if str(text).strip()
    ]
    rule = data.get("rule", {})
    if rule.get("text"):
        reasons.append({"code": rule.get("code", ""), "text": rule["text"]})
    conditions = [
        line.strip() for line in str(form.get("conditions", "")).splitlines() if line.strip()
    ]
    body: dict[str, Any] = {
        "outcome": data.get("outcome"),
        "decided_by_id": page.principal.person_id,
        "reasons": reasons,
        "conditions": conditions,
        "grant": data.get("grant", {}),
        "exceptional_justification": data.get("exceptional_justification", ""),
    }
    if data.get("subsidy_rate"):
        # Typed as a percentage; read exactly (70.01% is 7001 bp), never through a float.
        bp = parse_percent(str(data["subsidy_rate"]), field="subsidy_rate")
        body["subsidy_rate"] = str(bp_to_rate(bp))
    # A capacity override is an operator's call (recorded with their name): not in this form.
    return parse_form(DecisionCreate, body)
