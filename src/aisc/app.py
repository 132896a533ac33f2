"""The ASGI application factory. Nothing happens at import time."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from aisc import __version__
from aisc.context import Clock, utcnow
from aisc.db.engine import engine_from_settings, make_sessionmaker
from aisc.deployment import Deployment
from aisc.errors import AiscError, RateLimited
from aisc.http import ERROR_RESPONSES, requires, validation_body
from aisc.metrics import Metrics, register_platform_figures
from aisc.middleware import (
    SECURITY_HEADERS,
    BodyLimit,
    RequestTiming,
    SecurityHeaders,
)
from aisc.ratelimit import HashSlots, RateLimiter, RateLimitMiddleware
from aisc.settings import Settings
from aisc.worker import Worker

API_PREFIX = "/api/v1"
DOCS_ASSETS = f"{API_PREFIX}/docs-assets"
# Where files are uploaded, bodies may be larger (the inventory's content is up to 20 MB).
UPLOAD_PATHS = (f"{API_PREFIX}/cluster/import",)


# Routes limited per client address before routing (``aisc.ratelimit``): what an anonymous
# caller can make costly. The portal's sign-in form checks the same "sign_in" budget itself, so
# that a refusal re-renders the form.
THROTTLED = {
    ("POST", f"{API_PREFIX}/auth/login"): "sign_in",
    ("GET", f"{API_PREFIX}/auth/oidc/callback"): "sign_in",
    ("GET", "/estimate"): "costly",
}


SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:code|state|token|access_token|id_token|password|secret|session)=)[^&\s]*"
)


class RedactSecrets(logging.Filter):
    """Keep one-time codes, tokens and passwords in query strings out of the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_PARAMS.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = SECRET_PARAMS.sub(r"\1[redacted]", record.msg)
        return True


def _redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())


