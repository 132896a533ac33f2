from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisc.errors import ValidationFailed
from aisc.money import apply_rate, bp_to_rate, cents_to_hkd, format_hkd, hkd_to_cents, rate_to_bp


def test_hkd_round_trips_through_cents():
    assert hkd_to_cents(Decimal("1234.50")) == 123450
    assert cents_to_hkd(123450) == Decimal("1234.50")
    assert format_hkd(300_000_000_00) == "HK$300,000,000.00"


@pytest.mark.parametrize("bad", ["1.005", "abc", "NaN", "Infinity"])
def test_hkd_refuses_amounts_that_would_lose_precision(bad):
    with pytest.raises(ValidationFailed) as info:
        hkd_to_cents(bad, field="amount_hkd")
    assert info.value.field == "amount_hkd"


@pytest.mark.parametrize(("rate", "bp"), [("0.7", 7000), ("0.9000", 9000), ("0", 0), ("1", 10000)])
def test_rates_are_basis_points(rate, bp):
    assert rate_to_bp(rate) == bp
    assert bp_to_rate(bp) == Decimal(rate).quantize(Decimal("0.0001"))


@pytest.mark.parametrize("bad", ["1.01", "-0.1", "0.12345"])
def test_rate_outside_range_or_too_precise_is_refused(bad):
    with pytest.raises(ValidationFailed):
        rate_to_bp(bad)


@given(cents=st.integers(min_value=0, max_value=10**15), bp=st.integers(0, 10_000))
def test_apply_rate_never_exceeds_the_rate_and_loses_under_a_cent(cents, bp):
    subsidy = apply_rate(cents, bp)
    assert subsidy * 10_000 <= cents * bp
    assert cents * bp - subsidy * 10_000 < 10_000
