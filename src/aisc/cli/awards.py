"""``aisc award``: awards made by approvals (and, under it, ``aisc award qos``)."""

from __future__ import annotations

import typer

from aisc.awards import closeout
from aisc.awards import service as awards
from aisc.awards.models import AwardStatus
from aisc.cli.common import JsonOpt, emit_list, emit_one, uow

app = typer.Typer(help="Awards made by approvals.", no_args_is_help=True)


@app.command("list")
def list_awards(
    status: AwardStatus = typer.Option(None),
    org: int = typer.Option(None),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """List awards, filtered by status and organisation."""
    with uow() as ctx:
        rows = [
            awards.read_award(ctx, a)
            for a in awards.list_awards(
                ctx, status=status, organisation_id=org, limit=limit, offset=offset
            )
        ]
    emit_list(
        rows,
        ["id", "title", "status", "kind", "gpu_cards", "months", "subsidy_rate", "subsidy_cap_hkd"],
        as_json,
    )


@app.command("show")
def show_award(award_id: int, as_json: bool = JsonOpt) -> None:
    """Show one award with its commitment and what was drawn from it."""
    with uow() as ctx:
        emit_one(awards.read_award(ctx, awards.get_award(ctx, award_id=award_id)), as_json)


@app.command("accept")
def accept(award_id: int, as_json: bool = JsonOpt) -> None:
    """Accept an offered award for the project (it becomes active)."""
    with uow() as ctx:
        emit_one(awards.read_award(ctx, awards.accept(ctx, award_id=award_id)), as_json)


@app.command("suspend")
def suspend(award_id: int, reason: str = typer.Option(...), as_json: bool = JsonOpt) -> None:
    """Suspend an active award; its allocations are suspended with it."""
    with uow() as ctx:
        emit_one(
            awards.read_award(ctx, awards.suspend(ctx, award_id=award_id, reason=reason)), as_json
        )


@app.command("resume")
def resume(award_id: int, as_json: bool = JsonOpt) -> None:
    """Resume a suspended award; its allocations resume with it."""
    with uow() as ctx:
        emit_one(awards.read_award(ctx, awards.resume(ctx, award_id=award_id)), as_json)


@app.command("close")
def close(
    award_id: int,
    outcome: closeout.CloseOutcome = typer.Option(
        ..., help="completed (period over) or terminated (early)"
    ),
    reason: str = typer.Option("", help="why (required for a termination)"),
    as_json: bool = JsonOpt,
) -> None:
    """Close an award and release its remaining commitment to the fund.

    Refused while its jobs are queued or running, or while its usage or dedicated cards are
    not billed yet.
    """
    with uow() as ctx:
        award = closeout.close(ctx, award_id=award_id, outcome=outcome, reason=reason)
        emit_one(awards.read_award(ctx, award), as_json)
