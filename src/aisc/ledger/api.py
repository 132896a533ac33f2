from __future__ import annotations

from fastapi import APIRouter, status

from aisc.http import IdQuery, PagingDep, Uow, requires
from aisc.ledger import service
from aisc.ledger.models import EntryKind
from aisc.ledger.schemas import AwardAmountIn, BalancesRead, BudgetCreate, EarmarkCreate, EntryRead
from aisc.money import hkd_to_cents

router = APIRouter(prefix="/ledger", tags=["ledger"])


@router.get("/balance", response_model=BalancesRead, dependencies=[requires("ledger.read")])
def balance(uow: Uow) -> BalancesRead:
    with uow() as ctx:
        return BalancesRead.of(service.balances(ctx))


@router.get("/entries", response_model=list[EntryRead], dependencies=[requires("ledger.read")])
def entries(
    uow: Uow, page: PagingDep, kind: EntryKind | None = None, award_id: IdQuery = None
) -> list[EntryRead]:
    with uow() as ctx:
        rows = service.list_entries(
            ctx,
            kind=kind,
            award_id=award_id,
            limit=page.limit,
            offset=page.offset,
        )
        return [EntryRead.of(e) for e in rows]


@router.post(
    "/budget",
    response_model=EntryRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("ledger.write")],
)
def add_budget(data: BudgetCreate, uow: Uow) -> EntryRead:
    with uow() as ctx:
        return EntryRead.of(
            service.add_budget(
                ctx,
                label=data.label,
                memo=data.memo,
                amount_cents=hkd_to_cents(data.amount_hkd, field="amount_hkd"),
            )
        )


@router.post(
    "/earmarks",
    response_model=EntryRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("ledger.write")],
)
def add_earmark(data: EarmarkCreate, uow: Uow) -> EntryRead:
    with uow() as ctx:
        return EntryRead.of(
            service.add_earmark(
                ctx,
                label=data.label,
                memo=data.memo,
                amount_cents=hkd_to_cents(data.amount_hkd, field="amount_hkd"),
            )
        )


@router.post(
    "/releases",
    response_model=EntryRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("ledger.write")],
)
def release(data: AwardAmountIn, uow: Uow) -> EntryRead:
    with uow() as ctx:
        return EntryRead.of(
            service.release(
                ctx,
                award_id=data.award_id,
                memo=data.memo,
                amount_cents=hkd_to_cents(data.amount_hkd, field="amount_hkd"),
            )
        )


@router.post(
    "/disbursements",
    response_model=EntryRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("ledger.write")],
)
def disburse(data: AwardAmountIn, uow: Uow) -> EntryRead:
    with uow() as ctx:
        return EntryRead.of(
            service.disburse(
                ctx,
                award_id=data.award_id,
                memo=data.memo,
                amount_cents=hkd_to_cents(data.amount_hkd, field="amount_hkd"),
            )
        )
