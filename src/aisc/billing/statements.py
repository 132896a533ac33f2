"""An invoice as a statement: CSV for spreadsheets, PDF for people (lines, subsidy, payable)."""

from __future__ import annotations

import csv
import io

from aisc.awards.models import Award
from aisc.billing.models import Charge, CreditNote, Invoice
from aisc.money import format_hkd
from aisc.pdf import Document

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
    "description",
]


def _hkd(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def statement_csv(
    invoice: Invoice, award: Award, lines: list[Charge], notes: list[CreditNote]
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["invoice", invoice.number, "award", award.id, "month", f"{invoice.month:%Y-%m}"]
    )
    writer.writerow(HEADER)
    for n, line in enumerate(lines, start=1):
        unit = "card-days" if line.kind.value == "dedicated" else "GPU-seconds"
        writer.writerow(
            [
                n,
                line.kind.value,
                line.gpu_model_code,
                line.quantity,
                unit,
                _hkd(line.unit_price_cents),
                _hkd(line.list_cents),
                _hkd(line.subsidy_cents),
                _hkd(line.payable_cents),
                line.description,
            ]
        )
    writer.writerow(
        [
            "total",
            "",
            "",
            "",
            "",
            "",
            _hkd(invoice.list_cents),
            _hkd(invoice.subsidy_cents),
            _hkd(invoice.payable_cents),
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
                note.reason,
            ]
        )
    return out.getvalue()


def statement_pdf(
    invoice: Invoice, award: Award, lines: list[Charge], notes: list[CreditNote]
) -> bytes:
    """The statement for people: any script in the award's title or the lines prints as
    written (``aisc.pdf``)."""
    rows = [
        (line.description, line.list_cents, line.subsidy_cents, line.payable_cents)
        for line in lines
    ]
    rows += [
        (f"Credit note {n.number}: {n.reason}", -n.list_cents, -n.subsidy_cents, -n.payable_cents)
        for n in notes
    ]
    heading = f"Award {award.id}: {award.title}"
    doc = Document(f"Statement {invoice.number}", [heading, *(row[0] for row in rows)])
    pdf = doc.pdf
    doc.font("B", 14)
    pdf.cell(0, 8, f"Statement {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    doc.font("", 10)
    for text in (
        heading,
        f"Month: {invoice.month:%Y-%m}    Issued: {invoice.issued_at:%Y-%m-%d}",
        f"Subsidy rate: {award.subsidy_rate_bp / 100:.2f}% of the list price",
    ):
        pdf.cell(0, 6, doc.fit(text, pdf.epw), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (90, 30, 30, 30)
    doc.font("B", 9)
    for width, title in zip(
        widths, ("Line", "List HK$", "Subsidy HK$", "Payable HK$"), strict=True
    ):
        pdf.cell(width, 7, title, border=1, align="L" if title == "Line" else "R")
    pdf.ln()
    doc.font("", 8)
    for text, list_cents, subsidy, payable in rows:
        pdf.cell(widths[0], 6, doc.fit(text, widths[0]), border=1)
        for width, cents in zip(widths[1:], (list_cents, subsidy, payable), strict=True):
            pdf.cell(width, 6, _hkd(cents), border=1, align="R")
        pdf.ln()
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
    pdf.cell(0, 8, f"Amount payable: {format_hkd(payable)}", new_x="LMARGIN", new_y="NEXT")
    return doc.output()
