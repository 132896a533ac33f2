from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from aisc.billing import alerts, charging, credits, months, views
from aisc.billing import reconcile as reconciler
from aisc.billing.schemas import BusyMonthRead, BusyRead, CreditNoteRead
from aisc.cli.common import DateOpt, JsonOpt, dump, emit_list, emit_one, uow
from aisc.errors import Conflict, ValidationFailed
from aisc.money import format_hkd, parse_hkd

app = typer.Typer(help="Monthly invoices, credit notes, reconciliation.", no_args_is_help=True)
INVOICE_COLUMNS = [
    "id",
    "number",
    "award_id",
    "month",
    "list_cents",
    "subsidy_cents",
    "payable_cents",
]


@app.command("run")
def run(
    month: str = typer.Option(..., help="YYYY-MM, a finished month"), as_json: bool = JsonOpt
) -> None:
    """Issue the month's invoices (one per award); running it again issues nothing twice."""
    when = months.parse_month(month)
    with uow() as ctx:
        result = charging.run_month(ctx, month=when)
        rows = [views.read_invoice(ctx, i) for i in result.invoices]
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    subsidy = sum(r.subsidy_cents for r in rows)
    payable = sum(r.payable_cents for r in rows)
    typer.echo(
        f"{month}: {len(rows)} invoices issued ({result.skipped} awards already invoiced), "
        f"subsidy {format_hkd(subsidy)}, payable {format_hkd(payable)}, "
        f"{len(result.notifications)} burn alerts"
    )


@app.command("reconcile")
def reconcile(month: str = typer.Option(..., help="YYYY-MM"), as_json: bool = JsonOpt) -> None:
    """Usage = charges = invoice lines = ledger disbursements; non-zero exit on any difference."""
    with uow() as ctx:
        found = reconciler.reconcile(ctx, month=months.parse_month(month))
    summary = {k: v for k, v in vars(found).items() if k != "month"}
    if as_json:
        typer.echo(json.dumps({"month": month, "balanced": found.balanced, **summary}, indent=2))
    else:
        typer.echo(
            f"{month}: {found.invoices} invoices; usage {found.usage_gpu_seconds} GPU-s, charged "
            f"{found.charged_gpu_seconds} GPU-s; list {format_hkd(found.list_cents)}, subsidy "
            f"{format_hkd(found.subsidy_cents)}, ledger disbursed "
            f"{format_hkd(found.ledger_disbursed_cents)}; credited subsidy "
            f"{format_hkd(found.credited_subsidy_cents)}, ledger reversed "
            f"{format_hkd(found.ledger_reversed_cents)}"
        )
    if not found.balanced:
        raise Conflict(
            f"{month} does not reconcile:\n  " + "\n  ".join(found.differences), field="month"
        )
    if not as_json:
        typer.echo("balanced to the cent")


@app.command("invoices")
def invoices(
    award: int = typer.Option(None),
    month: str = typer.Option(None, help="YYYY-MM"),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """List issued invoices, filtered by award and month."""
    with uow() as ctx:
        rows = views.read_invoices(
            ctx,
            award_id=award,
            month=months.parse_month(month) if month else None,
            limit=limit,
            offset=offset,
        )
    emit_list(rows, INVOICE_COLUMNS, as_json)


@app.command("show")
def show(invoice_id: int, as_json: bool = JsonOpt) -> None:
    """Show an invoice with its lines and credit notes."""
    with uow() as ctx:
        emit_one(views.show_invoice(ctx, invoice_id=invoice_id), as_json)


@app.command("statement")
def statement(
    invoice_id: int,
    fmt: str = typer.Option("csv", "--format", help="csv or pdf"),
    out: Path = typer.Option(None, "--out", help="file to write (CSV: default standard output)"),
) -> None:
    """An invoice's statement: lines, subsidy and amount payable, as CSV or PDF."""
    # The PDF library loads for this command only (it is a quarter of the CLI's start-up).
    from aisc.billing.statements import statement_csv, statement_pdf

    if fmt not in ("csv", "pdf"):
        raise ValidationFailed("format: csv or pdf", field="format")
    if fmt == "pdf" and out is None:
        raise ValidationFailed("out: a PDF needs --out FILE", field="out")
    with uow() as ctx:
        args = views.statement(ctx, invoice_id=invoice_id).parts()
        if fmt == "csv":
            text = statement_csv(*args)
            if out is None:
                typer.echo(text, nl=False)
            else:
                out.write_text(text)
        else:
            out.write_bytes(statement_pdf(*args))
    if out is not None:
        typer.echo(f"wrote {out}")


@app.command("credit")
def credit(
    invoice_id: int,
    amount: str = typer.Option(..., help="list amount in HK$ to credit, e.g. 1,200.50"),
    reason: str = typer.Option(...),
    as_json: bool = JsonOpt,
) -> None:
    """Issue a credit note against an invoice (the invoice itself never changes)."""
    cents = parse_hkd(amount, field="amount")
    with uow() as ctx:
        note = credits.credit(ctx, invoice_id=invoice_id, list_cents=cents, reason=reason)
        emit_one(CreditNoteRead.model_validate(note), as_json)


@app.command("notifications")
def notifications(award: int = typer.Option(None), as_json: bool = JsonOpt) -> None:
    """Burn alerts at 50, 80 and 100% of each award."""
    with uow() as ctx:
        rows = alerts.list_notifications(ctx, award_id=award)
    emit_list(rows, ["id", "award_id", "kind", "created_at", "channel", "message"], as_json)


@app.command("busy")
def busy(
    as_of: datetime = DateOpt,
    by_month: bool = typer.Option(False, "--by-month", help="month by month, not by award"),
    as_json: bool = JsonOpt,
) -> None:
    """Busy against reserved GPU-hours of dedicated allocations (the measured-use figure)."""
    with uow() as ctx:
        report = views.busy_report(ctx, today=as_of.date() if as_of else ctx.now.date())
    if as_json:
        typer.echo(dump(report))
        return
    rows: list[BusyRead | BusyMonthRead] = [*(report.months if by_month else report.awards)]
    for row in rows:
        name = row.month if isinstance(row, BusyMonthRead) else f"award {row.award_id:4}"
        typer.echo(
            f"{name}  reserved {row.reserved_gpu_hours:>10,} GPU-h  busy "
            f"{row.busy_gpu_hours:>10,} GPU-h  {row.busy_pct}%"
        )
    typer.echo(
        f"overall: {report.busy_pct}% busy of {report.reserved_gpu_hours:,} reserved GPU-hours"
    )
