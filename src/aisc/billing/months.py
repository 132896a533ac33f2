"""Billing months: parsing ``YYYY-MM`` and month boundaries (UTC)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from aisc.errors import ValidationFailed
from aisc.schemas import EARLIEST_DAY, LATEST_DAY

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> date:
    """``YYYY-MM`` as the first day of that month."""
    found = _MONTH.match(text.strip())
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise ValidationFailed(f"month: {text!r} is not a month like 2025-03", field="month")
    month = date(int(found.group(1)), int(found.group(2)), 1)
    if not EARLIEST_DAY <= month <= LATEST_DAY:
        raise ValidationFailed(
            f"month: {text!r} is not between {EARLIEST_DAY:%Y-%m} and {LATEST_DAY:%Y-%m}",
            field="month",
        )
    return month


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
