"""The capacity arithmetic, on plain data, against hand-computed figures."""

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aisc.cluster.capacity import Demand, Supply, months_between, positions, shortfalls

H800 = "H800"
FEB = months_between(date(2025, 2, 1), date(2025, 3, 1))  # 28 days = 672 hours


def table(supply, demand, months=FEB, headroom_bp=0):
    return positions(supply, demand, months, headroom_bp=headroom_bp)


def test_a_month_short_by_16_cards_is_named_with_exactly_16():
    supply = [Supply(H800, "training", 32, date(2024, 1, 1))]
    first = Demand("a", H800, "training", date(2025, 2, 1), date(2025, 3, 1), cards=16)
    second = Demand("b", H800, "training", date(2025, 2, 1), date(2025, 3, 1), cards=32)
    result = table(supply, [first, second])
    position = result[(H800, "training")][0]
    assert position.installed == 32 * 672
    assert position.committed == 48 * 672
    assert position.shortfall_cards() == 16
    found = shortfalls(result, second)
    assert [(s.month, s.cards) for s in found] == [("2025-02", 16)]
    assert shortfalls(table(supply, [first]), first) == []


def test_headroom_is_kept_back_from_the_allocatable_supply():
    supply = [Supply(H800, "training", 64, date(2024, 1, 1))]
    position = table(supply, [], headroom_bp=500)[(H800, "training")][0]
    assert position.allocatable == 64 * 672 * 95 // 100  # 60.8 cards
    assert position.cards(position.allocatable) == Decimal("60.80")


def test_nodes_count_from_the_day_they_are_installed_until_retired():
    supply = [
        Supply(H800, "training", 8, date(2025, 2, 15)),  # 14 days of February
        Supply(H800, "training", 8, date(2024, 1, 1), retired_on=date(2025, 2, 8)),  # 7 days
    ]
    position = table(supply, [])[(H800, "training")][0]
    assert position.installed == 8 * 24 * 14 + 8 * 24 * 7
    assert position.cards(position.installed) == Decimal("6.00")  # (8*14 + 8*7) / 28


def test_dedicated_requests_of_8_or_more_hold_whole_nodes():
    assert Demand("x", H800, "t", date(2025, 1, 1), date(2025, 2, 1), cards=12).footprint() == 16
    assert Demand("x", H800, "t", date(2025, 1, 1), date(2025, 2, 1), cards=8).footprint() == 8
    assert Demand("x", H800, "t", date(2025, 1, 1), date(2025, 2, 1), cards=4).footprint() == 4
    supply = [Supply(H800, "training", 16, date(2024, 1, 1))]
    two = [
        Demand("a", H800, "training", date(2025, 2, 1), date(2025, 3, 1), cards=12),
        Demand("b", H800, "training", date(2025, 2, 1), date(2025, 3, 1), cards=4),
    ]
    result = table(supply, two)
    assert [s.cards for s in shortfalls(result, two[1])] == [4]  # 16 + 4 on 16 cards


def test_a_demand_partly_in_a_month_is_pro_rated_by_day():
    supply = [Supply(H800, "training", 8, date(2024, 1, 1))]
    half = Demand("a", H800, "training", date(2025, 2, 15), date(2025, 4, 1), cards=8)
    feb = table(supply, [half])[(H800, "training")][0]
    assert feb.committed == 8 * 24 * 14
    assert shortfalls(table(supply, [half]), half) == []


def test_pools_are_separate():
    supply = [
        Supply(H800, "training", 8, date(2024, 1, 1)),
        Supply("L40S", "inference", 8, date(2024, 1, 1)),
    ]
    demand = Demand("a", "L40S", "inference", date(2025, 2, 1), date(2025, 3, 1), cards=16)
    result = table(supply, [demand])
    assert [s.cards for s in shortfalls(result, demand)] == [8]
    assert result[(H800, "training")][0].committed == 0


@given(
    hours=st.integers(1, 10**9),
    start=st.dates(date(2024, 1, 1), date(2026, 12, 31)),
    days=st.integers(1, 1200),
)
def test_pooled_gpu_hours_are_spread_over_the_months_and_add_up_exactly(hours, start, days):
    from datetime import timedelta

    end = start + timedelta(days=days)
    months = months_between(start, end)
    pooled = Demand("p", H800, "training", start, end, gpu_hours=hours)
    row = positions([], [pooled], months, headroom_bp=0)[(H800, "training")]
    assert sum(p.committed for p in row) == hours
    assert all(p.committed >= 0 for p in row)
