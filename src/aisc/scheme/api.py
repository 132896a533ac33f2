from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import PlainTextResponse

from aisc.http import Uow, requires
from aisc.reports import opendata
from aisc.reports.opendata import OpenData
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


@router.get("/open-data", response_model=OpenData, dependencies=[requires("scheme.read")])
def open_data(uow: Uow, as_of: Day | None = None) -> OpenData:
    """The published figures (aggregates only), as of a day and month by month."""
    with uow() as ctx:
        return opendata.open_data(ctx, today=as_of or ctx.now.date())


@router.get(
    "/open-data/monthly.csv",
    response_class=PlainTextResponse,
    dependencies=[requires("scheme.read")],
)
def open_data_monthly(uow: Uow, as_of: Day | None = None) -> PlainTextResponse:
    with uow() as ctx:
        data = opendata.open_data(ctx, today=as_of or ctx.now.date())
    return PlainTextResponse(opendata.monthly_csv(data), media_type="text/csv")


@router.get(
    "/open-data/groups.csv",
    response_class=PlainTextResponse,
    dependencies=[requires("scheme.read")],
)
def open_data_groups(uow: Uow, as_of: Day | None = None) -> PlainTextResponse:
    with uow() as ctx:
        data = opendata.open_data(ctx, today=as_of or ctx.now.date())
    return PlainTextResponse(opendata.groups_csv(data), media_type="text/csv")


@router.get(
    "/annual-report/{year}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    dependencies=[requires("earmark.read")],  # the service checks scheme.read as well
)
def annual_report(year: Annotated[int, Path(ge=2000, le=9999)], uow: Uow) -> Response:
    """The committee's annual report for ``year``: a bilingual PDF (as ``aisc report annual``)."""
    from aisc.reports.annual import annual_report as render

    with uow() as ctx:
        pdf = render(ctx, year=year)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="annual-report-{year}.pdf"'},
    )
