"""Amounts typed on the command line are read by ``aisc.money.parse_hkd``: exactly, or refused
naming the option, and nothing is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from aisc.audit.models import AuditEvent
from aisc.billing.models import CreditNote
from aisc.ledger.models import LedgerEntry
from tests.billing.test_billing import MARCH, Billed
from tests.factories import World

MISTYPED = ["1.005", "12,00.5", "1e3", "1,2345", "NaN", "", "12.", "HK$"]


def _counts(uow) -> tuple[int, int, int]:
    with uow() as ctx:
        return tuple(  # type: ignore[return-value]
            int(ctx.db.execute(select(func.count()).select_from(m)).scalar_one())
            for m in (LedgerEntry, CreditNote, AuditEvent)
        )


@pytest.mark.parametrize("typed", MISTYPED)
def test_a_mistyped_ledger_amount_is_refused_and_changes_nothing(cli, uow, typed):
    world = World(uow)
    world.approve(world.reviewed())
    award = json.loads(cli("award", "list", "--json").output)[0]["id"]
    before = _counts(uow)
    for args in (
        ("ledger", "budget", "--amount", typed),
        ("ledger", "earmark", "--label", "outreach", "--amount", typed),
        ("ledger", "disburse", "--award", str(award), "--amount", typed),
        ("ledger", "release", "--award", str(award), "--amount", typed),
    ):
        refused = cli(*args, expect=2)
        assert "error: amount: give an amount in HK$ with at most two decimals" in refused.output
    assert _counts(uow) == before


def test_a_ledger_amount_with_separators_is_read_to_the_cent(cli, uow):
    World(uow)
    entry = json.loads(cli("ledger", "budget", "--amount", "1,200.50", "--json").output)
    assert entry["amount_hkd"] == "1200.50"
    with uow() as ctx:
        cents = ctx.db.execute(
            select(LedgerEntry.amount_cents).where(LedgerEntry.id == entry["id"])
        ).scalar_one()
    assert cents == 120050


@pytest.mark.parametrize("typed", ["1.005", "12,00.5"])
def test_a_mistyped_credit_is_refused_and_changes_nothing(cli, uow, clock, typed):
    clock.advance(days=120)  # March has ended
    world = Billed(uow, clock)
    world.usage(world.pooled, 3600, datetime(2025, 3, 5, tzinfo=UTC))
    world.run(MARCH)
    invoice = json.loads(cli("billing", "invoices", "--json").output)[0]
    before = _counts(uow)
    refused = cli(
        "billing", "credit", str(invoice["id"]), "--amount", typed, "--reason", "x", expect=2
    )
    assert "error: amount: give an amount in HK$" in refused.output
    assert _counts(uow) == before
    credited = json.loads(
        cli(
            "billing", "credit", str(invoice["id"]), "--amount", "1,000.25", "--reason", "x",
            "--json",
        ).output
    )  # fmt: skip
    assert credited["list_cents"] == 100025
