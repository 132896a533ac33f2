"""Operators (inventory, node states, capacity and utilisation charts) and finance (invoices,
credit notes, the monthly billing run, the reconciliation, the ledger)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aisc.accounts.models import Role
from aisc.billing import service as billing
from aisc.billing.charging import run_month
from aisc.billing.credits import credit
from aisc.billing.months import parse_month
from aisc.billing.reconcile import reconcile
from aisc.cluster import service as cluster
from aisc.cluster.models import NodeState
from aisc.cluster.schemas import NodeRead, NodeStateIn
from aisc.errors import AiscError, ValidationFailed
from aisc.portal.labels import N_
from aisc.portal.public import Form
from aisc.portal.web import (
    PAGE_SIZE,
    Page,
    form_errors,
    page_for,
    page_number,
    parse_form,
    status_of,
)

router = APIRouter(include_in_schema=False)


def _page_no(request: Request) -> int:
    return page_number(request)


# --- operators ---------------------------------------------------------------------------------


def _operator_page(page: Page, status: int = 200, **extra: Any) -> Response:
    from aisc.allocations.service import utilisation

    number = _page_no(page.request)
    with page.uow() as ctx:
        nodes = cluster.list_nodes(ctx, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
        rows = [NodeRead.of(n) for n in nodes[:PAGE_SIZE]]
        counts: dict[str, int] = {}
        for node in cluster.list_nodes(ctx, limit=100_000):
            counts[node.state.value] = counts.get(node.state.value, 0) + 1
        usage = utilisation(ctx, today=ctx.now.date())
        busy = billing.busy_vs_reserved(ctx, today=ctx.now.date())
    reserved = sum(b.reserved_gpu_seconds for b in busy)
    used = sum(b.busy_gpu_seconds for b in busy)
    return page.render(
        "operator.html",
        status,
        nodes=rows,
        counts=counts,
        usage=usage,
        busy_pct=round(100 * used / reserved, 1) if reserved else None,
        states=[(s.value, page.gettext(_label(s.value))) for s in NodeState],
        page_no=number,
        has_more=len(nodes) > PAGE_SIZE,
        values=extra.get("values", {}),
        failed_node=extra.get("failed_node"),
    )


def _label(code: str) -> str:
    from aisc.portal.labels import label

    return label(code)


@router.get("/operator", response_class=HTMLResponse)
def operator(request: Request) -> Response:
    page = page_for(request)
    page.require(Role.OPERATOR, Role.AUDITOR)
    return _operator_page(page)


@router.post("/operator/nodes/{name}/state", response_class=HTMLResponse)
def node_state(request: Request, name: str, form: Form) -> Response:
    page = page_for(request, form)
    page.require(Role.OPERATOR)
    try:
        with page.uow() as ctx:
            cluster.set_node_state(
                ctx,
                name=name,
                data=parse_form(
                    NodeStateIn,
                    {"state": form.get("state"), "reason": str(form.get("reason", ""))},
                ),
            )
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _operator_page(page, status_of(exc), values=dict(form), failed_node=name)
    return page.redirect("/operator", N_("Node state changed."))


@router.get("/charts/capacity.svg")
def capacity_chart(request: Request) -> Response:
    from aisc.reports.plots import capacity_plot

    page = page_for(request)
    page.require(Role.OPERATOR, Role.SECRETARIAT, Role.AUDITOR)
    with page.uow() as ctx:
        body = capacity_plot(ctx, fmt="svg", today=ctx.now.date())
    return Response(body, media_type="image/svg+xml")


@router.get("/charts/utilisation.svg")
def utilisation_chart(request: Request) -> Response:
    """Allocated % (committed of installed) and busy % (used of reserved), month by month."""
    from aisc.allocations.service import utilisation
    from aisc.reports.plots import utilisation_plot

    page = page_for(request)
    page.require(Role.OPERATOR, Role.SECRETARIAT, Role.AUDITOR)
    with page.uow() as ctx:
        allocated = utilisation(ctx, today=ctx.now.date()).months
        busy = billing.busy_by_month(ctx, today=ctx.now.date())
    body = utilisation_plot(
        [(m.month, float(m.allocated_pct)) for m in allocated if m.allocated_pct is not None],
        [(f"{m.month:%Y-%m}", 100 * m.busy_gpu_seconds / m.reserved_gpu_seconds
          if m.reserved_gpu_seconds else None) for m in busy],
        fmt="svg",
        allocated_label=page.gettext("allocated % (committed cards of installed)"),
        busy_label=page.gettext("busy % (GPU time used of reserved by dedicated allocations)"),
    )  # fmt: skip
    return Response(body, media_type="image/svg+xml")


# --- finance ---------------------------------------------------------------------------------


def _finance_page(page: Page, status: int = 200, **extra: Any) -> Response:
    from aisc.ledger.service import list_entries
    from aisc.scheme.service import get_scheme

    number = _page_no(page.request)
    month_text = page.request.query_params.get("month", "")
    month: date | None = None
    if month_text:
        try:
            month = parse_month(month_text)
        except AiscError:
            month = None
    with page.uow() as ctx:
        invoices = billing.list_invoices(
            ctx, month=month, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
        )
        rows = invoices[:PAGE_SIZE]
        notes = {i.id: billing.credit_notes_of(ctx, i) for i in rows}
        scheme = get_scheme(ctx)
        ledger_no = page_number(page.request, "ledger")
        entries = list_entries(
            ctx.db, scheme_id=scheme.id, limit=PAGE_SIZE + 1, offset=(ledger_no - 1) * PAGE_SIZE
        )
        check = reconcile(ctx, month=month) if month is not None else None
    return page.render(
        "finance.html",
        status,
        invoices=rows,
        notes=notes,
        entries=entries[:PAGE_SIZE],
        ledger_no=ledger_no,
        ledger_more=len(entries) > PAGE_SIZE,
        check=check,
        month=month_text,
        page_no=number,
        has_more=len(invoices) > PAGE_SIZE,
        values=extra.get("values", {}),
    )


@router.get("/finance", response_class=HTMLResponse)
def finance(request: Request) -> Response:
    page = page_for(request)
    page.require(Role.FINANCE, Role.AUDITOR)
    return _finance_page(page)


@router.post("/finance/billing", response_class=HTMLResponse)
def bill(request: Request, form: Form) -> Response:
    page = page_for(request, form)
    page.require(Role.FINANCE)
    text = str(form.get("month", "")).strip()
    try:
        month = parse_month(text)
        with page.uow() as ctx:
            result = run_month(ctx, month=month)
            issued = len(result.invoices)
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        if page.errors and "month" not in page.errors:
            page.errors = {"month": next(iter(page.errors.values()))}
        return _finance_page(page, status_of(exc), values=dict(form))
    return page.redirect(f"/finance?month={text}&issued={issued}", N_("Month billed."))


@router.post("/finance/invoices/{invoice_id}/credit", response_class=HTMLResponse)
def credit_note(request: Request, invoice_id: int, form: Form) -> Response:
    from aisc.billing.api import read_invoice

    page = page_for(request, form)
    page.require(Role.FINANCE)
    try:
        text = str(form.get("amount_hkd", "")).strip().replace(",", "")
        try:
            amount = Decimal(text)
            if not amount.is_finite() or abs(amount) >= 10**13:
                raise ValueError(text)
            cents = int((amount * 100).to_integral_value())
        except (InvalidOperation, ValueError):
            raise ValidationFailed(
                "amount_hkd: give an amount in HK$, e.g. 1200.50", field="amount_hkd"
            ) from None
        reason = str(form.get("reason", "")).strip()
        if not reason:
            raise ValidationFailed("reason: say why the invoice is credited", field="reason")
        with page.uow() as ctx:
            credit(ctx, invoice_id=invoice_id, list_cents=cents, reason=reason)
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        if "list_cents" in page.errors:
            page.errors["amount_hkd"] = page.errors.pop("list_cents")
        with page.uow() as ctx:
            read = read_invoice(ctx, billing.view_invoice(ctx, invoice_id=invoice_id))
        return page.render("invoice.html", status_of(exc), invoice=read, values=dict(form))
    return page.redirect(f"/invoices/{invoice_id}", N_("Credit note issued."))
