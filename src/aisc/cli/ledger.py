"""``aisc ledger``: the fund's position and its append-only entries."""

from __future__ import annotations

import typer

from aisc.cli.common import JsonOpt, emit_list, emit_one, uow
from aisc.ledger import service
from aisc.ledger.models import EntryKind
from aisc.ledger.schemas import BalancesRead, EntryRead
from aisc.money import parse_hkd

ledger_app = typer.Typer(help="The fund ledger (append-only).", no_args_is_help=True)
AMOUNT_HELP = "HK$, at most two decimals, e.g. 1,200.50"


@ledger_app.command("balance")
def balance(as_json: bool = JsonOpt) -> None:
    """The fund position, derived from the ledger entries."""
    with uow() as ctx:
        emit_one(BalancesRead.of(service.balances(ctx)), as_json)


@ledger_app.command("entries")
def entries(
    kind: EntryKind = typer.Option(None),
    award: int = typer.Option(None),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """List the ledger entries, oldest first, filtered by kind and award."""
    with uow() as ctx:
        rows = service.list_entries(
            ctx,
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


def _cents(amount: str) -> int:
    return parse_hkd(amount, field="amount")


@ledger_app.command("budget")
def budget(
    amount: str = typer.Option(..., help=AMOUNT_HELP),
    label: str = "budget",
    memo: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Add money to the fund."""
    cents = _cents(amount)
    with uow() as ctx:
        emit_one(
            EntryRead.of(service.add_budget(ctx, amount_cents=cents, label=label, memo=memo)),
            as_json,
        )


@ledger_app.command("earmark")
def earmark(
    label: str = typer.Option(...),
    amount: str = typer.Option(..., help=AMOUNT_HELP),
    memo: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Set money aside for a purpose (not available to awards)."""
    cents = _cents(amount)
    with uow() as ctx:
        emit_one(
            EntryRead.of(service.add_earmark(ctx, amount_cents=cents, label=label, memo=memo)),
            as_json,
        )


@ledger_app.command("release")
def release(
    award: int = typer.Option(...),
    amount: str = typer.Option(..., help=AMOUNT_HELP),
    memo: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Return unspent commitment of an award to the fund."""
    cents = _cents(amount)
    with uow() as ctx:
        emit_one(
            EntryRead.of(service.release(ctx, award_id=award, amount_cents=cents, memo=memo)),
            as_json,
        )


@ledger_app.command("disburse")
def disburse(
    award: int = typer.Option(...),
    amount: str = typer.Option(..., help=AMOUNT_HELP),
    memo: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Pay subsidy out of an award's commitment."""
    cents = _cents(amount)
    with uow() as ctx:
        emit_one(
            EntryRead.of(service.disburse(ctx, award_id=award, amount_cents=cents, memo=memo)),
            as_json,
        )
