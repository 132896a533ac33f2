"""``aisc progress`` (progress reports) and ``aisc condition`` (conditions of approval)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from aisc.cli.common import JsonOpt, bounded_day, emit_list, emit_one, load_file, parse, uow
from aisc.progress import conditions as condition_service
from aisc.progress import service
from aisc.progress.models import ConditionStatus, ReportStatus
from aisc.progress.schemas import ReportSubmit

app = typer.Typer(help="Progress reports due on awards.", no_args_is_help=True)
condition_app = typer.Typer(help="Conditions of approval of awards.", no_args_is_help=True)

REPORT_COLUMNS = ["id", "award_id", "kind", "sequence", "due_date", "status", "overdue", "late"]


@app.command("list")
def list_reports(
    award: int = typer.Option(None, help="one award's reports"),
    status: ReportStatus = typer.Option(None),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """List progress reports by due date (overdue: owed past the due date)."""
    with uow() as ctx:
        rows = [
            service.read_report(ctx, r)
            for r in service.list_reports(
                ctx, award_id=award, status=status, limit=limit, offset=offset
            )
        ]
    emit_list(rows, REPORT_COLUMNS, as_json)


@app.command("show")
def show(report_id: int, as_json: bool = JsonOpt) -> None:
    """Show one report with its narrative, milestones and outputs."""
    with uow() as ctx:
        emit_one(service.read_report(ctx, service.view_report(ctx, report_id=report_id)), as_json)


@app.command("submit")
def submit(
    report_id: int,
    file: Path = typer.Option(
        ..., help="the report as JSON or YAML (narrative, milestones, outputs, attachments)"
    ),
    by: int = typer.Option(None, help="the project lead submitting (person id)"),
    as_json: bool = JsonOpt,
) -> None:
    """Submit (or resubmit) a progress report for the project's lead."""
    raw: Any = load_file(file)
    if by is not None and isinstance(raw, dict):
        raw = {**raw, "submitted_by_id": by}
    data = parse(ReportSubmit, raw)
    with uow() as ctx:
        emit_one(
            service.read_report(ctx, service.submit_report(ctx, report_id=report_id, data=data)),
            as_json,
        )


@app.command("accept")
def accept(report_id: int, note: str = typer.Option(""), as_json: bool = JsonOpt) -> None:
    """Accept a submitted report (lifts a suspension its lateness caused)."""
    with uow() as ctx:
        emit_one(
            service.read_report(ctx, service.accept_report(ctx, report_id=report_id, note=note)),
            as_json,
        )


@app.command("request-changes")
def request_changes(report_id: int, note: str = typer.Option(...), as_json: bool = JsonOpt) -> None:
    """Send a submitted report back to the lead with a note."""
    with uow() as ctx:
        report = service.request_changes(ctx, report_id=report_id, note=note)
        emit_one(service.read_report(ctx, report), as_json)


@app.command("outcomes")
def outcomes(
    as_of: datetime = typer.Option(None, formats=["%Y-%m-%d"], callback=bounded_day),
    as_json: bool = JsonOpt,
) -> None:
    """What accepted reports say the projects delivered, by kind."""
    with uow() as ctx:
        totals = service.outcome_totals(ctx, as_of=as_of.date() if as_of else None)
    if as_json:
        import json

        typer.echo(json.dumps(totals))
        return
    for kind, count in totals.items():
        typer.echo(f"{kind:16} {count:>10,}")


CONDITION_COLUMNS = ["id", "award_id", "position", "text", "due_date", "status"]


@condition_app.command("list")
def list_conditions(
    award: int = typer.Option(None, help="one award's conditions"),
    status: ConditionStatus = typer.Option(None),
    as_json: bool = JsonOpt,
) -> None:
    """List conditions of approval (overdue: open past the due date)."""
    with uow() as ctx:
        rows = [
            condition_service.read_condition(ctx, c)
            for c in condition_service.list_conditions(ctx, award_id=award, status=status)
        ]
    emit_list(rows, CONDITION_COLUMNS, as_json)


@condition_app.command("met")
def met(condition_id: int, evidence: str = typer.Option(...), as_json: bool = JsonOpt) -> None:
    """Mark a condition met, with its evidence (lifts the hold it placed)."""
    with uow() as ctx:
        found = condition_service.resolve(
            ctx, condition_id=condition_id, outcome="met", text=evidence
        )
        emit_one(condition_service.read_condition(ctx, found), as_json)


@condition_app.command("waive")
def waive(condition_id: int, reason: str = typer.Option(...), as_json: bool = JsonOpt) -> None:
    """Waive a condition, with the reason (lifts the hold it placed)."""
    with uow() as ctx:
        found = condition_service.resolve(
            ctx, condition_id=condition_id, outcome="waived", text=reason
        )
        emit_one(condition_service.read_condition(ctx, found), as_json)
