from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from aisc.money import cents_to_hkd
from aisc.pricing.models import PriceList
from aisc.schemas import Day, PositiveHKD, ReadSchema, Schema


class PriceItemIn(Schema):
    gpu_model: str = Field(min_length=1, max_length=50)
    card_month_hkd: PositiveHKD
    gpu_hour_hkd: PositiveHKD


class PriceListCreate(Schema):
    version: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    effective_from: Day
    note: str = Field(default="", max_length=2000)
    items: list[PriceItemIn] = Field(min_length=1)


class PriceItemRead(ReadSchema):
    gpu_model: str
    card_month_hkd: Decimal
    gpu_hour_hkd: Decimal


class PriceListRead(ReadSchema):
    id: int
    version: str
    effective_from: date
    note: str
    created_at: datetime
    items: list[PriceItemRead]

    @classmethod
    def of(cls, price_list: PriceList) -> PriceListRead:
        return cls(
            id=price_list.id,
            version=price_list.version,
            effective_from=price_list.effective_from,
            note=price_list.note,
            created_at=price_list.created_at,
            items=[
                PriceItemRead(
                    gpu_model=i.gpu_model_code,
                    card_month_hkd=cents_to_hkd(i.card_month_cents),
                    gpu_hour_hkd=cents_to_hkd(i.gpu_hour_cents),
                )
                for i in price_list.items
            ],
        )


class Estimate(ReadSchema):
    """What a compute request costs at list prices, the subsidy at the scheme's default rate
    and the applicant's own share (integer cents; the committee decides the real grant)."""

    price_list_version: str
    list_value_cents: int
    rate_bp: int
    subsidy_cents: int
    own_share_cents: int
