"""The demo's earmark spending: the security earmark (a penetration test before opening the
portal widely, a security operations centre service by the quarter) and a promotion and
education earmark (a launch briefing, AI literacy workshops), up to the demo's present.

Vendors are fictional; amounts are placeholders of a plausible size (the real contracts are not
public). One invoice entered twice is reversed, as an officer would correct it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from aisc.ledger import service as ledger
from aisc.ledger.earmarks import service as earmarks
from aisc.money import parse_hkd

if TYPE_CHECKING:
    from aisc.demo import Builder

PROMOTION = "promotion and education"
PROMOTION_HKD = "20,000,000"
# (day, earmark, vendor, purpose, HK$, evidence reference)
SPENDS = (
    (date(2024, 11, 18), "security", "Victoria Harbour Red Team Ltd",
     "penetration test of the portal, the API and the login nodes", "1,850,000", "VHRT-INV-1107"),
    (date(2024, 11, 25), PROMOTION, "Kowloon Events Co.",
     "scheme launch briefing for universities and start-ups", "420,000", "KE-2024-311"),
    (date(2025, 1, 3), "security", "Lion Rock Security Operations",
     "security operations centre service, Q4 2024", "2,400,000", "LRSO-2025-001"),
    (date(2025, 3, 15), PROMOTION, "Tsing Yi Learning Ltd",
     "AI literacy workshops for SMEs (six sessions)", "680,000", "TYL-0088"),
    (date(2025, 4, 2), "security", "Lion Rock Security Operations",
     "security operations centre service, Q1 2025", "2,400,000", "LRSO-2025-014"),
    (date(2025, 7, 2), "security", "Lion Rock Security Operations",
     "security operations centre service, Q2 2025", "2,400,000", "LRSO-2025-027"),
)  # fmt: skip


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 11, tzinfo=UTC)


def demo_earmarks(builder: Builder) -> None:
    """Set the promotion and education earmark aside and record the spending of both."""
    with builder.step(_at(date(2024, 10, 14))) as ctx:
        ledger.add_earmark(
            ctx,
            amount_cents=parse_hkd(PROMOTION_HKD, field="amount"),
            label=PROMOTION,
            memo="promotion of the scheme and AI education",
        )
    duplicate = None
    for day, earmark, vendor, purpose, amount, reference in SPENDS:
        with builder.step(_at(day)) as ctx:
            row = earmarks.spend(
                ctx,
                earmark=earmark,
                vendor=vendor,
                purpose=purpose,
                spent_on=day,
                amount_cents=parse_hkd(amount, field="amount"),
                evidence_ref=f"{reference}.pdf",
                evidence_sha256=hashlib.sha256(reference.encode()).hexdigest(),
            )
            if reference == "LRSO-2025-014":  # entered again by mistake, then reversed
                duplicate = earmarks.spend(
                    ctx,
                    earmark=earmark,
                    vendor=vendor,
                    purpose=purpose,
                    spent_on=day,
                    amount_cents=row.amount_cents,
                    evidence_ref=f"{reference}.pdf",
                    evidence_sha256=row.evidence_sha256,
                )
    assert duplicate is not None
    with builder.step(_at(date(2025, 4, 8))) as ctx:
        earmarks.reverse(ctx, spend_id=duplicate.id, reason="the Q1 invoice was entered twice")
