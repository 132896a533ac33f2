from __future__ import annotations

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from aisc.billing import alerts, charging, credits, months, receivables, views
from aisc.billing import reconcile as reconciler
from aisc.billing.schemas import (
    AgeingRead,
    BusyReport,
    CreditIn,
    CreditNoteRead,
    InvoiceRead,
    NotificationRead,
    PaymentIn,
    PaymentRead,
    ReconciliationRead,
    ReversalIn,
    RunIn,
    RunRead,
    StatementOfAccountRead,
)
from aisc.billing.statements import statement_csv, statement_pdf
from aisc.http import IdPath, IdQuery, PagingDep, Uow, requires
from aisc.money import hkd_to_cents
from aisc.schemas import Day

router = APIRouter(tags=["billing"])


@router.post("/billing/runs", response_model=RunRead, dependencies=[requires("billing.run")])
def run(data: RunIn, uow: Uow) -> RunRead:
    """Bill a finished month: one invoice per award, numbered; running it again issues nothing."""
    month = months.parse_month(data.month)
    with uow() as ctx:
        result = charging.run_month(ctx, month=month)
        return RunRead(
            month=f"{month:%Y-%m}",
            issued=[views.read_invoice(ctx, i) for i in result.invoices],
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


@router.get("/billing/busy", response_model=BusyReport, dependencies=[requires("usage.read")])
def busy(uow: Uow, as_of: Day | None = None) -> BusyReport:
    """Busy against reserved GPU-hours of dedicated allocations, per award and overall."""
    with uow() as ctx:
        return views.busy_report(ctx, today=as_of or ctx.now.date())


@router.get("/invoices", response_model=list[InvoiceRead], dependencies=[requires("billing.read")])
def list_invoices(
    uow: Uow,
    page: PagingDep,
    award_id: IdQuery = None,
    month: str | None = Query(default=None, pattern=r"^\d{4}-\d{2}$"),
) -> list[InvoiceRead]:
    with uow() as ctx:
        return views.read_invoices(
            ctx,
            award_id=award_id,
            month=months.parse_month(month) if month else None,
            limit=page.limit,
            offset=page.offset,
        )


@router.get(
    "/invoices/{invoice_id}", response_model=InvoiceRead, dependencies=[requires("billing.read")]
)
def get_invoice(invoice_id: IdPath, uow: Uow) -> InvoiceRead:
    with uow() as ctx:
        return views.show_invoice(ctx, invoice_id=invoice_id)


def _statement(uow: Uow, invoice_id: int, fmt: str) -> Response:
    with uow() as ctx:
        found = views.statement(ctx, invoice_id=invoice_id)
        body: str | bytes = statement_csv(found) if fmt == "csv" else statement_pdf(found)
    return Response(
        body,
        media_type="text/csv" if fmt == "csv" else "application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{found.invoice.number}.{fmt}"'},
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
def notifications(uow: Uow, page: PagingDep, award_id: IdQuery = None) -> list[NotificationRead]:
    """Burn alerts (50, 80, 100% of an award), as stored and delivered."""
    with uow() as ctx:
        return alerts.list_notifications(
            ctx, award_id=award_id, limit=page.limit, offset=page.offset
        )


@router.get(
    "/invoices/{invoice_id}/payments",
    response_model=list[PaymentRead],
    dependencies=[requires("billing.read")],
)
def payments(invoice_id: IdPath, uow: Uow) -> list[PaymentRead]:
    """Payments and reversals recorded against an invoice, in the order recorded."""
    with uow() as ctx:
        return views.read_payments(ctx, invoice_id=invoice_id, limit=10_000)


@router.post(
    "/invoices/{invoice_id}/payments",
    response_model=PaymentRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("payment.record")],
)
def pay(invoice_id: IdPath, data: PaymentIn, uow: Uow) -> PaymentRead:
    """Record money received (full or partial); more than is outstanding is refused."""
    with uow() as ctx:
        payment = receivables.record_payment(
            ctx,
            invoice_id=invoice_id,
            amount_cents=hkd_to_cents(data.amount_hkd),
            received_on=data.received_on,
            reference=data.reference,
            method=data.method,
            note=data.note,
        )
        return PaymentRead.model_validate(payment)


@router.post(
    "/invoices/{invoice_id}/payment-reversals",
    response_model=PaymentRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("payment.record")],
)
def reverse(invoice_id: IdPath, data: ReversalIn, uow: Uow) -> PaymentRead:
    """Reverse a payment recorded in error: a negative payment naming it (never an edit)."""
    with uow() as ctx:
        reversal = receivables.reverse_payment(
            ctx, invoice_id=invoice_id, payment_id=data.payment_id, reason=data.reason
        )
        return PaymentRead.model_validate(reversal)


@router.get(
    "/organisations/{organisation_id}/statement-of-account",
    response_model=StatementOfAccountRead,
    dependencies=[requires("receivable.read")],
)
def statement_of_account(
    organisation_id: IdPath, uow: Uow, as_of: Day | None = None
) -> StatementOfAccountRead:
    """An organisation's invoices, credit notes and payments with the running balance."""
    with uow() as ctx:
        return views.statement_of_account(ctx, organisation_id=organisation_id, as_of=as_of)


@router.get(
    "/billing/ageing", response_model=AgeingRead, dependencies=[requires("reconciliation.read")]
)
def ageing(uow: Uow, as_of: Day | None = None) -> AgeingRead:
    """Receivables by days past due (current, 1-30, 31-60, 61-90, 90+), per organisation."""
    with uow() as ctx:
        return views.ageing(ctx, as_of=as_of or ctx.now.date())


@router.get(
    "/billing/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    dependencies=[requires("reconciliation.read")],
)
def export(
    uow: Uow,
    start: str = Query(alias="from", pattern=r"^\d{4}-\d{2}$"),
    end: str | None = Query(default=None, alias="to", pattern=r"^\d{4}-\d{2}$"),
) -> Response:
    """Invoices, credit notes and payments for an accounting system, one row per line."""
    from aisc.billing.export import export_csv

    first = months.parse_month(start)
    last = months.parse_month(end) if end else first
    with uow() as ctx:
        body = export_csv(ctx, start=first, end=months.next_month(last))
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="export-{start}.csv"'},
    )
