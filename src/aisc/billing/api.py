from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from aisc.awards.models import Award
from aisc.billing import alerts, charging, credits, months, service
from aisc.billing import reconcile as reconciler
from aisc.billing.models import Invoice
from aisc.billing.schemas import (
    BusyMonthRead,
    BusyRead,
    BusyReport,
    ChargeRead,
    CreditIn,
    CreditNoteRead,
    InvoiceRead,
    NotificationRead,
    ReconciliationRead,
    RunIn,
    RunRead,
)
from aisc.billing.statements import statement_csv, statement_pdf
from aisc.context import Ctx
from aisc.http import IdPath, IdQuery, PageDep, Uow, requires
from aisc.money import hkd_to_cents
from aisc.schemas import Day

router = APIRouter(tags=["billing"])


def read_invoice(ctx: Ctx, invoice: Invoice) -> InvoiceRead:
    return InvoiceRead(
        **{
            k: getattr(invoice, k)
            for k in InvoiceRead.model_fields
            if k not in ("lines", "credit_notes")
        },
        lines=[ChargeRead.model_validate(c) for c in service.lines_of(ctx, invoice)],
        credit_notes=[
            CreditNoteRead.model_validate(n) for n in service.credit_notes_of(ctx, invoice)
        ],
    )


def pct(part: int, whole: int) -> str | None:
    return f"{Decimal(part * 100) / whole:.1f}" if whole else None


@router.post("/billing/runs", response_model=RunRead, dependencies=[requires("billing.run")])
def run(data: RunIn, uow: Uow) -> RunRead:
    """Bill a finished month: one invoice per award, numbered; running it again issues nothing."""
    month = months.parse_month(data.month)
    with uow() as ctx:
        result = charging.run_month(ctx, month=month)
        return RunRead(
            month=f"{month:%Y-%m}",
            issued=[read_invoice(ctx, i) for i in result.invoices],
            already_invoiced=result.skipped,
            notifications=len(result.notifications),
        )


@router.get(
    "/billing/reconciliation",
    response_model=ReconciliationRead,
    dependencies=[requires("reconciliation.read")],
)
def reconciliation(uow: Uow, month: str = Query(pattern=r"^\d{4}-\d{2}$")) -> ReconciliationRead:
    """Usage = charges = invoice lines = ledger disbursements, to the cent; differences named."""
    with uow() as ctx:
        found = reconciler.reconcile(ctx, month=months.parse_month(month))
        return ReconciliationRead(
            month=month,
            balanced=found.balanced,
            **{
                k: getattr(found, k)
                for k in ReconciliationRead.model_fields
                if k not in ("month", "balanced")
            },
        )


def busy_report(ctx: Ctx, *, today: date) -> BusyReport:
    """Busy against reserved GPU-hours of dedicated allocations: per award, month by month and
    overall (the API's answer and the command line's)."""
    rows = service.busy_vs_reserved(ctx, today=today)
    reserved = sum(r.reserved_gpu_seconds for r in rows)
    used = sum(r.busy_gpu_seconds for r in rows)
    return BusyReport(
        as_of=today,
        awards=[
            BusyRead(
                award_id=r.award_id,
                title=r.title,
                reserved_gpu_hours=r.reserved_gpu_seconds // 3600,
                busy_gpu_hours=r.busy_gpu_seconds // 3600,
                busy_pct=pct(r.busy_gpu_seconds, r.reserved_gpu_seconds),
            )
            for r in rows
        ],
        months=[
            BusyMonthRead(
                month=m.month.strftime("%Y-%m"),
                reserved_gpu_hours=m.reserved_gpu_seconds // 3600,
                busy_gpu_hours=m.busy_gpu_seconds // 3600,
                busy_pct=pct(m.busy_gpu_seconds, m.reserved_gpu_seconds),
            )
            for m in service.busy_by_month(ctx, today=today)
        ],
        reserved_gpu_hours=reserved // 3600,
        busy_gpu_hours=used // 3600,
        busy_pct=pct(used, reserved),
    )


@router.get("/billing/busy", response_model=BusyReport, dependencies=[requires("usage.read")])
def busy(uow: Uow, as_of: Day | None = None) -> BusyReport:
    """Busy against reserved GPU-hours of dedicated allocations, per award and overall."""
    with uow() as ctx:
        return busy_report(ctx, today=as_of or ctx.now.date())


@router.get("/invoices", response_model=list[InvoiceRead], dependencies=[requires("billing.read")])
def list_invoices(
    uow: Uow,
    page: PageDep,
    award_id: IdQuery = None,
    month: str | None = Query(default=None, pattern=r"^\d{4}-\d{2}$"),
) -> list[InvoiceRead]:
    with uow() as ctx:
        rows = service.list_invoices(
            ctx,
            award_id=award_id,
            month=months.parse_month(month) if month else None,
            limit=page.limit,
            offset=page.offset,
        )
        return [read_invoice(ctx, i) for i in rows]


@router.get(
    "/invoices/{invoice_id}", response_model=InvoiceRead, dependencies=[requires("billing.read")]
)
def get_invoice(invoice_id: IdPath, uow: Uow) -> InvoiceRead:
    with uow() as ctx:
        return read_invoice(ctx, service.view_invoice(ctx, invoice_id=invoice_id))


def _statement(uow: Uow, invoice_id: int, fmt: str) -> Response:
    with uow() as ctx:
        invoice = service.view_invoice(ctx, invoice_id=invoice_id)
        award = ctx.db.get(Award, invoice.award_id)
        assert award is not None
        parts = (
            invoice,
            award,
            service.lines_of(ctx, invoice),
            service.credit_notes_of(ctx, invoice),
        )
        body: str | bytes = statement_csv(*parts) if fmt == "csv" else statement_pdf(*parts)
    return Response(
        body,
        media_type="text/csv" if fmt == "csv" else "application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}.{fmt}"'},
    )


@router.get(
    "/invoices/{invoice_id}/statement.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    dependencies=[requires("billing.read")],
)
def statement_as_csv(invoice_id: IdPath, uow: Uow) -> Response:
    return _statement(uow, invoice_id, "csv")


@router.get(
    "/invoices/{invoice_id}/statement.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    dependencies=[requires("billing.read")],
)
def statement_as_pdf(invoice_id: IdPath, uow: Uow) -> Response:
    return _statement(uow, invoice_id, "pdf")


@router.post(
    "/invoices/{invoice_id}/credit-notes",
    response_model=CreditNoteRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("billing.credit")],
)
def credit(invoice_id: IdPath, data: CreditIn, uow: Uow) -> CreditNoteRead:
    """Correct an issued invoice: the credit note references it; the invoice never changes."""
    with uow() as ctx:
        note = credits.credit(
            ctx, invoice_id=invoice_id, list_cents=hkd_to_cents(data.amount_hkd), reason=data.reason
        )
        return CreditNoteRead.model_validate(note)


@router.get(
    "/notifications",
    response_model=list[NotificationRead],
    dependencies=[requires("billing.read")],
)
def notifications(uow: Uow, page: PageDep, award_id: IdQuery = None) -> list[NotificationRead]:
    """Burn alerts (50, 80, 100% of an award), as stored and delivered."""
    with uow() as ctx:
        rows = alerts.list_notifications(
            ctx, award_id=award_id, limit=page.limit, offset=page.offset
        )
        return [NotificationRead.model_validate(n) for n in rows]
