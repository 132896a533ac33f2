"""Progress reports in the portal: the lead submits (one page per report), the secretariat
reviews (a queue, then accept or send back), and conditions are marked met or waived."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aisc.errors import AiscError, ValidationFailed
from aisc.portal.labels import N_
from aisc.portal.public import Form
from aisc.portal.web import (
    PageContext,
    form_errors,
    page_action,
    page_for,
    parse_form,
    status_of,
    whole_number,
)
from aisc.progress import conditions
from aisc.progress import service as progress
from aisc.progress.schemas import ReportSubmit

router = APIRouter(include_in_schema=False)

LISTS = ("models", "datasets", "patents", "products")
COUNTS = ("users_reached", "people_hired", "people_trained")


def _lines(text: Any) -> list[list[str]]:
    """A text area's non-empty lines, each split on ``|`` into trimmed parts."""
    return [
        [part.strip() for part in line.split("|")]
        for line in str(text or "").splitlines()
        if line.strip()
    ]


def _report_body(form: Any, person_id: int | None) -> dict[str, Any]:
    """The form's text areas as a ``ReportSubmit`` body: milestones "title | status | note",
    papers "title | DOI", outputs "name | link", attachments "file | bytes | SHA-256"."""
    milestones = [
        {"title": p[0], "status": p[1] if len(p) > 1 else "", "note": " | ".join(p[2:])}
        for p in _lines(form.get("milestones"))
    ]
    outputs: dict[str, Any] = {
        "papers": [
            {"title": p[0], **({"doi": p[1]} if len(p) > 1 and p[1] else {})}
            for p in _lines(form.get("papers"))
        ],
        "hk_relevance": str(form.get("hk_relevance", "")),
    }
    for kind in LISTS:
        outputs[kind] = [
            {"name": p[0], "link": p[1] if len(p) > 1 else ""} for p in _lines(form.get(kind))
        ]
    for kind in COUNTS:
        outputs[kind] = whole_number(str(form.get(kind, "")), field=kind) or 0
    attachments = []
    for p in _lines(form.get("attachments")):
        if len(p) != 3:
            raise ValidationFailed(
                "attachments: write each as file name | size in bytes | SHA-256",
                field="attachments",
            )
        size = whole_number(p[1], field="attachments")
        attachments.append({"filename": p[0], "size_bytes": size or 0, "sha256": p[2].lower()})
    return {
        "narrative": str(form.get("narrative", "")),
        "milestones": milestones,
        "outputs": outputs,
        "attachments": attachments,
        "submitted_by_id": person_id,
    }


def _to_form_fields(exc: ValidationFailed) -> ValidationFailed:
    """Name the form's own fields: ``outputs.papers.doi`` -> ``papers``."""
    details = []
    for item in exc.details or []:
        name = str(item.get("field", "")) if isinstance(item, dict) else ""
        parts = name.split(".")
        name = parts[1] if parts[0] == "outputs" and len(parts) > 1 else parts[0]
        details.append({**item, "field": name} if isinstance(item, dict) else item)
    field = exc.field.split(".")[0] if exc.field else None
    if exc.field and exc.field.startswith("outputs.") and len(exc.field.split(".")) > 1:
        field = exc.field.split(".")[1]
    return ValidationFailed(exc.message, field=field, details=details or None)


def _report_page(page: PageContext, report_id: int, status: int = 200, **extra: Any) -> Response:
    with page.uow() as ctx:
        report = progress.read_report(ctx, progress.view_report(ctx, report_id=report_id))
        may_submit = progress.may_submit(ctx, report_id=report_id)
    return page.render(
        "progress_report.html",
        status,
        report=report,
        may_submit=may_submit,
        values=extra.get("values") or _values_of(report),
    )


def _values_of(report: Any) -> dict[str, Any]:
    """A report's content as the form's text areas (to resubmit after changes)."""
    out = report.outputs
    values: dict[str, Any] = {
        "narrative": report.narrative,
        "milestones": "\n".join(
            " | ".join(x for x in (m.title, m.status.value, m.note) if x) for m in report.milestones
        ),
        "papers": "\n".join(" | ".join(x for x in (p.title, p.doi or "") if x) for p in out.papers),
        "hk_relevance": out.hk_relevance,
        "attachments": "\n".join(
            f"{a.filename} | {a.size_bytes} | {a.sha256}" for a in report.attachments
        ),
    }
    for kind in LISTS:
        values[kind] = "\n".join(
            " | ".join(x for x in (o.name, o.link) if x) for o in getattr(out, kind)
        )
    for kind in COUNTS:
        values[kind] = getattr(out, kind) or ""
    return values


@router.get("/progress", response_class=HTMLResponse)
@page_action("progress.review")
def review_queue(request: Request) -> Response:
    page = page_for(request)
    with page.uow() as ctx:
        waiting = [progress.read_report(ctx, r) for r in progress.list_reports(ctx, waiting=True)]
        owed = [progress.read_report(ctx, r) for r in progress.overdue_reports(ctx)]
    return page.render("progress_queue.html", waiting=waiting, owed=owed)


@router.get("/progress/{report_id}", response_class=HTMLResponse)
@page_action("progress.read")
def report(request: Request, report_id: int) -> Response:
    return _report_page(page_for(request), report_id)


@router.post("/progress/{report_id}/submit", response_class=HTMLResponse)
@page_action("progress.submit")
def submit(request: Request, report_id: int, form: Form) -> Response:
    page = page_for(request, form)
    values = dict(form)
    try:
        try:
            data = parse_form(ReportSubmit, _report_body(form, page.principal.person_id))
        except ValidationFailed as exc:
            raise _to_form_fields(exc) from exc
        with page.uow() as ctx:
            progress.submit_report(ctx, report_id=report_id, data=data)
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _report_page(page, report_id, status_of(exc), values=values)
    return page.redirect(f"/progress/{report_id}", N_("Report submitted."))


@router.post("/progress/{report_id}/accept", response_class=HTMLResponse)
@page_action("progress.review")
def accept(request: Request, report_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        with page.uow() as ctx:
            progress.accept_report(ctx, report_id=report_id, note=str(form.get("note", "")))
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _report_page(page, report_id, status_of(exc))
    return page.redirect(f"/progress/{report_id}", N_("Report accepted."))


@router.post("/progress/{report_id}/request-changes", response_class=HTMLResponse)
@page_action("progress.review")
def send_back(request: Request, report_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        with page.uow() as ctx:
            progress.request_changes(ctx, report_id=report_id, note=str(form.get("note", "")))
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _report_page(page, report_id, status_of(exc))
    return page.redirect(f"/progress/{report_id}", N_("Changes requested."))


@router.post("/conditions/{condition_id}/resolve", response_class=HTMLResponse)
@page_action("condition.resolve")
def resolve(request: Request, condition_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        with page.uow() as ctx:
            found = conditions.resolve(
                ctx,
                condition_id=condition_id,
                outcome=str(form.get("outcome", "")),
                text=str(form.get("text", "")),
            )
            award_id = found.award_id
    except AiscError as exc:
        return page.render("error.html", status_of(exc), message=exc.message)
    return page.redirect(f"/projects/{award_id}", N_("Condition updated."))
