from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from aisc.billing import alerts, charging, credits, months, receivables, views
from aisc.billing import reconcile as reconciler
from aisc.billing.models import PaymentMethod
from aisc.billing.schemas import BusyMonthRead, BusyRead, CreditNoteRead, PaymentRead
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
    "due_date",
    "outstanding_cents",
    "payment_status",
]
PAYMENT_COLUMNS = [
    "id",
    "number",
    "invoice_id",
    "amount_cents",
    "received_on",
    "method",
    "reference",
    "reverses_id",
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
        typer.echo(
            json.dumps(
                {"month": month, "balanced": found.balanced, "status": found.status, **summary},
                indent=2,
            )
        )
    else:
        typer.echo(
            f"{month}: {found.invoices} invoices; usage {found.usage_gpu_seconds} GPU-s, charged "
            f"{found.charged_gpu_seconds} GPU-s; list {format_hkd(found.list_cents)}, subsidy "
            f"{format_hkd(found.subsidy_cents)}, ledger disbursed "
            f"{format_hkd(found.ledger_disbursed_cents)}; credited subsidy "
            f"{format_hkd(found.credited_subsidy_cents)}, ledger reversed "
            f"{format_hkd(found.ledger_reversed_cents)}; payable credited "
            f"{format_hkd(found.credited_payable_cents)}, paid {format_hkd(found.paid_cents)}, "
            f"receivable {format_hkd(found.receivable_cents)}"
        )
    if found.not_billed:
        raise Conflict(
            f"{month} is not billed:\n  " + "\n  ".join(found.differences), field="month"
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
        found = views.statement(ctx, invoice_id=invoice_id)
        if fmt == "csv":
            text = statement_csv(found)
            if out is None:
                typer.echo(text, nl=False)
            else:
                out.write_text(text)
        else:
            out.write_bytes(statement_pdf(found))
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


@app.command("pay")
def pay(
    invoice_id: int,
    amount: str = typer.Option(None, help="HK$ received, e.g. 1,200.50 (not with --reverse)"),
    received_on: datetime = typer.Option(
        None, "--received-on", formats=["%Y-%m-%d"], help="the day the money arrived (today)"
    ),
    reference: str = typer.Option("", help="the bank's, FPS or cheque reference"),
    method: PaymentMethod = typer.Option(PaymentMethod.BANK_TRANSFER),
    note: str = typer.Option(""),
    reverse: int = typer.Option(None, "--reverse", help="reverse this payment id instead"),
    as_json: bool = JsonOpt,
) -> None:
    """Record a payment against an invoice (full or partial; never more than is outstanding),
    or reverse one recorded in error (--reverse PAYMENT_ID --note REASON)."""
    with uow() as ctx:
        if reverse is not None:
            payment = receivables.reverse_payment(
                ctx, invoice_id=invoice_id, payment_id=reverse, reason=note
            )
        else:
            if amount is None:
                raise ValidationFailed("amount: say how much was received", field="amount")
            payment = receivables.record_payment(
                ctx,
                invoice_id=invoice_id,
                amount_cents=parse_hkd(amount, field="amount"),
                received_on=received_on.date() if received_on else ctx.now.date(),
                reference=reference,
                method=method,
                note=note,
            )
        emit_one(PaymentRead.model_validate(payment), as_json)


@app.command("payments")
def payments(
    invoice: int = typer.Option(None),
    organisation: int = typer.Option(None),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """Payments and reversals, in the order recorded."""
    with uow() as ctx:
        rows = views.read_payments(
            ctx, invoice_id=invoice, organisation_id=organisation, limit=limit, offset=offset
        )
    emit_list(rows, PAYMENT_COLUMNS, as_json)


@app.command("statement-of-account")
def statement_of_account(
    organisation_id: int, as_of: datetime = DateOpt, as_json: bool = JsonOpt
) -> None:
    """An organisation's invoices, credit notes and payments with the running balance."""
    with uow() as ctx:
        found = views.statement_of_account(
            ctx, organisation_id=organisation_id, as_of=as_of.date() if as_of else None
        )
    if as_json:
        typer.echo(dump(found))
        return
    typer.echo(f"{found.organisation} (organisation {found.organisation_id}), as of {found.as_of}")
    for line in found.lines:
        typer.echo(
            f"{line.day}  {line.kind:11} {line.number:12} {line.invoice_number:12} "
            f"{format_hkd(line.amount_cents):>18} {format_hkd(line.balance_cents):>18}"
        )
    typer.echo(
        f"balance {format_hkd(found.balance_cents)} (invoiced {format_hkd(found.invoiced_cents)}, "
        f"credited {format_hkd(found.credited_cents)}, paid {format_hkd(found.paid_cents)}); "
        f"overdue {format_hkd(found.overdue_cents)}"
    )


@app.command("ageing")
def ageing(as_of: datetime = DateOpt, as_json: bool = JsonOpt) -> None:
    """What each organisation owes by days past due: current, 1-30, 31-60, 61-90, 90+."""
    with uow() as ctx:
        found = views.ageing(ctx, as_of=as_of.date() if as_of else ctx.now.date())
    if as_json:
        typer.echo(dump(found))
        return
    width = max([len(r.organisation) for r in found.rows] + [12])
    typer.echo(
        f"{'organisation':{width}} "
        + " ".join(f"{b:>16}" for b in found.buckets)
        + f" {'total':>16}"
    )
    for row in [*found.rows, None]:
        name, buckets, total = (
            (row.organisation, row.buckets, row.total_cents)
            if row
            else ("total", found.totals, found.total_cents)
        )
        typer.echo(
            f"{name:{width}} "
            + " ".join(f"{format_hkd(buckets[b]):>16}" for b in found.buckets)
            + f" {format_hkd(total):>16}"
        )


@app.command("export")
def export(
    start: str = typer.Option(..., "--from", help="YYYY-MM, the first month"),
    end: str = typer.Option(None, "--to", help="YYYY-MM, the last month (default: --from)"),
    out: Path = typer.Option(None, "--out", help="file to write (default standard output)"),
) -> None:
    """Invoices, credit notes and payments as CSV for an accounting system (docs/billing.md)."""
    from aisc.billing.export import export_csv

    first = months.parse_month(start)
    last = months.parse_month(end) if end else first
    with uow() as ctx:
        text = export_csv(ctx, start=first, end=months.next_month(last))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}")
