from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aisc.applications.models import RequestKind
from aisc.awards.models import Award, AwardChange, AwardStatus, ChangeKind
from aisc.ledger.service import AwardBalance
from aisc.money import bp_to_rate, cents_to_hkd
from aisc.schemas import ReadSchema


class AwardPhase(enum.StrEnum):
    """An award's status as read: its recorded status, except that an award still open
    (active or suspended) once its period is over reads ``ended`` (awaiting its final billing
    and close-out, which the worker's housekeeping does), never ``active``."""

    OFFERED = "offered"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"
    COMPLETED = "completed"
    TERMINATED = "terminated"


def phase_of(award: Award, today: date) -> AwardPhase:
    if award.status in (AwardStatus.ACTIVE, AwardStatus.SUSPENDED) and today >= award.end_date:
        return AwardPhase.ENDED
    return AwardPhase(award.status.value)


class AwardRead(ReadSchema):
    id: int
    application_id: int
    organisation_id: int
    title: str
    status: AwardPhase
    recorded_status: AwardStatus
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
    def of(cls, award: Award, balance: AwardBalance, today: date) -> AwardRead:
        return cls(
            id=award.id,
            application_id=award.application_id,
            organisation_id=award.organisation_id,
            title=award.title,
            status=phase_of(award, today),
            recorded_status=award.status,
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


class AwardChangeRead(ReadSchema):
    """One change to an award: the terms before and after, and the money it moved."""

    id: int
    award_id: int
    kind: ChangeKind
    effective_date: date
    before: dict[str, Any]
    after: dict[str, Any]
    committed_hkd: Decimal
    released_hkd: Decimal
    reason: str
    decided_by: str
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, change: AwardChange) -> AwardChangeRead:
        return cls(
            id=change.id,
            award_id=change.award_id,
            kind=change.kind,
            effective_date=change.effective_date,
            before=change.before,
            after=change.after,
            committed_hkd=cents_to_hkd(change.committed_cents),
            released_hkd=cents_to_hkd(change.released_cents),
            reason=change.reason,
            decided_by=change.decided_by,
            created_at=change.created_at,
            created_by=change.created_by,
        )
