from __future__ import annotations

from fastapi import APIRouter, status

from aisc.http import Uow, requires
from aisc.reports.stats import SchemeStats, scheme_stats
from aisc.schemas import Day
from aisc.scheme import service
from aisc.scheme.schemas import (
    CategoriesReplace,
    CriteriaReplace,
    SchemeCreate,
    SchemeRead,
    SchemeUpdate,
)

router = APIRouter(prefix="/scheme", tags=["scheme"])


@router.get("", response_model=SchemeRead, dependencies=[requires("scheme.read")])
def get_scheme(uow: Uow) -> SchemeRead:
    with uow() as ctx:
        return service.read_scheme(ctx, service.get_scheme(ctx))


@router.post(
    "",
    response_model=SchemeRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("scheme.manage")],
)
def init_scheme(data: SchemeCreate, uow: Uow) -> SchemeRead:
    with uow() as ctx:
        return service.read_scheme(ctx, service.init_scheme(ctx, data=data))


@router.patch("", response_model=SchemeRead, dependencies=[requires("scheme.manage")])
def update_scheme(data: SchemeUpdate, uow: Uow) -> SchemeRead:
    with uow() as ctx:
        return service.read_scheme(ctx, service.update_scheme(ctx, data=data))


@router.put("/criteria", response_model=SchemeRead, dependencies=[requires("scheme.manage")])
def replace_criteria(data: CriteriaReplace, uow: Uow) -> SchemeRead:
    with uow() as ctx:
        return service.read_scheme(ctx, service.replace_criteria(ctx, data=data))


@router.put("/categories", response_model=SchemeRead, dependencies=[requires("scheme.manage")])
def replace_categories(data: CategoriesReplace, uow: Uow) -> SchemeRead:
    with uow() as ctx:
        return service.read_scheme(ctx, service.replace_categories(ctx, data=data))


@router.get("/stats", response_model=SchemeStats, dependencies=[requires("scheme.read")])
def stats(uow: Uow, as_of: Day | None = None) -> SchemeStats:
    with uow() as ctx:
        return scheme_stats(ctx, today=as_of or ctx.now.date())
