"""Reviewers (their queue, conflict declarations, scores with the criteria and weights) and the
secretariat and committee (screening, reviewer assignment, reviews and weighted totals, the
decision, the fund position and what a pending approval does to capacity)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from aisc.accounts import service as accounts
from aisc.accounts.models import Person, PersonRole, Role
from aisc.applications import service as applications
from aisc.applications.models import ApplicationStatus
from aisc.applications.schemas import ApplicationRead
from aisc.applications.screening import RULE_CODES
from aisc.errors import AiscError, ValidationFailed
from aisc.portal.labels import N_
from aisc.portal.public import Form
from aisc.portal.web import (
    PAGE_SIZE,
    Page,
    form_errors,
    nest,
    page_for,
    page_number,
    parse_form,
    status_of,
    whole_number,
)
from aisc.review import decisions
from aisc.review import service as review
from aisc.review.models import Outcome
from aisc.review.schemas import DecisionCreate, DeclarationIn, ScoresIn
from aisc.scheme.service import get_scheme

router = APIRouter(include_in_schema=False)
CONFLICT_DECLARED = N_("Conflict declared: you will not score this application.")
NO_CONFLICT = N_("No conflict declared: you can score it now.")


# --- reviewers -------------------------------------------------------------------------------


@router.get("/reviews", response_class=HTMLResponse)
def queue(request: Request) -> Response:
    page = page_for(request)
    page.require(Role.REVIEWER)
    assert page.principal.person_id is not None
    with page.uow() as ctx:
        items = review.list_assignments_for(ctx, reviewer_id=page.principal.person_id)
        titles = {
            r.application_id: applications.get_application(ctx, application_id=r.application_id)
            for r in items
        }
        rows = [(r, titles[r.application_id]) for r in items]
    return page.render("reviews.html", rows=rows)


def _review_page(page: Page, application_id: int, status: int = 200, **extra: Any) -> Response:
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
        scheme = get_scheme(ctx.db)
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
def review_page(request: Request, application_id: int) -> Response:
    page = page_for(request)
    page.require(Role.REVIEWER)
    return _review_page(page, application_id)


@router.post("/reviews/{application_id}/declaration", response_class=HTMLResponse)
def declare(request: Request, application_id: int, form: Form) -> Response:
    page = page_for(request, form)
    page.require(Role.REVIEWER)
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
def score(request: Request, application_id: int, form: Form) -> Response:
    page = page_for(request, form)
    page.require(Role.REVIEWER)
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
def secretariat(request: Request) -> Response:
    from aisc.ledger.service import balances

    page = page_for(request)
    page.require(Role.SECRETARIAT, Role.AUDITOR)
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
        scheme = get_scheme(ctx.db)
        fund = balances(ctx, scheme_id=scheme.id)
    return page.render(
        "secretariat.html",
        items=items,
        fund=fund,
        statuses=[s.value for s in ApplicationStatus],
        wanted=status_text,
        page_no=number,
        has_more=len(rows) > PAGE_SIZE,
    )


def _reviewers(ctx: Any) -> list[Person]:
    return list(
        ctx.db.execute(
            select(Person)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(PersonRole.role == Role.REVIEWER, Person.is_active.is_(True))
            .order_by(Person.name)
        ).scalars()
    )


def _case_page(page: Page, application_id: int, status: int = 200, **extra: Any) -> Response:
    from aisc.allocations.service import application_check

    with page.uow() as ctx:
        app = ApplicationRead.of(applications.view_application(ctx, application_id=application_id))
        summary = review.review_summary(
            ctx, application_id=application_id, viewer_id=page.principal.person_id
        )
        names = {p.id: p.name for p in _reviewers(ctx)}
        assigned = {r.reviewer_id for r in summary.reviews}
        reviewers = [(p.id, p.name) for p in _reviewers(ctx) if p.id not in assigned]
        org = accounts.get_organisation(ctx, organisation_id=app.organisation_id)
        scheme = get_scheme(ctx.db)
        criteria = {c.code: c.name for c in scheme.criteria}
        past = [
            decisions.read_decision(ctx, d)
            for d in decisions.list_decisions(ctx, application_id=application_id)
        ]
        try:
            check = application_check(ctx, application_id=application_id)
        except AiscError:
            check = None
    if check is not None and extra.get("forecast"):
        from aisc.simulate.planner import forecast_check

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
        check=check,
        outcomes=[(o.value, page.gettext(_label(o.value))) for o in Outcome],
        rules=[("", "–"), *((code, code) for code in sorted(RULE_CODES))],
        values=extra.get("values", {}),
        scheme=scheme,
    )


def _label(code: str) -> str:
    from aisc.portal.labels import label

    return label(code)


@router.get("/secretariat/applications/{application_id}", response_class=HTMLResponse)
def case(request: Request, application_id: int) -> Response:
    page = page_for(request)
    page.require(Role.SECRETARIAT, Role.AUDITOR)
    forecast = request.query_params.get("forecast") == "1"
    return _case_page(page, application_id, forecast=forecast)


ACTIONS = {
    "screen": applications.start_screening,
    "start_review": applications.start_review,
    "reopen": applications.reopen,
}


@router.post("/secretariat/applications/{application_id}/{action}", response_class=HTMLResponse)
def case_action(request: Request, application_id: int, action: str, form: Form) -> Response:
    page = page_for(request, form)
    page.require(Role.SECRETARIAT)
    try:
        with page.uow() as ctx:
            if action in ACTIONS:
                ACTIONS[action](ctx, application_id=application_id)
            elif action == "return":
                applications.return_incomplete(
                    ctx, application_id=application_id, note=str(form.get("note", ""))[:2000]
                )
            elif action == "assign":
                reviewer = whole_number(str(form.get("reviewer_id", "")), field="reviewer_id")
                if not reviewer:
                    raise ValidationFailed("reviewer_id: choose a reviewer", field="reviewer_id")
                review.assign_reviewer(ctx, application_id=application_id, reviewer_id=reviewer)
            elif action == "decide":
                decisions.decide(ctx, application_id=application_id, data=_decision(page, form))
            else:
                raise ValidationFailed(f"unknown action {action!r}", field="action")
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _case_page(page, application_id, status_of(exc), values=dict(form))
    notices = {
        "screen": N_("Screening done: see the findings."),
        "start_review": N_("Passed screening: reviewers can be assigned."),
        "return": N_("Returned to the applicant as incomplete."),
        "assign": N_("Reviewer assigned."),
        "decide": N_("Decision recorded."),
        "reopen": N_("Reopened."),
    }
    return page.redirect(f"/secretariat/applications/{application_id}", notices.get(action))


def _decision(page: Page, form: Any) -> DecisionCreate:
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
        try:
            body["subsidy_rate"] = str(float(data["subsidy_rate"]) / 100)
        except ValueError:
            raise ValidationFailed(
                "subsidy_rate: give a percentage, e.g. 70", field="subsidy_rate"
            ) from None
    # A capacity override is an operator's call (recorded with their name): not in this form.
    return parse_form(DecisionCreate, body)
