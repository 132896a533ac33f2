"""The ASGI application factory. Nothing happens at import time."""

from __future__ import annotations

import html

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from aisc import __version__
from aisc.context import Clock, utcnow
from aisc.db.engine import engine_from_settings, make_sessionmaker, transaction
from aisc.errors import AiscError
from aisc.http import ERROR_RESPONSES, validation_body
from aisc.settings import Settings

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, clock: Clock = utcnow
) -> FastAPI:
    """Build the application for ``settings`` (or an already-made ``engine``)."""
    settings = settings or Settings()
    engine = engine or engine_from_settings(settings)
    app = FastAPI(
        title="aisc",
        version=__version__,
        description="Operating platform of a public AI supercomputing centre and its subsidy "
        "scheme.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.clock = clock

    @app.exception_handler(AiscError)
    async def _aisc_error(_request: Request, exc: AiscError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.to_dict()})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        body = {"code": codes.get(exc.status_code, "error"), "message": str(exc.detail)}
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": body},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=validation_body(exc.errors()))

    from aisc.accounts.api import router as accounts_router
    from aisc.allocations.api import router as allocations_router
    from aisc.applications.api import router as applications_router
    from aisc.audit.api import router as audit_router
    from aisc.awards.api import router as awards_router
    from aisc.cluster.api import router as cluster_router
    from aisc.ledger.api import router as ledger_router
    from aisc.pricing.api import router as pricing_router
    from aisc.review.api import router as review_router
    from aisc.scheme.api import router as scheme_router

    for router in (
        scheme_router,
        accounts_router,
        cluster_router,
        pricing_router,
        applications_router,
        review_router,
        awards_router,
        allocations_router,
        ledger_router,
        audit_router,
    ):
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return _home_page(app)

    return app


def _home_page(app: FastAPI) -> str:
    """A plain landing page until the portal arrives: the scheme's headline figures."""
    from aisc.errors import NotFound
    from aisc.reports.stats import scheme_stats
    from aisc.scheme.service import get_scheme

    with transaction(app.state.sessionmaker) as db:
        try:
            scheme = get_scheme(db)
            stats = scheme_stats(db, today=app.state.clock().date())
        except NotFound:
            return "<!doctype html><title>aisc</title><p>No scheme is set up yet.</p>"
    rate = f"{stats.average_subsidy_rate * 100:.1f}%" if stats.average_subsidy_rate else "n/a"
    rows = [
        ("Applications received", stats.applications_received),
        ("Approved", stats.approved),
        ("Rejected", stats.rejected),
        ("Pending", stats.pending),
        ("Subsidy committed", f"HK${stats.committed_hkd:,}"),
        ("Fund available", f"HK${stats.available_hkd:,}"),
        ("Average subsidy rate (by list value)", rate),
        (
            "GPUs allocated this month (committed / installed)",
            f"{stats.allocated_pct_now}%" if stats.allocated_pct_now is not None else "n/a",
        ),
    ]
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(scheme.name)} - aisc</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>"
        f"<h1>{html.escape(scheme.name)}</h1><table>{body}</table>"
        f"<p><a href='{API_PREFIX}/docs'>API documentation</a> · "
        f"<a href='{API_PREFIX}/scheme/stats'>statistics (JSON)</a></p></body></html>"
    )
