from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from aisc.allocations.schemas import CapacityOverride
from aisc.applications.models import RequestKind
from aisc.progress.schemas import ConditionIn
from aisc.review.models import DecisionOutcome
from aisc.schemas import BigCount, Count, Day, Id, LongText, Rate, ReadSchema, Schema


class AssignmentCreate(Schema):
    reviewer_id: Id


class DeclarationIn(Schema):
    conflict: bool
    note: str = Field(default="", max_length=2000)


class ScoreIn(Schema):
    score: int = Field(ge=0, le=10)
    comment: str = Field(default="", max_length=5000)


class ScoresIn(Schema):
    scores: dict[str, ScoreIn] = Field(description="criterion code -> score (0-10) and comment")
    comment: LongText = ""


class ScoreRead(ReadSchema):
    criterion_code: str
    weight: int
    score: int
    comment: str


class ReviewRead(ReadSchema):
    id: int
    application_id: int
    reviewer_id: int
    assigned_at: datetime
    conflict: bool | None
    conflict_note: str
    declared_at: datetime | None
    completed_at: datetime | None
    comment: str
    scores: list[ScoreRead]
    weighted_total: Decimal | None


class ReviewSummary(ReadSchema):
    application_id: int
    quorum: int
    completed_reviews: int
    weighted_total: Decimal | None
    reviews: list[ReviewRead]


class Reason(Schema):
    code: str = Field(min_length=1, max_length=50, description="criterion code or screening rule")
    text: str = Field(min_length=1, max_length=2000)


class Grant(Schema):
    """What the committee grants; omitted fields default to what was requested."""

    kind: RequestKind | None = None
    gpu_model: str | None = Field(default=None, max_length=50)
    gpu_cards: Count | None = None
    gpu_hours: BigCount | None = None
    months: Count | None = Field(default=None, le=120)
    start: Day | None = None
    partition: str | None = Field(
        default=None,
        max_length=50,
        description="partition to allocate on (default: the one with most cards of the model)",
    )


class DecisionCreate(Schema):
    outcome: DecisionOutcome
    decided_by_id: Id | None = Field(
        default=None, description="who decides; a signed-in person may only name themself"
    )
    reasons: list[Reason] = Field(default_factory=list, max_length=50)
    conditions: list[str | ConditionIn] = Field(
        default_factory=list,
        max_length=50,
        description="each a text, or an item with a due date that may hold the compute back",
    )
    report_months: list[int] | None = Field(
        default=None,
        max_length=40,
        description="months after the start when progress reports fall due (default: the "
        "scheme's), e.g. [3, 6, 9] for quarterly",
    )
    grant: Grant = Field(default_factory=Grant)
    subsidy_rate: Rate | None = None
    exceptional_justification: str = Field(default="", max_length=5000)
    capacity_override: CapacityOverride | None = None


class DecisionRead(ReadSchema):
    id: int
    application_id: int
    outcome: DecisionOutcome
    reasons: list[Reason]
    conditions: list[str]
    decided_by_id: int
    decided_at: datetime
    granted_kind: RequestKind | None
    granted_gpu_model: str | None
    granted_cards: int | None
    granted_gpu_hours: int | None
    granted_months: int | None
    granted_start: date | None
    granted_partition: str | None
    capacity_override_by_id: int | None
    capacity_override_justification: str
    subsidy_rate: Decimal | None
    exceptional_justification: str
    price_list_version: str | None
    list_value_hkd: Decimal | None
    subsidy_cap_hkd: Decimal | None
    award_id: int | None
