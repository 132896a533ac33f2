"""Operators (inventory, node states, capacity and utilisation charts) and finance (invoices,
credit notes, the monthly billing run, the reconciliation, the ledger).

Each page names its matrix action (``page_action``); the services it calls authorise again.
Figures (busy %, invoices with their credit notes) come computed from the services; amounts are
read by ``aisc.money.parse_hkd``, the same as everywhere.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aisc.billing import receivables
from aisc.billing import views as billing
from aisc.billing.charging import run_month
from aisc.billing.credits import credit
from aisc.billing.models import PaymentMethod
from aisc.billing.months import parse_month
from aisc.billing.reconcile import reconcile
from aisc.cluster import service as cluster
from aisc.cluster.models import NodeState
from aisc.cluster.schemas import NodeRead, NodeStateIn
from aisc.errors import AiscError, ValidationFailed
from aisc.money import parse_hkd
from aisc.portal.labels import N_
from aisc.portal.public import Form
from aisc.portal.web import (
    PAGE_SIZE,
    PageContext,
    form_errors,
    page_action,
    page_for,
    page_number,
    parse_form,
    status_of,
)

router = APIRouter(include_in_schema=False)


def _page_no(request: Request) -> int:
    return page_number(request)


# --- operators ---------------------------------------------------------------------------------


def _operator_page(page: PageContext, status: int = 200, **extra: Any) -> Response:
    from aisc.allocations.service import utilisation

    number = _page_no(page.request)
    with page.uow() as ctx:
        nodes = cluster.list_nodes(ctx, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
        rows = [NodeRead.of(n) for n in nodes[:PAGE_SIZE]]
        counts: dict[str, int] = {}
        for node in cluster.list_nodes(ctx, limit=100_000):
            counts[node.state.value] = counts.get(node.state.value, 0) + 1
        usage = utilisation(ctx, today=ctx.now.date())
        busy_pct = billing.busy_overall(ctx, today=ctx.now.date())
    return page.render(
        "operator.html",
        status,
        nodes=rows,
        counts=counts,
        usage=usage,
        busy_pct=busy_pct,
        states=[(s.value, page.gettext(_label(s.value))) for s in NodeState],
        page_no=number,
        has_more=len(nodes) > PAGE_SIZE,
        values=extra.get("values", {}),
        failed_node=extra.get("failed_node"),
    )


def _label(code: str) -> str:
    from aisc.portal.labels import label

    return label(code)


# The operator's page is the platform's running state (nodes, capacity, busy %): the operators'
# and auditors' ``metrics.read``, the same figures /metrics exports.
@router.get("/operator", response_class=HTMLResponse)
@page_action("metrics.read")
def operator(request: Request) -> Response:
    return _operator_page(page_for(request))


@router.post("/operator/nodes/{name}/state", response_class=HTMLResponse)
@page_action("cluster.manage")
def node_state(request: Request, name: str, form: Form) -> Response:
    page = page_for(request, form)
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
@page_action("capacity.read")
def capacity_chart(request: Request) -> Response:
    from aisc.allocations.service import utilisation
    from aisc.reports.plots import capacity_plot

    page = page_for(request)
    with page.uow() as ctx:
        data = utilisation(ctx, today=ctx.now.date())
    return Response(capacity_plot(data, fmt="svg"), media_type="image/svg+xml")


@router.get("/charts/utilisation.svg")
@page_action("capacity.read")
def utilisation_chart(request: Request) -> Response:
    """Allocated % (committed of installed) and busy % (used of reserved), month by month."""
    from aisc.allocations.service import utilisation
    from aisc.reports.plots import utilisation_plot

    page = page_for(request)
    with page.uow() as ctx:
        allocated = utilisation(ctx, today=ctx.now.date()).months
        busy = billing.busy_by_month(ctx, today=ctx.now.date())
    body = utilisation_plot(
        [(m.month, m.allocated_pct) for m in allocated],
        busy,
        fmt="svg",
        allocated_label=page.gettext("allocated % (committed cards of installed)"),
        busy_label=page.gettext("busy % (GPU time used of reserved by dedicated allocations)"),
    )  # fmt: skip
    return Response(body, media_type="image/svg+xml")


# --- finance ---------------------------------------------------------------------------------


def _finance_page(page: PageContext, status: int = 200, **extra: Any) -> Response:
    from aisc.ledger.service import list_entries

    number = _page_no(page.request)
    month_text = page.request.query_params.get("month", "")
    month: date | None = None
    if month_text:
        try:
            month = parse_month(month_text)
        except AiscError:
            month = None
    with page.uow() as ctx:
        invoices = billing.read_invoices(
            ctx, month=month, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
        )
        rows = invoices[:PAGE_SIZE]
        ledger_no = page_number(page.request, "ledger")
        entries = list_entries(ctx, limit=PAGE_SIZE + 1, offset=(ledger_no - 1) * PAGE_SIZE)
        check = reconcile(ctx, month=month) if month is not None else None
        ageing = billing.ageing(ctx, as_of=_day(page, "as_of") or ctx.now.date())
    return page.render(
        "finance.html",
        status,
        invoices=rows,
        notes={i.id: i.credit_notes for i in rows},
        entries=entries[:PAGE_SIZE],
        ledger_no=ledger_no,
        ledger_more=len(entries) > PAGE_SIZE,
        check=check,
        month=month_text,
        page_no=number,
        has_more=len(invoices) > PAGE_SIZE,
        values=extra.get("values", {}),
        ageing=ageing,
    )


def _day(page: PageContext, name: str) -> date | None:
    """A YYYY-MM-DD query parameter (None when absent or not a day)."""
    text = page.request.query_params.get(name, "")
    try:
        return datetime.strptime(text, "%Y-%m-%d").date() if text else None
    except ValueError:
        return None


# Invoices, the ledger and the month's reconciliation: finance and the auditor, as the
# reconciliation is theirs.
@router.get("/finance", response_class=HTMLResponse)
@page_action("reconciliation.read")
def finance(request: Request) -> Response:
    return _finance_page(page_for(request))


@router.post("/finance/billing", response_class=HTMLResponse)
@page_action("billing.run")
def bill(request: Request, form: Form) -> Response:
    page = page_for(request, form)
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
@page_action("billing.credit")
def credit_note(request: Request, invoice_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        cents = parse_hkd(str(form.get("amount_hkd", "")), field="amount_hkd")
        reason = str(form.get("reason", "")).strip()
        if not reason:
            raise ValidationFailed("reason: say why the invoice is credited", field="reason")
        with page.uow() as ctx:
            credit(ctx, invoice_id=invoice_id, list_cents=cents, reason=reason)
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        for name in ("amount", "list_cents"):  # the service's names for the form's amount
            if name in page.errors:
                page.errors["amount_hkd"] = page.errors.pop(name)
        with page.uow() as ctx:
            read = billing.show_invoice(ctx, invoice_id=invoice_id)
        return page.render("invoice.html", status_of(exc), invoice=read, values=dict(form))
    return page.redirect(f"/invoices/{invoice_id}", N_("Credit note issued."))


def _invoice_page(page: PageContext, invoice_id: int, status: int, form: Form) -> Response:
    with page.uow() as ctx:
        read = billing.show_invoice(ctx, invoice_id=invoice_id)
        payments = billing.read_payments(ctx, invoice_id=invoice_id, limit=1000)
    return page.render("invoice.html", status, invoice=read, payments=payments, values=dict(form))


@router.post("/finance/invoices/{invoice_id}/payments", response_class=HTMLResponse)
@page_action("payment.record")
def record_payment(request: Request, invoice_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        cents = parse_hkd(str(form.get("amount_hkd", "")), field="amount_hkd")
        text = str(form.get("received_on", "")).strip()
        try:
            received = datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            raise ValidationFailed("received_on: a day, YYYY-MM-DD", field="received_on") from None
        try:
            method = PaymentMethod(str(form.get("method", "bank_transfer")))
        except ValueError:
            raise ValidationFailed("method: one of the methods offered", field="method") from None
        with page.uow() as ctx:
            receivables.record_payment(
                ctx,
                invoice_id=invoice_id,
                amount_cents=cents,
                received_on=received,
                reference=str(form.get("reference", "")),
                method=method,
                note=str(form.get("note", "")),
            )
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        if "amount" in page.errors:  # the service's name for the form's amount
            page.errors["amount_hkd"] = page.errors.pop("amount")
        return _invoice_page(page, invoice_id, status_of(exc), form)
    return page.redirect(f"/invoices/{invoice_id}", N_("Payment recorded."))


@router.post("/finance/invoices/{invoice_id}/payment-reversals", response_class=HTMLResponse)
@page_action("payment.record")
def reverse_payment(request: Request, invoice_id: int, form: Form) -> Response:
    page = page_for(request, form)
    try:
        text = str(form.get("payment_id", "")).strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise ValidationFailed("payment_id: the payment to reverse", field="payment_id")
        with page.uow() as ctx:
            receivables.reverse_payment(
                ctx,
                invoice_id=invoice_id,
                payment_id=int(text),
                reason=str(form.get("reason", "")),
            )
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _invoice_page(page, invoice_id, status_of(exc), form)
    return page.redirect(f"/invoices/{invoice_id}", N_("Payment reversed."))


# An organisation's statement of account: finance, the secretariat and the auditor, and the
# organisation's own members.
@router.get("/organisations/{organisation_id}/statement-of-account", response_class=HTMLResponse)
@page_action("receivable.read")
def statement_of_account(request: Request, organisation_id: int) -> Response:
    page = page_for(request)
    try:
        with page.uow() as ctx:
            found = billing.statement_of_account(
                ctx, organisation_id=organisation_id, as_of=_day(page, "as_of")
            )
    except AiscError as exc:
        return page.render("error.html", status_of(exc), message=exc.message)
    return page.render("statement_of_account.html", statement=found)
