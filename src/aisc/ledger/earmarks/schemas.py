from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from aisc.ledger.earmarks.service import EarmarkPosition
from aisc.ledger.models import EarmarkSpend, SpendKind
from aisc.money import cents_to_hkd
from aisc.schemas import Day, Id, Name, PositiveHKD, ReadSchema, Schema


class EarmarkSpendCreate(Schema):
    earmark: Name = Field(description="the earmark's label, e.g. security")
    vendor: Name
    purpose: str = Field(min_length=1, max_length=2000)
    spent_on: Day
    amount_hkd: PositiveHKD
    evidence_ref: str = Field(
        default="", max_length=255, description="invoice number or document name"
    )
    evidence_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class EarmarkReversalCreate(Schema):
    spend_id: Id
    reason: str = Field(min_length=1, max_length=2000)


class EarmarkSpendRead(ReadSchema):
    id: int
    earmark: str
    kind: SpendKind
    vendor: str
    purpose: str
    spent_on: date
    amount_hkd: Decimal
    evidence_ref: str
    evidence_sha256: str | None
    reverses_id: int | None
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, row: EarmarkSpend) -> EarmarkSpendRead:
        return cls(
            id=row.id,
            earmark=row.earmark,
            kind=row.kind,
            vendor=row.vendor,
            purpose=row.purpose,
            spent_on=row.spent_on,
            amount_hkd=cents_to_hkd(row.amount_cents),
            evidence_ref=row.evidence_ref,
            evidence_sha256=row.evidence_sha256,
            reverses_id=row.reverses_id,
            created_at=row.created_at,
            created_by=row.created_by,
        )


class EarmarkRead(ReadSchema):
    earmark: str
    earmarked_hkd: Decimal
    spent_hkd: Decimal
    remaining_hkd: Decimal

    @classmethod
    def of(cls, p: EarmarkPosition) -> EarmarkRead:
        return cls(
            earmark=p.earmark,
            earmarked_hkd=cents_to_hkd(p.earmarked),
            spent_hkd=cents_to_hkd(p.spent),
            remaining_hkd=cents_to_hkd(p.remaining),
        )
