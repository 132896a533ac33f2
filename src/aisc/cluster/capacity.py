"""Capacity arithmetic: supply against committed demand, month by month. Pure: no I/O.

Everything is counted in card-hours, exact integers:
- supply: a node's GPU cards for every hour of every day it is installed (installed_on inclusive,
  retired_on exclusive);
- allocatable supply: supply minus the headroom kept for maintenance, sandbox and proof of
  concept (basis points, rounded down);
- dedicated demand: its cards (its whole-node footprint when 8 or more) for every hour of every
  day of its period;
- pooled demand: its GPU-hours spread evenly over the days of its period; the monthly shares are
  cumulative integer divisions, so they always add back to exactly the GPU-hours granted.

Cards for people are card-hours divided by the hours of the month (so a shortfall of 16 cards for
a whole month reads as 16.00).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, Decimal

Pool = tuple[str, str]  # (gpu model, partition)
NODE_SIZE = 8


@dataclass(frozen=True)
class Month:
    start: date
    end: date  # exclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")


@dataclass(frozen=True)
class Supply:
    gpu_model: str
    partition: str
    cards: int
    installed_on: date
    retired_on: date | None = None


@dataclass(frozen=True)
class Demand:
    """A commitment (an allocation, or an award being considered)."""

    key: str
    gpu_model: str
    partition: str
    start: date
    end: date  # exclusive
    cards: int | None = None
    gpu_hours: int | None = None

    def footprint(self, node_size: int = NODE_SIZE) -> int:
        """Cards held: a dedicated request of ``node_size`` or more occupies whole nodes."""
        cards = self.cards or 0
        if cards >= node_size:
            return -(-cards // node_size) * node_size
        return cards


@dataclass
class MonthPosition:
    month: Month
    installed: int = 0  # card-hours
    allocatable: int = 0
    committed: int = 0
    by_demand: dict[str, int] = field(default_factory=dict)

    @property
    def headroom(self) -> int:
        return self.allocatable - self.committed

    def cards(self, card_hours: int) -> Decimal:
        return (Decimal(card_hours) / self.month.hours).quantize(Decimal("0.01"))

    def shortfall_cards(self) -> int:
        """Whole cards missing for this month (0 when the commitments fit)."""
        if self.committed <= self.allocatable:
            return 0
        missing = Decimal(self.committed - self.allocatable) / self.month.hours
        return int(missing.to_integral_value(rounding=ROUND_CEILING))


def months_between(start: date, end: date) -> list[Month]:
    """Calendar months overlapping [start, end)."""
    months = []
    cursor = date(start.year, start.month, 1)
    while cursor < end:
        following = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        months.append(Month(cursor, following))
        cursor = following
    return months


def _overlap_days(month: Month, start: date, end: date | None) -> int:
    lo = max(month.start, start)
    hi = month.end if end is None else min(month.end, end)
    return max(0, (hi - lo).days)


def _pooled_shares(demand: Demand, months: Sequence[Month]) -> dict[int, int]:
    """GPU-hours of a pooled demand per month index, summing exactly to its total."""
    total_days = (demand.end - demand.start).days
    hours = demand.gpu_hours or 0
    if total_days <= 0 or hours <= 0:
        return {}
    shares = {}
    for index, month in enumerate(months):
        lo = max(month.start, demand.start)
        hi = min(month.end, demand.end)
        if hi <= lo:
            continue
        before = (lo - demand.start).days
        through = (hi - demand.start).days
        shares[index] = hours * through // total_days - hours * before // total_days
    return shares


def positions(
    supply: Iterable[Supply],
    demand: Iterable[Demand],
    months: Sequence[Month],
    *,
    headroom_bp: int,
    node_size: dict[Pool, int] | None = None,
) -> dict[Pool, list[MonthPosition]]:
    """Installed, allocatable and committed card-hours per pool and month."""
    table: dict[Pool, list[MonthPosition]] = defaultdict(lambda: [MonthPosition(m) for m in months])
    grouped: dict[tuple[str, str, date, date | None], int] = defaultdict(int)
    for item in supply:
        grouped[(item.gpu_model, item.partition, item.installed_on, item.retired_on)] += item.cards
    for (model, partition, installed_on, retired_on), cards in grouped.items():
        row = table[(model, partition)]
        for index, month in enumerate(months):
            row[index].installed += cards * 24 * _overlap_days(month, installed_on, retired_on)
    for need in demand:
        pool = (need.gpu_model, need.partition)
        row = table[pool]
        if need.gpu_hours is not None and need.cards is None:
            for index, share in _pooled_shares(need, months).items():
                row[index].committed += share
                row[index].by_demand[need.key] = share
            continue
        size = (node_size or {}).get(pool, NODE_SIZE)
        cards = need.footprint(size)
        for index, month in enumerate(months):
            days = _overlap_days(month, need.start, need.end)
            if days:
                row[index].committed += cards * 24 * days
                row[index].by_demand[need.key] = cards * 24 * days
    for row in table.values():
        for position in row:
            position.allocatable = position.installed * (10_000 - headroom_bp) // 10_000
    return dict(table)


@dataclass(frozen=True)
class Shortfall:
    month: str
    gpu_model: str
    partition: str
    cards: int


def shortfalls(table: dict[Pool, list[MonthPosition]], new: Demand) -> list[Shortfall]:
    """Months of ``new``'s period in which its pool is over-committed (``new`` included)."""
    found = []
    for position in table.get((new.gpu_model, new.partition), []):
        if new.key in position.by_demand and position.shortfall_cards() > 0:
            found.append(
                Shortfall(
                    position.month.label, new.gpu_model, new.partition, position.shortfall_cards()
                )
            )
    return found
