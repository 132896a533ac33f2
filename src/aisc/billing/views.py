"""What the edges show of billing: invoices with their lines and credit notes, statements,
and busy against reserved GPU-time.

The API, the portal and the command line render these and compute nothing of their own, so
an invoice or a busy percentage reads the same through every door. Busy % is computed here
and only here: integer arithmetic, rounded once (half up, to a tenth of a percent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aisc.access import authorize
from aisc.accounts.models import Organisation
from aisc.awards.models import Award
from aisc.billing import receivables, service
from aisc.billing.models import Charge, CreditNote, Invoice
from aisc.billing.schemas import (
    AccountLineRead,
    AgeingRead,
    AgeingRowRead,
    BusyMonthRead,
    BusyRead,
    BusyReport,
    ChargeRead,
    CreditNoteRead,
    InvoiceRead,
    PaymentRead,
    StatementOfAccountRead,
)
from aisc.context import Ctx
from aisc.errors import NotFound


def busy_pct(busy_seconds: int, reserved_seconds: int) -> Decimal | None:
    """Busy as a percentage of reserved, to one decimal (None when nothing was reserved).

    ``busy x 1000 / reserved`` tenths of a percent, rounded half up in integers: one rounding,
    no float, the same figure on the API, the portal, the chart and the command line.
    """
    if reserved_seconds <= 0:
        return None
    tenths = (2 * busy_seconds * 1000 + reserved_seconds) // (2 * reserved_seconds)
    return Decimal(tenths).scaleb(-1)


def _pct_text(busy_seconds: int, reserved_seconds: int) -> str | None:
    pct = busy_pct(busy_seconds, reserved_seconds)
    return None if pct is None else f"{pct:.1f}"


def read_invoice(ctx: Ctx, invoice: Invoice) -> InvoiceRead:
    """An invoice the caller has already been allowed to see, with its lines and credit notes."""
    authorize(ctx, "billing.read")
    pos = receivables.position(ctx, invoice)
    return InvoiceRead(
        **{k: getattr(invoice, k) for k in InvoiceRead.model_fields if hasattr(invoice, k)},
        credited_cents=pos.credited_cents,
        paid_cents=pos.paid_cents,
        outstanding_cents=pos.outstanding_cents,
        payment_status=pos.status,
        lines=[ChargeRead.model_validate(c) for c in service.lines_of(ctx, invoice)],
        credit_notes=[
            CreditNoteRead.model_validate(n) for n in service.credit_notes_of(ctx, invoice)
        ],
    )


def show_invoice(ctx: Ctx, *, invoice_id: int) -> InvoiceRead:
    """One invoice, read under ``billing.read`` (another project's is "not found")."""
    return read_invoice(ctx, service.view_invoice(ctx, invoice_id=invoice_id))


def read_invoices(
    ctx: Ctx,
    *,
    award_id: int | None = None,
    month: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[InvoiceRead]:
    """The invoices in the caller's reach, oldest first."""
    rows = service.list_invoices(ctx, award_id=award_id, month=month, limit=limit, offset=offset)
    return [read_invoice(ctx, i) for i in rows]


@dataclass(frozen=True)
class Statement:
    """Everything an invoice's statement prints: the invoice, its award, lines and credit notes,
    the organisation it is addressed to, and what has been paid."""

    invoice: Invoice
    award: Award
    lines: list[Charge]
    credit_notes: list[CreditNote]
    addressee: str = ""
    paid_cents: int = 0

    def parts(self) -> tuple[Invoice, Award, list[Charge], list[CreditNote]]:
        return self.invoice, self.award, self.lines, self.credit_notes


def statement(ctx: Ctx, *, invoice_id: int) -> Statement:
    """An invoice's statement, read under ``billing.read``."""
    invoice = service.view_invoice(ctx, invoice_id=invoice_id)
    award = ctx.db.get(Award, invoice.award_id)
    if award is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound(f"award {invoice.award_id} not found", field="award_id")
    org = ctx.db.get(Organisation, award.organisation_id)
    return Statement(
        invoice,
        award,
        service.lines_of(ctx, invoice),
        service.credit_notes_of(ctx, invoice),
        addressee=org.name if org is not None else "",
        paid_cents=receivables.position(ctx, invoice).paid_cents,
    )


def read_payments(
    ctx: Ctx,
    *,
    invoice_id: int | None = None,
    organisation_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[PaymentRead]:
    """Payments (and reversals) in the caller's reach, in the order recorded."""
    rows = receivables.list_payments(
        ctx, invoice_id=invoice_id, organisation_id=organisation_id, limit=limit, offset=offset
    )
    return [PaymentRead.model_validate(p) for p in rows]


def statement_of_account(
    ctx: Ctx, *, organisation_id: int, as_of: date | None = None
) -> StatementOfAccountRead:
    """An organisation's statement of account (``receivable.read``)."""
    authorize(ctx, "receivable.read")
    found = receivables.statement_of_account(ctx, organisation_id=organisation_id, as_of=as_of)
    return StatementOfAccountRead(
        organisation_id=found.organisation_id,
        organisation=found.organisation,
        as_of=found.as_of,
        lines=[AccountLineRead(**vars(line)) for line in found.lines],
        invoiced_cents=found.invoiced_cents,
        credited_cents=found.credited_cents,
        paid_cents=found.paid_cents,
        overdue_cents=found.overdue_cents,
        balance_cents=found.balance_cents,
    )


def ageing(ctx: Ctx, *, as_of: date) -> AgeingRead:
    """Receivables by days past due, per organisation, with totals (``reconciliation.read``)."""
    found = receivables.ageing(ctx, as_of=as_of)
    return AgeingRead(
        as_of=found.as_of,
        buckets=[b[0] for b in receivables.BUCKETS],
        rows=[
            AgeingRowRead(
                organisation_id=r.organisation_id,
                organisation=r.organisation,
                buckets=r.buckets,
                total_cents=r.total_cents,
            )
            for r in found.rows
        ],
        totals=found.totals,
        total_cents=found.total_cents,
    )


def busy_report(ctx: Ctx, *, today: date) -> BusyReport:
    """Busy against reserved GPU-hours of dedicated allocations: per award, month by month and
    overall, over what the caller may read (``usage.read``)."""
    authorize(ctx, "usage.read")
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
                busy_pct=_pct_text(r.busy_gpu_seconds, r.reserved_gpu_seconds),
            )
            for r in rows
        ],
        months=[
            BusyMonthRead(
                month=m.month.strftime("%Y-%m"),
                reserved_gpu_hours=m.reserved_gpu_seconds // 3600,
                busy_gpu_hours=m.busy_gpu_seconds // 3600,
                busy_pct=_pct_text(m.busy_gpu_seconds, m.reserved_gpu_seconds),
            )
            for m in service.busy_by_month(ctx, today=today)
        ],
        reserved_gpu_hours=reserved // 3600,
        busy_gpu_hours=used // 3600,
        busy_pct=_pct_text(used, reserved),
    )


def busy_overall(ctx: Ctx, *, today: date) -> Decimal | None:
    """The overall busy % of dedicated allocations up to ``today`` (the operator's figure)."""
    authorize(ctx, "usage.read")
    rows = service.busy_vs_reserved(ctx, today=today)
    return busy_pct(
        sum(r.busy_gpu_seconds for r in rows), sum(r.reserved_gpu_seconds for r in rows)
    )


def busy_by_month(ctx: Ctx, *, today: date) -> list[tuple[str, Decimal | None]]:
    """``(YYYY-MM, busy %)`` month by month (the utilisation chart's busy line)."""
    authorize(ctx, "usage.read")
    return [
        (f"{m.month:%Y-%m}", busy_pct(m.busy_gpu_seconds, m.reserved_gpu_seconds))
        for m in service.busy_by_month(ctx, today=today)
    ]
