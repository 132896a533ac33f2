from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from aisc.applications.models import RequestKind
from aisc.awards.models import Award, AwardStatus
from aisc.ledger.service import AwardBalance
from aisc.money import bp_to_rate, cents_to_hkd
from aisc.schemas import ReadSchema


class AwardRead(ReadSchema):
    id: int
    application_id: int
    organisation_id: int
    title: str
    status: AwardStatus
    kind: RequestKind
    gpu_model: str
    gpu_cards: int | None
    gpu_hours: int | None
    start_date: date
    end_date: date
    months: int
    subsidy_rate: Decimal
    list_value_hkd: Decimal
    subsidy_cap_hkd: Decimal
    committed_hkd: Decimal
    disbursed_hkd: Decimal
    released_hkd: Decimal
    remaining_hkd: Decimal
    price_list_id: int
    created_at: datetime

    @classmethod
    def of(cls, award: Award, balance: AwardBalance) -> AwardRead:
        return cls(
            id=award.id,
            application_id=award.application_id,
            organisation_id=award.organisation_id,
            title=award.title,
            status=award.status,
            kind=award.kind,
            gpu_model=award.gpu_model_code,
            gpu_cards=award.gpu_cards,
            gpu_hours=award.gpu_hours,
            start_date=award.start_date,
            end_date=award.end_date,
            months=award.months,
            subsidy_rate=bp_to_rate(award.subsidy_rate_bp),
            list_value_hkd=cents_to_hkd(award.list_value_cents),
            subsidy_cap_hkd=cents_to_hkd(award.subsidy_cap_cents),
            committed_hkd=cents_to_hkd(balance.committed),
            disbursed_hkd=cents_to_hkd(balance.net_disbursed),
            released_hkd=cents_to_hkd(balance.released),
            remaining_hkd=cents_to_hkd(balance.remaining),
            price_list_id=award.price_list_id,
            created_at=award.created_at,
        )


class AwardBurn(ReadSchema):
    """How much of an award is used against an even burn over its period (percent, GPU-hours)."""

    used_pct: Decimal
    planned_pct: Decimal
    used_gpu_hours: Decimal
    total_gpu_hours: Decimal
