"""Money and rates without floats.

Amounts are integer cents of HK$. Rates are integer basis points (7000 = 70.00%). The
conversion helpers refuse values that would lose precision instead of rounding silently.
"""

from __future__ import annotations

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
