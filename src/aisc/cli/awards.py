"""``aisc award``: awards made by approvals (and, under it, ``aisc award qos``)."""

from __future__ import annotations

from datetime import date, datetime

import typer

from aisc.awards import changes, closeout
from aisc.awards import service as awards
from aisc.awards.models import AwardStatus
from aisc.awards.schemas import AwardChangeRead
from aisc.cli.common import JsonOpt, bounded_day, emit_list, emit_one, uow

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


# --- changes to an award (aisc.awards.changes) ----------------------------------------------

ReasonOpt = typer.Option(..., help="why (the committee's reasons)")
DecidedOpt = typer.Option(..., "--decided-by", help="the decision recorded (e.g. the meeting)")


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@app.command("extend")
def extend(
    award_id: int,
    end_date: datetime = typer.Option(
        ..., "--end-date", formats=["%Y-%m-%d"], callback=bounded_day
    ),
    reason: str = ReasonOpt,
    decided_by: str = DecidedOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Extend a pooled award to a later end date, at no cost (a dedicated award needs a
    top-up: its cards are charged by the day)."""
    with uow() as ctx:
        change = changes.extend(
            ctx, award_id=award_id, end_date=end_date.date(), reason=reason, decided_by=decided_by
        )
        emit_one(AwardChangeRead.of(change), as_json)


@app.command("top-up")
def top_up(
    award_id: int,
    reason: str = ReasonOpt,
    decided_by: str = DecidedOpt,
    cards: int = typer.Option(None, "--cards", help="cards added (dedicated)"),
    gpu_hours: int = typer.Option(None, "--gpu-hours", help="GPU-hours added (pooled)"),
    end_date: datetime = typer.Option(
        None, "--end-date", formats=["%Y-%m-%d"], callback=bounded_day, help="a later end date"
    ),
    effective: datetime = typer.Option(
        None,
        "--from",
        formats=["%Y-%m-%d"],
        callback=bounded_day,
        help="added cards start on (default today)",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Top an award up with more cards, GPU-hours or time; the added subsidy is committed
    from the fund (refused when the fund or the capacity cannot cover it)."""
    with uow() as ctx:
        change = changes.top_up(
            ctx,
            award_id=award_id,
            gpu_cards=cards,
            gpu_hours=gpu_hours,
            end_date=_day(end_date),
            effective_date=_day(effective),
            reason=reason,
            decided_by=decided_by,
        )
        emit_one(AwardChangeRead.of(change), as_json)


@app.command("reduce")
def reduce(
    award_id: int,
    reason: str = ReasonOpt,
    decided_by: str = DecidedOpt,
    cards: int = typer.Option(None, "--cards", help="cards taken away (dedicated)"),
    gpu_hours: int = typer.Option(None, "--gpu-hours", help="GPU-hours taken away (pooled)"),
    effective: datetime = typer.Option(
        None, "--from", formats=["%Y-%m-%d"], callback=bounded_day, help="from (default today)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Reduce an award's compute ahead; the commitment's share is released to the fund."""
    with uow() as ctx:
        change = changes.reduce(
            ctx,
            award_id=award_id,
            gpu_cards=cards,
            gpu_hours=gpu_hours,
            effective_date=_day(effective),
            reason=reason,
            decided_by=decided_by,
        )
        emit_one(AwardChangeRead.of(change), as_json)


@app.command("end-early")
def end_early(
    award_id: int,
    end_date: datetime = typer.Option(
        ..., "--end-date", formats=["%Y-%m-%d"], callback=bounded_day
    ),
    reason: str = ReasonOpt,
    decided_by: str = DecidedOpt,
    as_json: bool = JsonOpt,
) -> None:
    """End a dedicated award's cards early: they return to the pool from that date and the
    unused commitment is released pro rata."""
    with uow() as ctx:
        change = changes.end_early(
            ctx, award_id=award_id, end_date=end_date.date(), reason=reason, decided_by=decided_by
        )
        emit_one(AwardChangeRead.of(change), as_json)


@app.command("changes")
def list_changes(award_id: int, as_json: bool = JsonOpt) -> None:
    """The award's changes: kind, when, money moved, reason, decision."""
    with uow() as ctx:
        rows = [AwardChangeRead.of(c) for c in changes.list_changes(ctx, award_id=award_id)]
    emit_list(
        rows,
        ["id", "kind", "effective_date", "committed_hkd", "released_hkd", "decided_by", "reason"],
        as_json,
    )
