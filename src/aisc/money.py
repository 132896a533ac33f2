"""Money and rates without floats.

Amounts are integer cents of HK$. Rates are integer basis points (7000 = 70.00%). The
conversion helpers refuse values that would lose precision instead of rounding silently.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from aisc.errors import ValidationFailed

BASIS_POINTS = 10_000
CENTS = Decimal("0.01")


def hkd_to_cents(value: Decimal | int | str, *, field: str = "amount") -> int:
    """Convert an HK$ amount with at most two decimals into integer cents."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValidationFailed(f"{field}: {value!r} is not a number", field=field) from exc
    if not amount.is_finite():
        raise ValidationFailed(f"{field}: must be a finite amount", field=field)
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValidationFailed(f"{field}: at most two decimal places are allowed", field=field)
    return int(cents)


# What a person types for an amount: digits with an optional sign, thousands separated by commas
# in groups of three (or not at all), at most two decimals; "HK$" and spaces around are allowed.
_TYPED_AMOUNT = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?")
_TYPED_PERCENT = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,2})?")
# The largest amount any edge accepts: beyond a database BIGINT of cents long before.
MAX_TYPED_CENTS = 10**15


def parse_hkd(text: str, *, field: str = "amount_hkd") -> int:
    """An amount typed by a person (a form field, a CLI argument) as integer cents.

    ``1,200.50``, ``HK$ 1200.5`` and ``-30`` are read; ``1.005`` (a third decimal),
    ``12,00.5`` (a misplaced separator), ``1e3`` and anything else are refused, never rounded.
    """
    cleaned = text.strip()
    if cleaned.upper().startswith("HK$"):
        cleaned = cleaned[3:].strip()
    if not _TYPED_AMOUNT.fullmatch(cleaned):
        raise ValidationFailed(
            f"{field}: give an amount in HK$ with at most two decimals, e.g. 1,200.50",
            field=field,
        )
    cents = hkd_to_cents(cleaned.replace(",", ""), field=field)
    if abs(cents) >= MAX_TYPED_CENTS:
        raise ValidationFailed(f"{field}: the amount is too large", field=field)
    return cents


def parse_percent(text: str, *, field: str = "rate") -> int:
    """A percentage typed by a person (``70``, ``70.01``, ``70 %``) as basis points.

    At most two decimals (a basis point), from 0 to 100; nothing goes through a float.
    """
    cleaned = text.strip().removesuffix("%").strip()
    if not _TYPED_PERCENT.fullmatch(cleaned):
        raise ValidationFailed(
            f"{field}: give a percentage with at most two decimals, e.g. 70 or 70.01",
            field=field,
        )
    bp = int(Decimal(cleaned) * 100)
    if bp > BASIS_POINTS:
        raise ValidationFailed(f"{field}: a percentage is at most 100", field=field)
    return bp


def cents_to_hkd(cents: int) -> Decimal:
    """Integer cents as an HK$ Decimal with exactly two places."""
    return (Decimal(cents) / 100).quantize(CENTS)


def rate_to_bp(value: Decimal | str | float, *, field: str = "rate") -> int:
    """A rate in [0, 1] with at most four decimals as integer basis points."""
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(f"{field}: {value!r} is not a number", field=field) from exc
    if not rate.is_finite() or rate < 0 or rate > 1:
        raise ValidationFailed(f"{field}: must be between 0 and 1", field=field)
    bp = rate * BASIS_POINTS
    if bp != bp.to_integral_value():
        raise ValidationFailed(f"{field}: at most four decimal places are allowed", field=field)
    return int(bp)


def bp_to_rate(bp: int) -> Decimal:
    """Basis points as a Decimal rate with four places."""
    return (Decimal(bp) / BASIS_POINTS).quantize(Decimal("0.0001"))


def apply_rate(cents: int, bp: int) -> int:
    """``cents * rate`` rounded down to a whole cent, so a subsidy never exceeds its rate."""
    if cents < 0 or not 0 <= bp <= BASIS_POINTS:
        raise ValueError("apply_rate needs non-negative cents and a rate in [0, 10000] bp")
    return cents * bp // BASIS_POINTS


def format_hkd(cents: int) -> str:
    """``HK$1,234.50``: for people, never for machines."""
    return f"HK${cents_to_hkd(cents):,}"
