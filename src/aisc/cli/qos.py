"""``aisc award qos``: the QOS tiers an award may use, and the grants of privileged ones."""

from __future__ import annotations

import typer

from aisc.cli.common import JsonOpt, emit_list, emit_one, parse, uow
from aisc.jobs.models import JobQos
from aisc.qos import service
from aisc.qos.schemas import QosGrantCreate

app = typer.Typer(
    help="QOS tiers: standard for every award, hero and debug only by grant.",
    no_args_is_help=True,
)
COLUMNS = ["id", "qos", "gpu_hours", "expires_at", "in_force", "used_gpu_seconds", "granted_by"]


@app.command("list")
def list_tiers(award_id: int, as_json: bool = JsonOpt) -> None:
    """The tiers the award's jobs may use now, and its grants."""
    with uow() as ctx:
        held = service.award_tiers(ctx, award_id=award_id)
        if as_json:
            emit_one(held, as_json)
            return
        typer.echo("tiers: " + ", ".join(q.value for q in held.tiers))
        emit_list(held.grants, COLUMNS, as_json)


@app.command("grant")
def grant(
    award_id: int,
    qos: JobQos = typer.Argument(..., help="a privileged tier: hero or debug"),
    gpu_hours: int = typer.Option(None, help="GPU-hours the award may run in the tier"),
    expires_on: str = typer.Option(None, help="the grant ends at the start of this day (UTC)"),
    reason: str = typer.Option("", help="why (kept with the grant and in the audit trail)"),
    as_json: bool = JsonOpt,
) -> None:
    """Grant an award a privileged QOS tier."""
    data = parse(
        QosGrantCreate,
        {"qos": qos, "gpu_hours": gpu_hours, "expires_on": expires_on, "reason": reason},
    )
    with uow() as ctx:
        emit_one(service.read_grant(ctx, service.grant(ctx, award_id=award_id, data=data)), as_json)


@app.command("revoke")
def revoke(
    award_id: int,
    grant_id: int,
    reason: str = typer.Option("", help="why (kept in the audit trail)"),
    as_json: bool = JsonOpt,
) -> None:
    """End a grant now: the award's new jobs can no longer use the tier."""
    with uow() as ctx:
        row = service.revoke(ctx, award_id=award_id, grant_id=grant_id, reason=reason)
        emit_one(service.read_grant(ctx, row), as_json)
