"""Invoices, credit notes and payments as CSV an accounting system imports.

One row per document line, documents dated in the window, in the order issued or received:

``document_type, document_number, document_date, due_date, customer_id, customer,
account_code, description, net_amount, currency, reference``

The amounts are the applicant's share (what the organisation owes and pays), in HK$ with two
decimals and no separators, negative for credit notes and payment reversals; the subsidy is the
fund's and stays in its ledger. Account codes: ``ACCOUNTS`` (docs/billing.md has the table).
"""

from __future__ import annotations

import csv
import io
from datetime import date

from sqlalchemy import select

from aisc.access import authorize
from aisc.accounts.models import Organisation
from aisc.awards.models import Award
from aisc.billing.models import Charge, ChargeKind, CreditNote, Invoice, Payment
from aisc.billing.months import midnight
from aisc.context import Ctx

HEADER = [
    "document_type",
    "document_number",
    "document_date",
    "due_date",
    "customer_id",
    "customer",
    "account_code",
    "description",
    "net_amount",
    "currency",
    "reference",
]
CURRENCY = "HKD"
ACCOUNTS = {
    ChargeKind.DEDICATED: "4100",  # dedicated GPU cards, applicant's share
    ChargeKind.POOLED: "4110",  # pooled GPU-hours, applicant's share
    ChargeKind.OVER_AWARD: "4120",  # usage beyond the award, full list price
    "credit_note": "4190",  # credit notes against the above
    "payment": "1100",  # receipts into the centre's bank account
}


def amount(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def export_rows(ctx: Ctx, *, start: date, end: date) -> list[list[str]]:
    """The rows (without the header) of documents dated from ``start`` up to ``end``
    (``reconciliation.read``)."""
    authorize(ctx, "reconciliation.read")
    customers: dict[int, tuple[str, str]] = {}

    def customer(award_id: int) -> tuple[str, str]:
        if award_id not in customers:
            award = ctx.db.get(Award, award_id)
            assert award is not None
            org = ctx.db.get(Organisation, award.organisation_id)
            customers[award_id] = (
                f"ORG-{award.organisation_id:05d}",
                org.name if org is not None else "",
            )
        return customers[award_id]

    rows: list[tuple[date, int, int, list[str]]] = []
    invoices = ctx.db.execute(
        select(Invoice).where(Invoice.issue_date >= start, Invoice.issue_date < end)
    ).scalars()
    for invoice in invoices:
        lines = ctx.db.execute(
            select(Charge).where(Charge.invoice_id == invoice.id).order_by(Charge.id)
        ).scalars()
        for line in lines:
            rows.append(
                (
                    invoice.issue_date,
                    0,
                    invoice.seq,
                    [
                        "invoice",
                        invoice.number,
                        invoice.issue_date.isoformat(),
                        invoice.due_date.isoformat(),
                        *customer(invoice.award_id),
                        ACCOUNTS[line.kind],
                        line.description,
                        amount(line.payable_cents),
                        CURRENCY,
                        f"award {invoice.award_id} {invoice.month:%Y-%m}",
                    ],
                )
            )
    notes = ctx.db.execute(
        select(CreditNote, Invoice)
        .join(Invoice, Invoice.id == CreditNote.invoice_id)
        .where(CreditNote.issued_at >= midnight(start), CreditNote.issued_at < midnight(end))
    ).all()
    for note, invoice in notes:
        rows.append(
            (
                note.issued_at.date(),
                1,
                note.seq,
                [
                    "credit_note",
                    note.number,
                    note.issued_at.date().isoformat(),
                    "",
                    *customer(invoice.award_id),
                    ACCOUNTS["credit_note"],
                    note.reason,
                    amount(-note.payable_cents),
                    CURRENCY,
                    invoice.number,
                ],
            )
        )
    payments = ctx.db.execute(
        select(Payment, Invoice)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(Payment.received_on >= start, Payment.received_on < end)
    ).all()
    for payment, invoice in payments:
        kind = "payment_reversal" if payment.reverses_id else "payment"
        rows.append(
            (
                payment.received_on,
                2,
                payment.seq,
                [
                    kind,
                    payment.number,
                    payment.received_on.isoformat(),
                    "",
                    *customer(invoice.award_id),
                    ACCOUNTS["payment"],
                    f"{payment.method.value} {payment.reference}".strip(),
                    amount(payment.amount_cents),
                    CURRENCY,
                    invoice.number,
                ],
            )
        )
    return [row for *_key, row in sorted(rows, key=lambda r: r[:3])]


def export_csv(ctx: Ctx, *, start: date, end: date) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(export_rows(ctx, start=start, end=end))
    return out.getvalue()
