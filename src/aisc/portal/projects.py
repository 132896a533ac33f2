"""Project teams (PIs and members): their projects, the allocation's burn against plan, jobs
(submit, list with start-time estimates, cancel, logs), usage and invoices."""

from __future__ import annotations

import shlex
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aisc.allocations.service import list_allocations
from aisc.awards import changes as award_changes
from aisc.awards import service as awards
from aisc.awards.schemas import AwardChangeRead
from aisc.billing import service as billing
from aisc.cluster.service import list_partitions
from aisc.errors import AiscError, ValidationFailed
from aisc.executors.sandbox import refusal
from aisc.jobs import service as jobs
from aisc.jobs.models import JobState
from aisc.jobs.schemas import JobSubmit, parse_walltime
from aisc.metering.service import list_usage
from aisc.portal.labels import N_
from aisc.portal.public import Form
from aisc.portal.web import (
    PAGE_SIZE,
    PageContext,
    form_errors,
    page_action,
    page_for,
    page_number,
    parse_day,
    parse_form,
    status_of,
    whole_number,
)
from aisc.progress import conditions as progress_conditions
from aisc.progress import service as progress

router = APIRouter(include_in_schema=False)


@router.get("/projects", response_class=HTMLResponse)
@page_action("award.read")
def projects(request: Request) -> Response:
    page = page_for(request)
    with page.uow() as ctx:
        rows = []
        for award in awards.list_awards(ctx):
            rows.append((awards.read_award(ctx, award), awards.burn(ctx, award)))
    return page.render("projects.html", rows=rows)


def _project_page(page: PageContext, award_id: int, status: int = 200, **extra: Any) -> Response:
    number = page_number(page.request)
    with page.uow() as ctx:
        award = awards.view_award(ctx, award_id=award_id)
        read = awards.read_award(ctx, award)
        burn = awards.burn(ctx, award)
        allocations = list_allocations(ctx, award_id=award_id)
        job_rows = jobs.list_jobs(
            ctx, award_id=award_id, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
        )
        job_list = [jobs.read_job(ctx, j) for j in job_rows[:PAGE_SIZE]]
        usage = list_usage(ctx, award_id=award_id, limit=20)
        invoices = billing.list_invoices(ctx, award_id=award_id, limit=24)
        reports = [
            progress.read_report(ctx, r) for r in progress.list_reports(ctx, award_id=award_id)
        ]
        conditions = [
            progress_conditions.read_condition(ctx, c)
            for c in progress_conditions.list_conditions(ctx, award_id=award_id)
        ]
        partitions = sorted({a.partition for a in allocations}) or [
            p.name for p in list_partitions(ctx)
        ]
        history = [
            AwardChangeRead.of(c) for c in award_changes.list_changes(ctx, award_id=award_id)
        ]
    return page.render(
        "project.html",
        status,
        award=read,
        burn=burn,
        allocations=allocations,
        jobs=job_list,
        usage=usage,
        invoices=invoices,
        reports=reports,
        conditions=conditions,
        partitions=[(p, p) for p in partitions],
        values=extra.get("values", {"nodes": 1, "gpus_per_node": 1, "walltime": "1h"}),
        page_no=number,
        has_more=len(job_rows) > PAGE_SIZE,
        changes=history,
        change_kinds=[(k, page.gettext(t)) for k, t in CHANGE_KINDS],
        change_values=extra.get("change_values", {}),
    )


CHANGE_KINDS = [
    ("top_up", N_("Top-up")),
    ("reduction", N_("Reduction")),
    ("extension", N_("Extension")),
    ("early_end", N_("Early end")),
]


