"""The demo's money coming back: the applicants pay most invoices about three weeks after they
are issued, some in two parts, and one invoice is left unpaid past its due date (overdue on the
demo's present). The overdue policy stays off in the demo (the scheme's default), so no award
is held and the public record's figures are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from aisc.billing import receivables
from aisc.billing.models import Invoice, PaymentMethod

if TYPE_CHECKING:
    from aisc.demo import Builder

PAID_AFTER_DAYS = 20  # an applicant pays about three weeks after the invoice
PART_PAID_EVERY = 5  # every fifth invoice is paid in two parts, the second a fortnight later


@dataclass(frozen=True)
class DemoReceivables:
    payments: int
    part_paid: int
    overdue_invoice: str | None


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), UTC)


def demo_receivables(builder: Builder, *, present: datetime) -> DemoReceivables:
    """Payments for the demo's invoices up to ``present`` (one left overdue)."""
    with builder.step(present) as ctx:
        invoices = list(
            ctx.db.execute(
                select(Invoice).where(Invoice.payable_cents > 0).order_by(Invoice.seq)
            ).scalars()
        )
    due_by_now = [i for i in invoices if i.due_date < present.date()]
    # The last invoice due before the present is the one left unpaid: it is overdue today.
    overdue = due_by_now[-1] if due_by_now else None
    payments = part_paid = 0
    for n, invoice in enumerate(invoices):
        if invoice is overdue:
            continue
        paid_on = invoice.issue_date + timedelta(days=PAID_AFTER_DAYS)
        if paid_on > present.date():
            continue  # not due yet and not paid yet
        with builder.step(_at(paid_on)) as ctx:
            outstanding = receivables.position(ctx, invoice).outstanding_cents
            if outstanding <= 0:
                continue
            split = n % PART_PAID_EVERY == 0
            first = outstanding // 2 if split else outstanding
            receivables.record_payment(
                ctx,
                invoice_id=invoice.id,
                amount_cents=first,
                received_on=paid_on,
                reference=f"DEMO-{invoice.number}-1",
                method=PaymentMethod.FPS if n % 3 else PaymentMethod.BANK_TRANSFER,
            )
            payments += 1
        second_on = paid_on + timedelta(days=14)
        if split and second_on <= present.date():
            with builder.step(_at(second_on)) as ctx:
                receivables.record_payment(
                    ctx,
                    invoice_id=invoice.id,
                    amount_cents=outstanding - first,
                    received_on=second_on,
                    reference=f"DEMO-{invoice.number}-2",
                )
                payments += 1
        elif split:
            part_paid += 1
    return DemoReceivables(
        payments=payments,
        part_paid=part_paid,
        overdue_invoice=overdue.number if overdue is not None else None,
    )
