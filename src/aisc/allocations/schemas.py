from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from aisc.allocations.models import AllocationState
from aisc.applications.models import RequestKind
from aisc.schemas import BigCount, Count, Day, Id, ReadSchema, Schema


class CapacityOverride(Schema):
    """An operator's recorded decision to commit beyond the capacity check."""

    by_id: Id | None = Field(
        default=None, description="the operator; a signed-in person may only name themself"
    )
    justification: str = Field(min_length=1, max_length=5000)


class AllocationCreate(Schema):
    award_id: Id
    partition: str | None = Field(default=None, max_length=50)
    gpu_cards: Count | None = None
    gpu_hours: BigCount | None = None
    start_date: Day | None = None
    end_date: Day | None = None
    capacity_override: CapacityOverride | None = None


class AllocationRead(ReadSchema):
    id: int
    award_id: int
    kind: RequestKind
    gpu_model: str
    partition: str
    gpu_cards: int | None
    gpu_hours: int | None
    start_date: date
    end_date: date
    state: AllocationState
    nodes: list[str]
    created_at: datetime


class CapacityMonth(ReadSchema):
    month: str
    installed_cards: Decimal
    allocatable_cards: Decimal
    committed_before: Decimal
    committed_after: Decimal
    headroom_before: Decimal
    headroom_after: Decimal
    shortfall_cards: int


class ShortfallRead(ReadSchema):
    month: str
    gpu_model: str
    partition: str
    cards: int


class ForecastMonth(ReadSchema):
    month: str
    busy_pct_before: float
    busy_pct_after: float
    wait_mean_s_before: float
    wait_mean_s_after: float
    wait_p90_s_before: float
    wait_p90_s_after: float
    overloaded_after: bool


class ForecastAssumptions(ReadSchema):
    profile: str
    realisation: float
    simulated_days_per_load: int
    scaled_to_at_most_gpus: int
    policy: str


class Forecast(ReadSchema):
    """Queueing and busy % predicted by replaying a workload model through the scheduler."""

    assumptions: ForecastAssumptions
    months: list[ForecastMonth]


class CapacityCheck(ReadSchema):
    """Month-by-month effect of one more commitment on its GPU model and partition."""

    subject: str
    gpu_model: str
    partition: str
    fits: bool
    shortfalls: list[ShortfallRead]
    months: list[CapacityMonth]
    forecast: Forecast | None = None


class AllocatedMonth(ReadSchema):
    month: str
    installed_cards: Decimal
    allocatable_cards: Decimal
    committed_cards: Decimal
    allocated_pct: Decimal | None  # committed / installed, the "allocated % of available"


class Utilisation(ReadSchema):
    headroom_pct: Decimal
    now: AllocatedMonth | None
    months: list[AllocatedMonth]
