from __future__ import annotations

from fastapi import APIRouter, status

from aisc.http import Uow, requires
from aisc.pricing import service
from aisc.pricing.schemas import PriceListCreate, PriceListRead
from aisc.schemas import Day

router = APIRouter(prefix="/price-lists", tags=["pricing"])


@router.get("", response_model=list[PriceListRead], dependencies=[requires("price.read")])
def list_price_lists(uow: Uow) -> list[PriceListRead]:
    with uow() as ctx:
        return [PriceListRead.of(p) for p in service.list_price_lists(ctx)]


@router.post(
    "",
    response_model=PriceListRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("price.manage")],
)
def create_price_list(data: PriceListCreate, uow: Uow) -> PriceListRead:
    with uow() as ctx:
        return PriceListRead.of(service.create_price_list(ctx, data=data))


@router.get("/in-force", response_model=PriceListRead, dependencies=[requires("price.read")])
def in_force(uow: Uow, on: Day | None = None) -> PriceListRead:
    with uow() as ctx:
        return PriceListRead.of(service.price_list_in_force(ctx, on=on or ctx.now.date()))


@router.get("/{version}", response_model=PriceListRead, dependencies=[requires("price.read")])
def get_price_list(version: str, uow: Uow) -> PriceListRead:
    with uow() as ctx:
        return PriceListRead.of(service.get_price_list(ctx, version=version))
