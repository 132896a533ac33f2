from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from aisc.accounts.models import OrgCategory
from aisc.schemas import Code, Day, Name, PositiveHKD, Rate, ReadSchema, Schema

OverAwardPolicy = Literal["refuse", "full_price"]


class CriterionIn(Schema):
    code: Code
    name: str = Field(min_length=3, max_length=300)
    weight: int = Field(ge=1, le=100)


class EarmarkIn(Schema):
    label: Name
    amount_hkd: PositiveHKD


DEFAULT_CRITERIA = [
    CriterionIn(
        code="alignment", name="Alignment with Hong Kong's I&T and AI development needs", weight=25
    ),
    CriterionIn(
        code="compute_reasonableness",
        name="Reasonableness of the project's computing-power request",
        weight=20,
    ),
    CriterionIn(code="capability", name="Technical and financial capability", weight=30),
    CriterionIn(code="impact", name="Expected deliverables and impact for Hong Kong", weight=25),
]
ELIGIBLE_BY_DEFAULT = [
    OrgCategory.UNIVERSITY,
    OrgCategory.RESEARCH_INSTITUTE,
    OrgCategory.AI_STARTUP,
    OrgCategory.ENTERPRISE,
    OrgCategory.PUBLIC_BODY,
]


class SchemeCreate(Schema):
    """Defaults reproduce the AI Subsidy Scheme as published."""

    name: Name = "AI Subsidy Scheme"
    start_date: Day = date(2024, 10, 7)
    end_date: Day = date(2027, 10, 6)
    total_fund_hkd: PositiveHKD = Decimal("3000000000")
    earmarks: list[EarmarkIn] = Field(
        default_factory=lambda: [EarmarkIn(label="security", amount_hkd=Decimal("100000000"))]
    )
    default_rate: Rate = Decimal("0.70")
    exceptional_max_rate: Rate = Decimal("0.90")
    review_quorum: int = Field(default=2, ge=1, le=20)
    capacity_headroom: Rate = Field(
        default=Decimal("0.05"),
        description="share of installed GPUs kept back from awards (maintenance, sandbox, PoC)",
    )
    over_award_policy: OverAwardPolicy = Field(
        default="refuse",
        description="usage beyond an award: refuse new jobs, or charge it at the full list price",
    )
    criteria: list[CriterionIn] = Field(default_factory=lambda: list(DEFAULT_CRITERIA))
    eligible_categories: list[OrgCategory] = Field(
        default_factory=lambda: list(ELIGIBLE_BY_DEFAULT)
    )
    is_demo: bool = False

    @model_validator(mode="after")
    def _check(self) -> SchemeCreate:
        check_dates(self.start_date, self.end_date)
        check_rates(self.default_rate, self.exceptional_max_rate)
        check_criteria(self.criteria)
        return self


class SchemeUpdate(Schema):
    name: Name | None = None
    start_date: Day | None = None
    end_date: Day | None = None
    default_rate: Rate | None = None
    exceptional_max_rate: Rate | None = None
    review_quorum: int | None = Field(default=None, ge=1, le=20)
    capacity_headroom: Rate | None = None
    over_award_policy: OverAwardPolicy | None = None
    report_months: str | None = Field(
        default=None,
        pattern=r"^\s*\d{1,3}(\s*,\s*\d{1,3})*\s*$",
        description="months after an award's start when progress reports fall due, e.g. 1,3,9",
    )
    final_report_days: int | None = Field(default=None, ge=0, le=366)
    report_reminder_days: int | None = Field(default=None, ge=0, le=90)
    report_grace_days: int | None = Field(default=None, ge=0, le=366)


class CriteriaReplace(Schema):
    criteria: list[CriterionIn]

    @model_validator(mode="after")
    def _check(self) -> CriteriaReplace:
        check_criteria(self.criteria)
        return self


class CategoriesReplace(Schema):
    eligible_categories: list[OrgCategory]


MAX_SCHEME_DAYS = 20 * 366  # month-by-month reports and plots stay bounded


def check_dates(start: date, end: date) -> None:
    if end <= start:
        raise ValueError("end_date must be after start_date")
    if (end - start).days > MAX_SCHEME_DAYS:
        raise ValueError("a scheme runs for at most 20 years (end_date - start_date)")


def check_rates(default: Decimal, exceptional: Decimal) -> None:
    if exceptional < default:
        raise ValueError("exceptional_max_rate must be at least default_rate")


def check_criteria(criteria: list[CriterionIn]) -> None:
    if not criteria:
        raise ValueError("criteria: at least one criterion is required")
    codes = [c.code for c in criteria]
    if len(set(codes)) != len(codes):
        raise ValueError("criteria: codes must be unique")
    total = sum(c.weight for c in criteria)
    if total != 100:
        raise ValueError(f"criteria: weights must sum to 100, not {total}")


class CriterionRead(ReadSchema):
    code: str
    name: str
    weight: int


class SchemeRead(ReadSchema):
    id: int
    name: str
    start_date: date
    end_date: date
    default_rate: Decimal
    exceptional_max_rate: Decimal
    review_quorum: int
    capacity_headroom: Decimal
    over_award_policy: str
    report_months: str
    final_report_days: int
    report_reminder_days: int
    report_grace_days: int
    criteria: list[CriterionRead]
    eligible_categories: list[OrgCategory]
    total_fund_hkd: Decimal
    earmarked_hkd: Decimal
    is_demo: bool
    created_at: datetime
