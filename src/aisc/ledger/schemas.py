from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from aisc.ledger.models import EntryKind, LedgerEntry
from aisc.ledger.service import Balances
from aisc.money import cents_to_hkd
from aisc.schemas import Id, Name, PositiveHKD, ReadSchema, Schema


class AwardAmountIn(Schema):
    award_id: Id
    amount_hkd: PositiveHKD
    memo: str = Field(default="", max_length=2000)


class EarmarkCreate(Schema):
    label: Name
    amount_hkd: PositiveHKD
    memo: str = Field(default="", max_length=2000)


class BudgetCreate(Schema):
    amount_hkd: PositiveHKD
    label: Name = "budget"
    memo: str = Field(default="", max_length=2000)


class EntryRead(ReadSchema):
    id: int
    kind: EntryKind
    amount_hkd: Decimal
    award_id: int | None
    label: str
    memo: str
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, entry: LedgerEntry) -> EntryRead:
        return cls(
            id=entry.id,
            kind=entry.kind,
            amount_hkd=cents_to_hkd(entry.amount_cents),
            award_id=entry.award_id,
            label=entry.label,
            memo=entry.memo,
            created_at=entry.created_at,
            created_by=entry.created_by,
        )


class BalancesRead(ReadSchema):
    total_fund_hkd: Decimal
    earmarked_hkd: Decimal
    committed_hkd: Decimal
    released_hkd: Decimal
    disbursed_hkd: Decimal
    net_committed_hkd: Decimal
    outstanding_hkd: Decimal
    available_hkd: Decimal

    @classmethod
    def of(cls, b: Balances) -> BalancesRead:
        return cls(
            total_fund_hkd=cents_to_hkd(b.budget),
            earmarked_hkd=cents_to_hkd(b.earmarked),
            committed_hkd=cents_to_hkd(b.committed),
            released_hkd=cents_to_hkd(b.released),
            disbursed_hkd=cents_to_hkd(b.disbursed),
            net_committed_hkd=cents_to_hkd(b.net_committed),
            outstanding_hkd=cents_to_hkd(b.outstanding),
            available_hkd=cents_to_hkd(b.available),
        )
