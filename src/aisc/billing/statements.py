"""An invoice as a statement: CSV for spreadsheets, PDF for people (lines, subsidy, payable).

A line's quantity and unit price are in the same unit, so that quantity x unit price is the
line's list value (to the cent, rounded half up once): card-days at the price per card-day
(the card-month price over the month's days) for dedicated cards, GPU-seconds at the price per
GPU-second for pooled use. The price as listed (per card-month, per GPU-hour) is in its own
columns. The PDF names the organisation it is addressed to, the issue and due dates and the
terms, and wraps long line text rather than cutting it.
"""

from __future__ import annotations

import calendar
import csv
import io
from decimal import Decimal
from typing import TYPE_CHECKING

from aisc.billing.models import Charge, ChargeKind
from aisc.money import format_hkd
from aisc.pdf import Document

if TYPE_CHECKING:
    from aisc.billing.views import Statement

# Decimal places of a unit price per card-day or GPU-second (a card-month price over 28-31
# days, a GPU-hour price over 3,600 seconds do not end): enough that quantity x unit price
# stays within a cent of the line for any month's quantity.
UNIT_PRICE_PLACES = 10

HEADER = [
    "line",
    "kind",
    "gpu_model",
    "quantity",
    "unit",
    "unit_price_hkd",
    "list_hkd",
    "subsidy_hkd",
    "payable_hkd",
    "listed_price_hkd",
    "listed_per",
    "description",
]


def _hkd(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def unit_of(line: Charge) -> tuple[str, Decimal, str]:
    """(unit of the quantity, price per that unit in HK$, what the listed price is per)."""
    price = Decimal(line.unit_price_cents) / 100
    if line.kind is ChargeKind.DEDICATED:
        days = calendar.monthrange(line.month.year, line.month.month)[1]
        per_unit, unit, listed = price / days, "card-day", "card-month"
    else:
        per_unit, unit, listed = price / 3600, "GPU-second", "GPU-hour"
    return unit, per_unit.quantize(Decimal(1).scaleb(-UNIT_PRICE_PLACES)), listed


def statement_csv(found: Statement) -> str:
    invoice, notes = found.invoice, found.credit_notes
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "invoice",
            invoice.number,
            "award",
            found.award.id,
            "month",
            f"{invoice.month:%Y-%m}",
            "customer",
            found.addressee,
            "issued",
            invoice.issue_date.isoformat(),
            "due",
            invoice.due_date.isoformat(),
            "terms_days",
            invoice.terms_days,
        ]
    )
    writer.writerow(HEADER)
    for n, line in enumerate(found.lines, start=1):
        unit, per_unit, listed = unit_of(line)
        writer.writerow(
            [
                n,
                line.kind.value,
                line.gpu_model_code,
                line.quantity,
                unit,
                f"{per_unit}",
                _hkd(line.list_cents),
                _hkd(line.subsidy_cents),
                _hkd(line.payable_cents),
                _hkd(line.unit_price_cents),
                listed,
                line.description,
            ]
        )
    blank = ["", "", "", "", ""]
    writer.writerow(
        [
            "total",
            *blank,
            _hkd(invoice.list_cents),
            _hkd(invoice.subsidy_cents),
            _hkd(invoice.payable_cents),
            "",
            "",
            "",
        ]
    )
    for note in notes:
        writer.writerow(
            [
                "credit",
                note.number,
                "",
                "",
                "",
                "",
                _hkd(-note.list_cents),
                _hkd(-note.subsidy_cents),
                _hkd(-note.payable_cents),
                "",
                "",
                note.reason,
            ]
        )
    return out.getvalue()


def statement_pdf(found: Statement) -> bytes:
    """The statement for people: any script in the award's title, the addressee or the lines
    prints as written (``aisc.pdf``); long text wraps within its cell."""
    invoice, award, notes = found.invoice, found.award, found.credit_notes
    rows = [
        (line.description, line.list_cents, line.subsidy_cents, line.payable_cents)
        for line in found.lines
    ]
    rows += [
        (f"Credit note {n.number}: {n.reason}", -n.list_cents, -n.subsidy_cents, -n.payable_cents)
        for n in notes
    ]
    heading = f"Award {award.id}: {award.title}"
    addressee = f"To: {found.addressee}"
    doc = Document(f"Statement {invoice.number}", [heading, addressee, *(row[0] for row in rows)])
    pdf = doc.pdf
    doc.font("B", 14)
    pdf.cell(0, 8, f"Statement {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    doc.font("", 10)
    for text in (
        addressee,
        heading,
        f"Month: {invoice.month:%Y-%m}    Issued: {invoice.issue_date:%Y-%m-%d}    "
        f"Due: {invoice.due_date:%Y-%m-%d}",
        f"Terms: payment within {invoice.terms_days} days of the issue date",
        f"Subsidy rate: {award.subsidy_rate_bp / 100:.2f}% of the list price",
    ):
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (90, 30, 30, 30)
    doc.font("B", 9)
    for width, title in zip(
        widths, ("Line", "List HK$", "Subsidy HK$", "Payable HK$"), strict=True
    ):
        pdf.cell(width, 7, title, border=1, align="L" if title == "Line" else "R")
    pdf.ln()
    doc.font("", 8)
    step = 5
    for text, list_cents, subsidy, payable in rows:
        wrapped = pdf.multi_cell(widths[0], step, text, dry_run=True, output="LINES")
        assert isinstance(wrapped, list)
        height = step * max(len(wrapped), 1)
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
        top = pdf.get_y()
        pdf.multi_cell(widths[0], step, text, border=1, new_x="RIGHT", new_y="TOP")
        pdf.set_y(top)
        pdf.set_x(pdf.l_margin + widths[0])
        for width, cents in zip(widths[1:], (list_cents, subsidy, payable), strict=True):
            pdf.cell(width, height, _hkd(cents), border=1, align="R")
        pdf.set_y(top + height)
    credited = [
        sum(getattr(n, a) for n in notes) for a in ("list_cents", "subsidy_cents", "payable_cents")
    ]
    doc.font("B", 9)
    pdf.cell(widths[0], 7, "Total", border=1)
    for width, cents in zip(
        widths[1:],
        (
            invoice.list_cents - credited[0],
            invoice.subsidy_cents - credited[1],
            invoice.payable_cents - credited[2],
        ),
        strict=True,
    ):
        pdf.cell(width, 7, _hkd(cents), border=1, align="R")
    pdf.ln(12)
    doc.font("B", 11)
    payable = invoice.payable_cents - credited[2]
    for text in (
        f"Amount payable: {format_hkd(payable)}",
        f"Paid to date: {format_hkd(found.paid_cents)}",
        f"Outstanding: {format_hkd(payable - found.paid_cents)} (due {invoice.due_date:%Y-%m-%d})",
    ):
        pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    return doc.output()
