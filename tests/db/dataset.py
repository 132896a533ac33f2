"""A small centre with money in every table that holds it, and what the operator sees of it.

Shared by the backup and upgrade tests: two accepted awards (dedicated and pooled), usage in
March and April 2025, both months billed (invoices, ledger disbursements), audit events for all
of it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.billing.test_billing import APRIL, MARCH, Billed

MONTHS = ("2025-03", "2025-04")
MONEY_TABLES = (
    "ledger_entries",
    "invoices",
    "charges",
    "credit_notes",
    "usage_records",
    "audit_events",
)


def build(uow: Any, clock: Any) -> Billed:
    clock.advance(days=120)  # 10 May 2025: March and April have ended
    world = Billed(uow, clock)
    world.usage(world.pooled, 7200, datetime(2025, 3, 5, tzinfo=UTC))
    world.usage(world.pooled, 3600 * 30, datetime(2025, 4, 2, tzinfo=UTC))
    world.usage(world.dedicated, 3600, datetime(2025, 4, 3, tzinfo=UTC))
    world.run(MARCH)
    world.run(APRIL)
    return world


def observe(cli: Any) -> dict[str, Any]:
    """What `aisc ledger balance`, `scheme stats` and `billing reconcile` say (they must agree
    before and after a backup is restored, or a database is upgraded)."""
    seen: dict[str, Any] = {
        "balance": json.loads(cli("ledger", "balance", "--json").output),
        "stats": json.loads(cli("scheme", "stats", "--as-of", "2025-05-10", "--json").output),
    }
    for month in MONTHS:
        shown = cli("billing", "reconcile", "--month", month)
        assert "balanced to the cent" in shown.output, shown.output
        seen[month] = json.loads(cli("billing", "reconcile", "--month", month, "--json").output)
    assert "audit chain intact" in cli("audit", "verify").output
    return seen