@router.post("/projects/{award_id}/changes", response_class=HTMLResponse)
@page_action("award.change")
def change_award(request: Request, award_id: int, form: Form) -> Response:
    """The secretariat records a committee's change to the award, once confirmed."""
    page = page_for(request, form)
    values = dict(form)
    try:
        if form.get("confirm") != "yes":
            raise ValidationFailed(
                "confirm: tick the box to confirm that this records the committee's decision",
                field="confirm",
            )
        kind = str(form.get("kind", ""))
        said = {
            "reason": str(form.get("reason", ""))[:5000],
            "decided_by": str(form.get("decided_by", ""))[:300],
        }
        cards = whole_number(str(form.get("gpu_cards", "")), field="gpu_cards")
        hours = whole_number(str(form.get("gpu_hours", "")), field="gpu_hours")
        end = parse_day(str(form.get("end_date", "")), field="end_date")
        start = parse_day(str(form.get("effective_date", "")), field="effective_date")
        if kind in ("extension", "early_end") and end is None:
            raise ValidationFailed("end_date: give the new end date", field="end_date")
        with page.uow() as ctx:
            if kind == "top_up":
                award_changes.top_up(
                    ctx, award_id=award_id, gpu_cards=cards, gpu_hours=hours, end_date=end,
                    effective_date=start, **said,
                )  # fmt: skip
            elif kind == "reduction":
                award_changes.reduce(
                    ctx, award_id=award_id, gpu_cards=cards, gpu_hours=hours,
                    effective_date=start, **said,
                )  # fmt: skip
            elif kind == "extension" and end is not None:
                award_changes.extend(ctx, award_id=award_id, end_date=end, **said)
            elif kind == "early_end" and end is not None:
                award_changes.end_early(ctx, award_id=award_id, end_date=end, **said)
            else:
                raise ValidationFailed("kind: choose the kind of change", field="kind")
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _project_page(page, award_id, status_of(exc), change_values=values)
    return page.redirect(f"/projects/{award_id}", N_("Change recorded."))


@router.get("/projects/{award_id}", response_class=HTMLResponse)
@page_action("award.read")
def project(request: Request, award_id: int) -> Response:
    page = page_for(request)
    return _project_page(page, award_id)


@router.post("/projects/{award_id}/jobs", response_class=HTMLResponse)
@page_action("job.submit")
def submit_job(request: Request, award_id: int, form: Form) -> Response:
    page = page_for(request, form)
    values = dict(form)
    try:
        command_text = str(form.get("command", "")).strip()
        try:
            command = shlex.split(command_text)
        except ValueError as exc:
            raise ValidationFailed(f"command: {exc}", field="command") from exc
        if not command:
            raise ValidationFailed("command: give the program to run", field="command")
        try:
            walltime = parse_walltime(str(form.get("walltime", "")))
        except AiscError as exc:
            raise ValidationFailed(
                "walltime: write it as 90m, 2h or 1h30m", field="walltime"
            ) from exc
        environment = {}
        for line in str(form.get("environment", "")).splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ValidationFailed(
                    f"environment: {line.strip()!r} is not KEY=VALUE", field="environment"
                )
            environment[key.strip()] = value
        body = {
            "award_id": award_id,
            "submitted_by_id": page.principal.person_id,
            "name": str(form.get("name", ""))[:200],
            "partition": form.get("partition", ""),
            "nodes": form.get("nodes") or 1,
            "gpus_per_node": form.get("gpus_per_node") or 1,
            "walltime_s": walltime,
            "command": command,
            "environment": environment,
        }
        data = parse_form(JobSubmit, body)
        with page.uow() as ctx:
            settings = page.request.app.state.settings
            job_id = jobs.submit(
                ctx,
                data=data,
                backend=settings.executor,
                isolation_refusal=refusal(settings.job_isolation, settings.executor),
            ).id
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        if "walltime_s" in page.errors:
            page.errors["walltime"] = page.errors.pop("walltime_s")
        return _project_page(page, award_id, status_of(exc), values=values)
    return page.redirect(f"/jobs/{job_id}", N_("Job submitted."))


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
@page_action("job.read")
def job(request: Request, job_id: int) -> Response:
    page = page_for(request)
    with page.uow() as ctx:
        found = jobs.get_job(ctx, job_id=job_id)
        read = jobs.read_job(ctx, found)
        stdout = jobs.logs(ctx, job_id=job_id, tail_bytes=16_384)
        stderr = jobs.logs(ctx, job_id=job_id, stream="stderr", tail_bytes=16_384)
    return page.render(
        "job.html",
        job=read,
        stdout=stdout,
        stderr=stderr,
        environment=found.environment,
        finished=read.state not in (JobState.PENDING, JobState.RUNNING),
    )


@router.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
@page_action("job.cancel")
def cancel(request: Request, job_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        with page.uow() as ctx:
            jobs.cancel(ctx, job_id=job_id)
    except AiscError as exc:
        return page.render("error.html", status_of(exc), message=exc.message)
    return page.redirect(f"/jobs/{job_id}", N_("Cancellation requested."))


@router.get("/invoices/{invoice_id}", response_class=HTMLResponse)
@page_action("billing.read")
def invoice(request: Request, invoice_id: int) -> Response:
    from aisc.billing.views import read_invoice, read_payments

    page = page_for(request)
    with page.uow() as ctx:
        read = read_invoice(ctx, billing.view_invoice(ctx, invoice_id=invoice_id))
        payments = read_payments(ctx, invoice_id=invoice_id, limit=1000)
    return page.render("invoice.html", invoice=read, payments=payments, values={})
