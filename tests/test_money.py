from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisc.errors import ValidationFailed
from aisc.money import (
    apply_rate,
    bp_to_rate,
    cents_to_hkd,
    format_hkd,
    hkd_to_cents,
    parse_hkd,
    parse_percent,
    rate_to_bp,
)


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


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("1,200.50", 120050), ("HK$ 1200.5", 120050), ("-30", -3000), ("0.01", 1),
     ("1,234,567", 123456700), ("  7 ", 700)],
)  # fmt: skip
def test_typed_amounts_are_read_exactly(typed, cents):
    assert parse_hkd(typed) == cents


@pytest.mark.parametrize(
    "typed",
    ["1.005", "12,00.5", "1,20", "1e3", "", "abc", "NaN", "\u0661\u0662", "1.2.3", "10" * 10],
)
def test_typed_amounts_that_are_not_plain_are_refused_not_rounded(typed):
    with pytest.raises(ValidationFailed) as info:
        parse_hkd(typed, field="amount_hkd")
    assert info.value.field == "amount_hkd"
    assert "amount_hkd" in info.value.message


@pytest.mark.parametrize(("typed", "bp"), [("70", 7000), ("70.01", 7001), ("100", 10000),
                                          ("0", 0), ("55.5 %", 5550)])  # fmt: skip
def test_typed_percentages_become_basis_points_without_a_float(typed, bp):
    assert parse_percent(typed) == bp


@pytest.mark.parametrize("typed", ["100.01", "70.001", "-1", "nan", "", "7e1", "\u0667\u0660"])
def test_typed_percentages_out_of_range_or_too_precise_are_refused(typed):
    with pytest.raises(ValidationFailed) as info:
        parse_percent(typed, field="subsidy_rate")
    assert info.value.field == "subsidy_rate"