def _swagger_assets() -> str:
    """Swagger UI's files as shipped inside the fastapi-offline package."""
    import fastapi_offline

    return str(Path(fastapi_offline.__file__).parent / "static")


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock = utcnow,
    with_worker: bool = False,
) -> FastAPI:
    """Build the application for ``settings`` (or an already-made ``engine``).

    ``with_worker`` runs the deployment's worker (``aisc.worker``: the job loop and the outbox's
    delivery) in background threads for the life of the server: the embedded default
    (``aisc serve --with-worker``, ``aisc demo``). Without it the server only answers requests
    and a separate ``aisc worker`` runs the loops. Tests drive the worker themselves
    (``app.state.worker``: its ``runner.tick()`` and ``deliver()``).
    """
    settings = settings or Settings()
    engine = engine or engine_from_settings(settings)
    deployment = Deployment.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _redact_access_log()  # the server has configured its loggers by now
        if with_worker:
            app.state.worker.start()
        try:
            yield
        finally:
            if with_worker:
                app.state.worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="aisc",
        version=__version__,
        description="Operating platform of a public AI supercomputing centre and its subsidy "
        "scheme.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served below from packaged assets: nothing is loaded from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.clock = clock
    app.state.deployment = deployment
    # Built in every server (no thread runs until started) so that tests can drive its loops.
    app.state.worker = Worker(settings, engine=engine, deployment=deployment, clock=clock)
    app.state.rate_limiter = RateLimiter(
        {"sign_in": settings.sign_in_per_minute, "costly": settings.costly_per_minute}
    )
    app.state.hash_slots = HashSlots(settings.effective_hash_concurrency)
    # This process's job-loop figures only where this process runs the loop.
    app.state.metrics = Metrics(
        app.state.sessionmaker, app.state.worker.runner if with_worker else None
    )
    register_platform_figures(app.state.metrics.registry, app.state.sessionmaker, clock)

    app.mount(DOCS_ASSETS, StaticFiles(directory=_swagger_assets()), name="docs-assets")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="aisc API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url="data:,",
        )
        # Swagger UI starts from an inline script: it runs by this response's nonce alone.
        html = (
            bytes(page.body)
            .decode()
            .replace("<script>", f'<script nonce="{request.state.csp_nonce}">')
        )
        return HTMLResponse(html)

    # Innermost of the middleware: every response, errors included, gets the headers.
    app.add_middleware(SecurityHeaders, inline_styles_path=f"{API_PREFIX}/docs")

    @app.exception_handler(AiscError)
    async def _aisc_error(request: Request, exc: AiscError) -> Any:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        if _is_page(request):
            response = _error_page(request, exc.status_code, exc.message)
            response.headers.update(headers)
            return response
        return JSONResponse(
            status_code=exc.status_code, content={"detail": exc.to_dict()}, headers=headers
        )

    from aisc.portal.web import PageForbidden, SignInNeeded

    @app.exception_handler(SignInNeeded)
    async def _sign_in(_request: Request, exc: SignInNeeded) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden_page(request: Request, _exc: PageForbidden) -> HTMLResponse:
        return _error_page(request, 403, None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if _is_page(request) and exc.status_code in (404, 405):
            return _error_page(request, exc.status_code, None)
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        body = {"code": codes.get(exc.status_code, "error"), "message": str(exc.detail)}
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": body},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        if _is_page(request):
            return _error_page(request, 422, "; ".join(str(e.get("msg")) for e in exc.errors()))
        return JSONResponse(status_code=422, content=validation_body(exc.errors()))

    from aisc.accounts.api import router as accounts_router
    from aisc.allocations.api import router as allocations_router
    from aisc.applications.api import router as applications_router
    from aisc.audit.api import router as audit_router
    from aisc.awards.api import router as awards_router
    from aisc.billing.api import router as billing_router
    from aisc.cluster.api import router as cluster_router
    from aisc.jobs.api import router as jobs_router
    from aisc.ledger.api import router as ledger_router
    from aisc.ledger.earmarks.api import router as earmarks_router
    from aisc.metering.api import router as metering_router
    from aisc.pricing.api import router as pricing_router
    from aisc.progress.api import router as progress_router
    from aisc.qos.api import router as qos_router
    from aisc.review.api import router as review_router
    from aisc.scheme.api import router as scheme_router
    from aisc.slurm.api import router as slurm_router

    for router in (
        scheme_router,
        accounts_router,
        cluster_router,
        pricing_router,
        applications_router,
        review_router,
        awards_router,
        progress_router,
        allocations_router,
        jobs_router,
        qos_router,
        slurm_router,
        metering_router,
        billing_router,
        ledger_router,
        earmarks_router,
        audit_router,
    ):
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
        app.state.metrics.prefix_routes(router.routes, API_PREFIX)

    # Operational figures are for operators (and auditors), unless the deployment makes them
    # public for a scraper on a private network.
    @app.get(
        "/metrics",
        include_in_schema=False,
        dependencies=[] if settings.metrics_public else [requires("metrics.read")],
    )
    def metrics(request: Request) -> Response:
        body, content_type = app.state.metrics.exposition(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Ready to work: the database answers, its schema is at head, a worker leads (aisc.health).
    # No authentication: a load balancer asks, and the answer names checks, never data.
    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        from aisc.health import readiness

        ready = readiness(engine, now=clock())
        return JSONResponse(ready.public(), status_code=200 if ready.ok else 503)

    from aisc.portal import router as portal_router
    from aisc.portal.web import HERE as PORTAL_DIR

    app.mount("/static", StaticFiles(directory=str(PORTAL_DIR / "static")), name="static")
    app.include_router(portal_router)
    # Outermost (added last): a limited request is answered before anything else runs.
    app.add_middleware(
        RateLimitMiddleware,
        limiter=app.state.rate_limiter,
        routes=THROTTLED,
        trusted_proxies=settings.trusted_proxies,
        headers=SECURITY_HEADERS,
    )

    # Outermost of the application's middleware: no body over its limit reaches the rest.
    app.add_middleware(
        BodyLimit,
        default=settings.max_body_bytes,
        limits=dict.fromkeys(UPLOAD_PATHS, settings.max_upload_bytes),
    )
    # Outermost: a request's time includes the limits' refusals.
    app.add_middleware(RequestTiming, observe=app.state.metrics.observe_request)
    return app


def app_from_env() -> FastAPI:
    """The application for the settings in the environment: what each of the processes of
    ``aisc serve --workers N`` builds (``uvicorn --factory aisc.app:app_from_env``)."""
    return create_app(Settings())


def _is_page(request: Request) -> bool:
    """A portal page (HTML), not the API."""
    path = request.url.path
    return not path.startswith(API_PREFIX) and path not in ("/metrics", "/healthz", "/readyz")


def _error_page(request: Request, status: int, message: str | None) -> HTMLResponse:
    from aisc.portal.web import error_page

    return error_page(request, status, message)
