from __future__ import annotations

from decimal import Decimal

import typer

from aisc.awards import closeout
from aisc.awards import service as awards
from aisc.awards.models import AwardStatus
from aisc.cli.common import JsonOpt, emit_list, emit_one, uow
from aisc.ledger import service
from aisc.ledger.models import EntryKind
from aisc.ledger.schemas import BalancesRead, EntryRead
from aisc.money import hkd_to_cents
from aisc.scheme.service import get_scheme

ledger_app = typer.Typer(help="The fund ledger (append-only).", no_args_is_help=True)
award_app = typer.Typer(help="Awards made by approvals.", no_args_is_help=True)


@ledger_app.command("balance")
def balance(as_json: bool = JsonOpt) -> None:
    """The fund position, derived from the ledger entries."""
    with uow() as ctx:
        emit_one(BalancesRead.of(service.balances(ctx.db, scheme_id=get_scheme(ctx).id)), as_json)


@ledger_app.command("entries")
def entries(
    kind: EntryKind = typer.Option(None),
    award: int = typer.Option(None),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """List the fund's ledger entries, by kind or award."""
    with uow() as ctx:
        rows = service.list_entries(
            ctx.db,
            scheme_id=get_scheme(ctx).id,
            kind=kind,
            award_id=award,
            limit=limit,
            offset=offset,
        )
        emit_list(
            [EntryRead.of(e) for e in rows],
            ["id", "kind", "amount_hkd", "award_id", "label", "created_at"],
            as_json,
        )


def _cents(amount: Decimal) -> int:
    return hkd_to_cents(amount, field="amount")


@ledger_app.command("budget")
def budget(
    amount: Decimal = typer.Option(..., help="HK$"),
    label: str = "budget",
    memo: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Add money to the fund."""
    with uow() as ctx:
        emit_one(
            EntryRead.of(
                service.add_budget(
                    ctx,
                    scheme_id=get_scheme(ctx).id,
                    amount_cents=_cents(amount),
                    label=label,
                    memo=memo,
                )
            ),
            as_json,
        )


@ledger_app.command("earmark")
def earmark(
    label: str = typer.Option(...),
    amount: Decimal = typer.Option(..., help="HK$"),
    memo: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Set money aside for a purpose (not available to awards)."""
    with uow() as ctx:
        emit_one(
            EntryRead.of(
                service.add_earmark(
                    ctx,
                    scheme_id=get_scheme(ctx).id,
                    amount_cents=_cents(amount),
                    label=label,
                    memo=memo,
                )
            ),
            as_json,
        )


@ledger_app.command("release")
def release(
    award: int = typer.Option(...),
    amount: Decimal = typer.Option(..., help="HK$"),
    memo: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Return unspent commitment of an award to the fund."""
    with uow() as ctx:
        emit_one(
            EntryRead.of(
                service.release(ctx, award_id=award, amount_cents=_cents(amount), memo=memo)
            ),
            as_json,
        )


@ledger_app.command("disburse")
def disburse(
    award: int = typer.Option(...),
    amount: Decimal = typer.Option(..., help="HK$"),
    memo: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Pay subsidy out of an award's commitment."""
    with uow() as ctx:
        emit_one(
            EntryRead.of(
                service.disburse(ctx, award_id=award, amount_cents=_cents(amount), memo=memo)
            ),
            as_json,
        )


@award_app.command("list")
def list_awards(
    status: AwardStatus = typer.Option(None),
    org: int = typer.Option(None),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """List awards, by status or organisation."""
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


@award_app.command("show")
def show_award(award_id: int, as_json: bool = JsonOpt) -> None:
    """Show one award."""
    with uow() as ctx:
        emit_one(awards.read_award(ctx, awards.get_award(ctx, award_id=award_id)), as_json)


@award_app.command("accept")
def accept(award_id: int, as_json: bool = JsonOpt) -> None:
    """Accept an offered award (the project's PI); it becomes active."""
    with uow() as ctx:
        emit_one(awards.read_award(ctx, awards.accept(ctx, award_id=award_id)), as_json)


@award_app.command("suspend")
def suspend(award_id: int, reason: str = typer.Option(...), as_json: bool = JsonOpt) -> None:
    """Suspend an active award; its allocations are suspended with it."""
    with uow() as ctx:
        emit_one(
            awards.read_award(ctx, awards.suspend(ctx, award_id=award_id, reason=reason)), as_json
        )


@award_app.command("resume")
def resume(award_id: int, as_json: bool = JsonOpt) -> None:
    """Resume a suspended award."""
    with uow() as ctx:
        emit_one(awards.read_award(ctx, awards.resume(ctx, award_id=award_id)), as_json)


@award_app.command("close")
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
