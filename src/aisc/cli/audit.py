from __future__ import annotations

from datetime import datetime

import typer

from aisc.audit import service
from aisc.audit.schemas import AuditEventRead, VerifyRead
from aisc.cli.common import JsonOpt, emit_list, emit_one, uow

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@app.command("verify")
def verify(as_json: bool = JsonOpt) -> None:
    """Recompute the hash chain; exit 1 and name the first broken event if it was altered."""
    with uow() as ctx:
        result = VerifyRead.model_validate(service.verify(ctx.db))
    if as_json:
        emit_one(result, True)
    elif result.ok:
        typer.echo(f"audit chain intact: {result.events_checked} events verified")
    else:
        typer.echo(
            f"audit chain BROKEN at event seq={result.first_bad_seq} id={result.first_bad_id}: "
            f"{result.reason} ({result.events_checked} events verified before it)",
            err=True,
        )
    if not result.ok:
        raise typer.Exit(1)


@app.command("list")
def list_events(
    actor: str = typer.Option(None),
    object_type: str = typer.Option(None),
    object_id: str = typer.Option(None),
    since: datetime = typer.Option(None, help="ISO time, UTC if no zone"),
    until: datetime = typer.Option(None, help="ISO time, UTC if no zone"),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    with uow() as ctx:
        rows = service.list_events(
            ctx.db,
            actor=actor,
            object_type=object_type,
            object_id=object_id,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        emit_list(
            [AuditEventRead.model_validate(e) for e in rows],
            ["seq", "at", "actor", "action", "object_type", "object_id"],
            as_json,
        )
