"""Pages anyone may see: the scheme dashboard, signing in and out, the language switch and the
cost estimate the application form asks for."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from aisc.accounts import auth, signin
from aisc.accounts.models import Role
from aisc.applications.models import RequestKind
from aisc.errors import AiscError, NotFound, RateLimited, ValidationFailed
from aisc.money import bp_to_rate, format_hkd
from aisc.portal.labels import N_
from aisc.portal.web import (
    LANG_COOKIE,
    LANGUAGES,
    page_action,
    page_for,
    parse_day,
    read_form,
    whole_number,
)
from aisc.webshared import SESSION_COOKIE, client_address, set_session_cookie

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "aisc_login"
SIGNED_OUT = N_("Signed out.")


Form = Annotated[FormData, Depends(read_form)]


def safe_next(target: str | None) -> str:
    """Only paths of this site (never //elsewhere or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/", response_class=HTMLResponse)
@page_action("scheme.read")
def dashboard(request: Request) -> Response:
    from aisc.reports.stats import scheme_stats
    from aisc.scheme.service import get_scheme

    page = page_for(request)
    with page.uow() as ctx:
        try:
            scheme = get_scheme(ctx)
        except NotFound:
            return page.render("dashboard.html", scheme=None, stats=None)
        stats = scheme_stats(ctx, today=ctx.now.date())
        return page.render("dashboard.html", scheme=scheme, stats=stats, today=ctx.now.date())


@router.get("/login", response_class=HTMLResponse)
@page_action("session.start")
def login_form(request: Request, next: str = "/") -> Response:
    page = page_for(request)
    token = auth.issue_login_token(request.app.state.clock())
    response = page.render("login.html", next=safe_next(next), login_token=token, email="")
    response.set_cookie(LOGIN_COOKIE, token, max_age=1800, httponly=True, samesite="lax",
                        secure=request.app.state.settings.cookie_secure)  # fmt: skip
    return response


@router.post("/login", response_class=HTMLResponse)
@page_action("session.start")
def login(request: Request, form: Form) -> Response:
    page = page_for(request)
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    next_path = safe_next(str(form.get("next", "/")))
    # The form's token stops login CSRF (a hostile page signing the browser in to the
    # attacker's account): it must match the cookie set with the form, and works once.
    sent, expected = str(form.get("login_token", "")), request.cookies.get(LOGIN_COOKIE, "")
    fresh = bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())
    if fresh:
        with page.uow() as ctx:
            fresh = auth.consume_login_token(ctx, token=sent)
    if not fresh:
        page.problem = page.gettext("The sign-in form expired; please sign in again.")
        return _login_again(page, next_path, email, 403)
    errors = {}
    if not email:
        errors["email"] = page.gettext("Enter your e-mail address.")
    if not password:
        errors["password"] = page.gettext("Enter your password.")
    if errors:
        page.errors = errors
        return _login_again(page, next_path, email, 422)
    state = request.app.state
    try:
        state.rate_limiter.check("sign_in", client_address(request))
        # The password is checked between two short transactions, never inside one.
        with page.uow(write=False) as ctx:
            attempt = signin.read_attempt(ctx, email=email, source=client_address(request))
        verdict = signin.check_password(attempt, password, slots=state.hash_slots)
    except RateLimited as exc:
        page.problem = page.gettext("Too many sign-in attempts; wait a minute and try again.")
        response = _login_again(page, next_path, email, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    with page.uow() as ctx:
        person = signin.record_attempt(ctx, attempt=attempt, verdict=verdict)
        if person is not None:
            secret, _session = auth.start_session(ctx, person=person)
    if person is None:  # the failure counted (towards the lock) before this answer
        page.errors = {"password": page.gettext("The e-mail address or password is not right.")}
        return _login_again(page, next_path, email, 401)
    response = RedirectResponse(next_path if next_path != "/" else _home_of(person.role_set),
                                status_code=303)  # fmt: skip
    set_session_cookie(request, response, secret)
    response.delete_cookie(LOGIN_COOKIE)
    return response


def _login_again(page: Any, next_path: str, email: str, status: int) -> Response:
    token = auth.issue_login_token(page.request.app.state.clock())
    response: Response = page.render(
        "login.html", status, next=next_path, login_token=token, email=email
    )
    response.set_cookie(LOGIN_COOKIE, token, max_age=1800, httponly=True, samesite="lax",
                        secure=page.request.app.state.settings.cookie_secure)  # fmt: skip
    return response


def _home_of(roles: set[Role]) -> str:
    for role, path in (
        (Role.SECRETARIAT, "/secretariat"),
        (Role.REVIEWER, "/reviews"),
        (Role.FINANCE, "/finance"),
        (Role.OPERATOR, "/operator"),
        (Role.APPLICANT, "/applications"),
    ):
        if role in roles:
            return path
    return "/projects"


@router.post("/logout")
@page_action("session.end")
def logout(request: Request, form: Form) -> Response:
    page = page_for(request, form)
    if page.session_id is not None:
        with page.uow() as ctx:
            auth.end_session(ctx, session_id=page.session_id)
    response = RedirectResponse(f"/?notice={quote(SIGNED_OUT)}", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang")
@page_action("session.start")
def switch_language(to: str = Query(...), next: str = "/") -> Response:
    if to not in LANGUAGES:
        raise ValidationFailed(f"to: {to!r} is not one of {', '.join(LANGUAGES)}", field="to")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, to, max_age=365 * 86_400, samesite="lax")
    return response


@router.get("/estimate")
@page_action("price.read")
def estimate(
    request: Request,
    kind: str = "dedicated",
    gpu_model: str = "",
    gpu_cards: str = "",
    gpu_hours: str = "",
    months: str = "",
    preferred_start: str = "",
) -> JSONResponse:
    """List value, subsidy at the scheme's default rate and the applicant's own share of a
    compute request, at the price list in force on its start (or today)."""
    from aisc.pricing.service import estimate as price

    page = page_for(request)  # limited per client address before routing (aisc.app.THROTTLED)
    try:
        cards = whole_number(gpu_cards, field="gpu_cards")
        hours = whole_number(gpu_hours, field="gpu_hours", maximum=2**62 - 1)
        span = whole_number(months, field="months", maximum=120)
        start = parse_day(preferred_start, field="preferred_start")
    except ValidationFailed as exc:
        # The form's script shows the note in place of the figures.
        return JSONResponse(
            {**dict.fromkeys(("list_value", "subsidy", "own_share", "rate"), "–"),
             "note": exc.message, "detail": exc.to_dict()},
            status_code=exc.status_code,
        )  # fmt: skip
    with page.uow() as ctx:
        try:
            found = price(
                ctx,
                kind=RequestKind(kind)
                if kind in RequestKind._value2member_map_
                else RequestKind.DEDICATED,
                gpu_model=gpu_model,
                gpu_cards=cards,
                months=span,
                gpu_hours=hours,
                on=start or ctx.now.date(),
            )
        except AiscError as exc:
            return JSONResponse(
                {
                    "list_value": "–",
                    "subsidy": "–",
                    "own_share": "–",
                    "rate": "–",
                    "note": exc.message,
                }
            )
    return JSONResponse(
        {
            "list_value": format_hkd(found.list_value_cents),
            "subsidy": format_hkd(found.subsidy_cents),
            "own_share": format_hkd(found.own_share_cents),
            "rate": f"{bp_to_rate(found.rate_bp) * 100:f}".rstrip("0").rstrip(".") + "%",
            "note": page.gettext("Estimate at the list prices of %(version)s; the committee "
                                 "decides the grant and the rate.")
                    % {"version": found.price_list_version},
        }
    )  # fmt: skip


# --- statistics month by month (public) -------------------------------------------------------


@router.get("/statistics", response_class=HTMLResponse)
@page_action("scheme.read")
def statistics(request: Request) -> Response:
    """The scheme's figures month by month: each chart with its numbers in a table beside it.
    Aggregates only (``aisc.reports.opendata`` says what is published)."""
    from aisc.reports.opendata import open_data
    from aisc.scheme.service import get_scheme

    page = page_for(request)
    with page.uow() as ctx:
        try:
            scheme = get_scheme(ctx)
        except NotFound:
            return page.render("dashboard.html", scheme=None, stats=None)
        data = open_data(ctx, today=ctx.now.date())
    return page.render("statistics.html", scheme=scheme, data=data)


CHARTS = ("applications", "committed", "utilisation")


def _chart(request: Request, which: str) -> Response:
    from aisc.reports.opendata import open_data
    from aisc.reports.plots import monthly_plot

    page = page_for(request)
    with page.uow() as ctx:
        data = open_data(ctx, today=ctx.now.date())
    months = [m.month for m in data.months]
    _ = page.gettext
    series: list[tuple[str, Sequence[Decimal | int | None]]]
    if which == "applications":
        series = [
            (_("Received"), [m.applications_received for m in data.months]),
            (_("Approved"), [m.approvals for m in data.months]),
        ]
        body = monthly_plot(months, series, fmt="svg", kind="bar")
    elif which == "committed":
        millions = [m.committed_cumulative_hkd / 1_000_000 for m in data.months]
        series = [(_("Subsidy committed, cumulative"), millions)]
        body = monthly_plot(months, series, fmt="svg", kind="line", ylabel=_("HK$ million"))
    else:
        series = [
            (_("allocated % (committed cards of installed)"),
             [m.allocated_pct for m in data.months]),
            (_("busy % (GPU time used of reserved by dedicated allocations)"),
             [m.busy_pct for m in data.months]),
        ]  # fmt: skip
        body = monthly_plot(months, series, fmt="svg", kind="line", ylabel="%")
    return Response(body, media_type="image/svg+xml")


@router.get("/statistics/applications.svg")
@page_action("scheme.read")
def applications_chart(request: Request) -> Response:
    return _chart(request, "applications")


@router.get("/statistics/committed.svg")
@page_action("scheme.read")
def committed_chart(request: Request) -> Response:
    return _chart(request, "committed")


@router.get("/statistics/utilisation.svg")
@page_action("scheme.read")
def public_utilisation_chart(request: Request) -> Response:
    return _chart(request, "utilisation")
