from __future__ import annotations

from fastapi import APIRouter, status

from aisc.http import Uow, requires
from aisc.ledger.earmarks import service
from aisc.ledger.earmarks.schemas import (
    EarmarkRead,
    EarmarkReversalCreate,
    EarmarkSpendCreate,
    EarmarkSpendRead,
)
from aisc.money import hkd_to_cents

router = APIRouter(prefix="/ledger", tags=["ledger"])


@router.get(
    "/earmark-positions", response_model=list[EarmarkRead], dependencies=[requires("earmark.read")]
)
def positions(uow: Uow) -> list[EarmarkRead]:
    with uow() as ctx:
        return [EarmarkRead.of(p) for p in service.earmarks(ctx)]


@router.get(
    "/earmark-spends",
    response_model=list[EarmarkSpendRead],
    dependencies=[requires("earmark.read")],
)
def spends(uow: Uow, earmark: str | None = None) -> list[EarmarkSpendRead]:
    with uow() as ctx:
        return [EarmarkSpendRead.of(s) for s in service.list_spends(ctx, earmark=earmark)]


@router.post(
    "/earmark-spends",
    response_model=EarmarkSpendRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("earmark.spend")],
)
def spend(data: EarmarkSpendCreate, uow: Uow) -> EarmarkSpendRead:
    with uow() as ctx:
        return EarmarkSpendRead.of(
            service.spend(
                ctx,
                earmark=data.earmark,
                vendor=data.vendor,
                purpose=data.purpose,
                spent_on=data.spent_on,
                amount_cents=hkd_to_cents(data.amount_hkd, field="amount_hkd"),
                evidence_ref=data.evidence_ref,
                evidence_sha256=data.evidence_sha256,
            )
        )


@router.post(
    "/earmark-reversals",
    response_model=EarmarkSpendRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("earmark.spend")],
)
def reverse(data: EarmarkReversalCreate, uow: Uow) -> EarmarkSpendRead:
    with uow() as ctx:
        return EarmarkSpendRead.of(service.reverse(ctx, spend_id=data.spend_id, reason=data.reason))
