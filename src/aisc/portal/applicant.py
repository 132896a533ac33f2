"""Applicants: their organisation's profile, applications (drafts, submission, status with the
screening reasons, resubmission after an "incomplete"), and accepting an award."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aisc.access import authorize
from aisc.accounts import service as accounts
from aisc.accounts.models import OrgCategory
from aisc.accounts.schemas import OrganisationUpdate
from aisc.applications import service as applications
from aisc.applications.models import ApplicationStatus, Domain, RequestKind
from aisc.applications.schemas import ApplicationCreate, ApplicationRead, ApplicationUpdate
from aisc.awards import service as awards
from aisc.cluster.service import list_gpu_models
from aisc.errors import AiscError
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
)
from aisc.review.decisions import list_decisions, read_decision

router = APIRouter(include_in_schema=False)
EDITABLE = (ApplicationStatus.DRAFT, ApplicationStatus.INCOMPLETE)


def _page_no(request: Request) -> int:
    return page_number(request)


@router.get("/applications", response_class=HTMLResponse)
@page_action("application.read")
def list_page(request: Request) -> Response:
    page = page_for(request)
    number = _page_no(request)
    with page.uow() as ctx:
        rows = applications.list_applications(
            ctx, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
        )
        items = [ApplicationRead.of(a) for a in rows[:PAGE_SIZE]]
    return page.render(
        "applications.html", items=items, page_no=number, has_more=len(rows) > PAGE_SIZE
    )


def _form_context(page: PageContext) -> dict[str, Any]:
    assert page.person is not None
    with page.uow() as ctx:
        orgs = [
            (o.id, o.name)
            for o in accounts.list_organisations(ctx)
            if o.id in page.principal.organisation_ids
        ]
        models = [(m.code, m.code) for m in list_gpu_models(ctx)]
    return {
        "organisations": orgs,
        "domains": [(d.value, page.gettext(_label(d.value))) for d in Domain],
        "kinds": [(k.value, page.gettext(_label(k.value))) for k in RequestKind],
        "gpu_models": models,
    }


def _label(code: str) -> str:
    from aisc.portal.labels import label

    return label(code)


def _values_of(app: ApplicationRead) -> dict[str, Any]:
    compute = app.compute
    return {
        "organisation_id": app.organisation_id,
        "title": app.title,
        "domain": app.domain.value,
        "summary": app.summary,
        "hk_relevance": app.hk_relevance,
        "local_rnd_staff": app.local_rnd_staff,
        "nonlocal_rnd_staff": app.nonlocal_rnd_staff,
        "compute.kind": compute.kind.value,
        "compute.gpu_model": compute.gpu_model,
        "compute.gpu_cards": compute.gpu_cards,
        "compute.gpu_hours": compute.gpu_hours,
        "compute.months": compute.months,
        "compute.preferred_start": compute.preferred_start,
        "declarations.no_double_funding": app.declarations.no_double_funding,
        "declarations.information_true": app.declarations.information_true,
        "declarations.consent_disclosure": app.declarations.consent_disclosure,
        "declarations.legal_compliance": app.declarations.legal_compliance,
    }


def _shape(data: dict[str, Any]) -> dict[str, Any]:
    """The form's fields in the schema's shape: checkboxes present mean true."""
    declarations = data.get("declarations", {})
    data["declarations"] = {
        key: declarations.get(key) == "true"
        for key in ("no_double_funding", "information_true", "consent_disclosure",
                    "legal_compliance")
    }  # fmt: skip
    return data


@router.get("/applications/new", response_class=HTMLResponse)
@page_action("application.create")
def new_page(request: Request) -> Response:
    page = page_for(request)
    context = _form_context(page)
    values = {
        "compute.kind": "dedicated",
        "organisation_id": (context["organisations"] or [[""]])[0][0],
    }
    if context["gpu_models"]:
        values["compute.gpu_model"] = context["gpu_models"][0][0]
    return page.render("application_form.html", values=values, application=None, **context)


@router.post("/applications/new", response_class=HTMLResponse)
@page_action("application.create")
def create(request: Request, form: Form) -> Response:
    page = page_for(request, form)
    values = dict(form)
    data = _shape(nest(form))
    data["created_by_id"] = page.principal.person_id
    try:
        with page.uow() as ctx:
            app_id = applications.create_application(
                ctx, data=parse_form(ApplicationCreate, data)
            ).id
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return page.render("application_form.html", status_of(exc), values=values,
                           application=None, **_form_context(page))  # fmt: skip
    return page.redirect(
        f"/applications/{app_id}", N_("Draft saved. Submit it when it is complete.")
    )


@router.get("/applications/{application_id}", response_class=HTMLResponse)
@page_action("application.read")
def detail(request: Request, application_id: int) -> Response:
    page = page_for(request)
    return _detail(page, application_id)


def _detail(page: PageContext, application_id: int, status: int = 200) -> Response:
    with page.uow() as ctx:
        app = applications.view_application(ctx, application_id=application_id)
        read = ApplicationRead.of(app)
        members = applications.list_members(ctx, application_id=application_id)
        people = {m.person_id: accounts.get_person(ctx, person_id=m.person_id) for m in members}
        try:
            decisions = [read_decision(ctx, d) for d in list_decisions(ctx, application_id=app.id)]
        except AiscError:
            decisions = []
        award = next((a for a in awards.list_awards(ctx) if a.application_id == app.id), None)
        award_read = awards.read_award(ctx, award) if award else None
        org = accounts.get_organisation(ctx, organisation_id=app.organisation_id)
        try:
            authorize(ctx, "application.submit")
            can_submit = True
        except AiscError:
            can_submit = False
        is_pi = any(
            m.person_id == page.principal.person_id and m.role.value == "pi" for m in members
        )
    return page.render(
        "application.html",
        status,
        app=read,
        org=org,
        members=[(m, people[m.person_id]) for m in members],
        decisions=decisions,
        award=award_read,
        editable=read.status in EDITABLE,
        can_submit=can_submit,
        is_pi=is_pi,
    )


@router.get("/applications/{application_id}/edit", response_class=HTMLResponse)
@page_action("application.edit")
def edit_page(request: Request, application_id: int) -> Response:
    page = page_for(request)
    with page.uow() as ctx:
        read = ApplicationRead.of(applications.view_application(ctx, application_id=application_id))
    return page.render("application_form.html", values=_values_of(read), application=read,
                       **_form_context(page))  # fmt: skip


@router.post("/applications/{application_id}/edit", response_class=HTMLResponse)
@page_action("application.edit")
def edit(request: Request, application_id: int, form: Form) -> Response:
    page = page_for(request, form)
    values = dict(form)
    data = _shape(nest(form))
    data.pop("organisation_id", None)
    try:
        with page.uow() as ctx:
            applications.update_application(
                ctx, application_id=application_id, data=parse_form(ApplicationUpdate, data)
            )
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        with page.uow() as ctx:
            read = ApplicationRead.of(
                applications.view_application(ctx, application_id=application_id)
            )
        return page.render("application_form.html", status_of(exc), values=values,
                           application=read, **_form_context(page))  # fmt: skip
    return page.redirect(f"/applications/{application_id}", N_("Changes saved."))


@router.post("/applications/{application_id}/submit", response_class=HTMLResponse)
@page_action("application.submit")
def submit(request: Request, application_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        with page.uow() as ctx:
            applications.submit(ctx, application_id=application_id)
    except AiscError as exc:
        page.problem = exc.message
        return _detail(page, application_id, status_of(exc))
    return page.redirect(
        f"/applications/{application_id}", N_("Submitted. The secretariat will screen it.")
    )


@router.post("/applications/{application_id}/withdraw", response_class=HTMLResponse)
@page_action("application.submit")
def withdraw(request: Request, application_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        with page.uow() as ctx:
            applications.withdraw(
                ctx, application_id=application_id, reason=str(form.get("reason", ""))[:2000]
            )
    except AiscError as exc:
        page.problem = exc.message
        return _detail(page, application_id, status_of(exc))
    return page.redirect(f"/applications/{application_id}", N_("Withdrawn."))


@router.post("/applications/{application_id}/members", response_class=HTMLResponse)
@page_action("application.members")
def add_member(request: Request, application_id: int, form: Form) -> Response:
    page = page_for(request, form)
    email = str(form.get("email", "")).strip().lower()
    try:
        with page.uow() as ctx:
            applications.add_member_by_email(ctx, application_id=application_id, email=email)
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _detail(page, application_id, status_of(exc))
    return page.redirect(f"/applications/{application_id}", N_("Member added to the team."))


@router.post("/awards/{award_id}/accept", response_class=HTMLResponse)
@page_action("award.accept")
def accept_award(request: Request, award_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        with page.uow() as ctx:
            award = awards.accept(ctx, award_id=award_id)
            app_id = award.application_id
    except AiscError as exc:
        page.problem = exc.message
        return page.render("error.html", status_of(exc), message=exc.message)
    return page.redirect(f"/applications/{app_id}", N_("Award accepted: the project can start."))


@router.get("/organisations/{organisation_id}", response_class=HTMLResponse)
@page_action("organisation.read")
def organisation(request: Request, organisation_id: int) -> Response:
    page = page_for(request)
    with page.uow() as ctx:
        org = accounts.view_organisation(ctx, organisation_id=organisation_id)
        values = {
            "name": org.name,
            "name_zh": org.name_zh,
            "category": org.category.value,
            "br_number": org.br_number,
            "description": org.description,
        }
    return _org_page(page, organisation_id, values)


def _org_page(
    page: PageContext, organisation_id: int, values: dict[str, Any], status: int = 200
) -> Response:
    categories = [(c.value, page.gettext(_label(c.value))) for c in OrgCategory]
    with page.uow(write=False) as ctx:
        can_edit = authorize(ctx, "organisation.update").covers(organisation_id=organisation_id)
    return page.render("organisation.html", status, organisation_id=organisation_id,
                       values=values, categories=categories, can_edit=can_edit)  # fmt: skip


@router.post("/organisations/{organisation_id}", response_class=HTMLResponse)
@page_action("organisation.update")
def update_organisation(request: Request, organisation_id: int, form: Form) -> Response:
    page = page_for(request, form)
    values = dict(form)
    try:
        with page.uow() as ctx:
            accounts.update_organisation(
                ctx, organisation_id=organisation_id,
                data=parse_form(OrganisationUpdate, nest(form)),
            )  # fmt: skip
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _org_page(page, organisation_id, values, status_of(exc))
    return page.redirect(f"/organisations/{organisation_id}", N_("Organisation profile saved."))
