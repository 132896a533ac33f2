"""``aisc ledger``: the fund's position and its append-only entries."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import typer

from aisc.cli.common import JsonOpt, bounded_day, emit_list, emit_one, uow
from aisc.ledger import service
from aisc.ledger.earmarks import service as earmark_service
from aisc.ledger.earmarks.schemas import EarmarkRead, EarmarkSpendRead
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


@ledger_app.command("earmarks")
def earmarks(
    spends: bool = typer.Option(False, "--spends", help="list each spend and reversal instead"),
    earmark: str = typer.Option(None, help="only this earmark's spends"),
    as_json: bool = JsonOpt,
) -> None:
    """Each earmark: set aside, spent against it, remaining (or, with --spends, the entries)."""
    with uow() as ctx:
        if spends:
            rows = earmark_service.list_spends(ctx, earmark=earmark)
            emit_list(
                [EarmarkSpendRead.of(r) for r in rows],
                ["id", "earmark", "kind", "vendor", "spent_on", "amount_hkd", "reverses_id"],
                as_json,
            )
            return
        positions = [EarmarkRead.of(p) for p in earmark_service.earmarks(ctx)]
    emit_list(positions, ["earmark", "earmarked_hkd", "spent_hkd", "remaining_hkd"], as_json)


@ledger_app.command("earmark-spend")
def earmark_spend(
    earmark: str = typer.Option(..., help="the earmark's label, e.g. security"),
    vendor: str = typer.Option(...),
    purpose: str = typer.Option(...),
    spent_on: datetime = typer.Option(
        ..., formats=["%Y-%m-%d"], help="date paid, YYYY-MM-DD", callback=bounded_day
    ),
    amount: str = typer.Option(..., help=AMOUNT_HELP),
    evidence: Path = typer.Option(
        None,
        help="the invoice or contract: its name and SHA-256 are recorded",
        exists=True,
        dir_okay=False,
    ),
    evidence_ref: str = typer.Option("", help="a reference instead of (or beside) a file"),
    as_json: bool = JsonOpt,
) -> None:
    """Record a payment out of an earmark (refused beyond what remains of it)."""
    cents = _cents(amount)
    digest = hashlib.sha256(evidence.read_bytes()).hexdigest() if evidence else None
    reference = evidence_ref or (evidence.name if evidence else "")
    with uow() as ctx:
        row = earmark_service.spend(
            ctx,
            earmark=earmark,
            vendor=vendor,
            purpose=purpose,
            spent_on=spent_on.date(),
            amount_cents=cents,
            evidence_ref=reference,
            evidence_sha256=digest,
        )
        emit_one(EarmarkSpendRead.of(row), as_json)


@ledger_app.command("earmark-reverse")
def earmark_reverse(
    spend_id: int = typer.Argument(...),
    reason: str = typer.Option(...),
    as_json: bool = JsonOpt,
) -> None:
    """Cancel a spend with a reversing entry (the spend itself is never edited)."""
    with uow() as ctx:
        row = earmark_service.reverse(ctx, spend_id=spend_id, reason=reason)
        emit_one(EarmarkSpendRead.of(row), as_json)
