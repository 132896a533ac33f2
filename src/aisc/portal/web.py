"""The portal's plumbing: who is signed in, the language, forms, rendering and errors.

Pages are server-rendered (Jinja2) on the same service layer as the API: a view parses the
form, calls one service action inside one transaction (``with page.uow() as ctx``) and renders.

- Sign-in is the browser session of ``aisc.accounts`` (the same cookie as the API). Every form
  that changes something carries the session's CSRF token in a hidden field; a POST without the
  right one is refused (403) and changes nothing.
- Language: English or Traditional Chinese (``zh_Hant``), from the ``aisc_lang`` cookie (set by
  the switch in the header), else the browser's Accept-Language; strings are translated through
  gettext catalogues (Babel), loaded from the ``.po`` files at start-up.
- Input: a posted form with a NUL or another control character (but tab and line breaks) in
  any field is refused before a view sees it (422, naming the field); ids in paths, page numbers
  and other whole numbers are ASCII digits within a database integer (``whole_number``), so no
  request can overflow a query.
- Errors: bad input re-renders the form with each message next to its field (422) and saves
  nothing; a conflict (an illegal state change, say) is shown above the form (409); an object out
  of reach is a 404 page, a page the role may not use a 403 page; no session sends the browser
  to the sign-in page.
"""

from __future__ import annotations

import hmac
import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from aisc.access import ANONYMOUS, MATRIX, AccessDenied, Principal, check
from aisc.accounts.auth import resolve_session
from aisc.accounts.models import Person, Role
from aisc.context import Ctx
from aisc.db.engine import transaction
from aisc.errors import AiscError, Conflict, Unauthenticated, ValidationFailed
from aisc.money import format_hkd
from aisc.portal.labels import label
from aisc.portal.language import negotiate
from aisc.schemas import check_day, control_problem
from aisc.webshared import SAFE_METHODS, SESSION_COOKIE

HERE = Path(__file__).parent
LANG_COOKIE = "aisc_lang"
LANGUAGES = {"en": "English", "zh_Hant": "繁體中文"}
PAGE_SIZE = 25
# Ids are database integers: beyond this no row can exist and the drivers refuse the value.
MAX_ID = 2**31 - 1
MAX_PAGE = 100_000


@cache
def translations(lang: str) -> Translations | None:
    """The catalogue of ``lang`` (None for English, the source language)."""
    if lang == "en":
        return None
    po_path = HERE / "translations" / lang / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def pick_language(request: Request) -> str:
    """The cookie's language if it names one, else the browser's (``aisc.portal.language``)."""
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("accept-language", ""))


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hkd"] = lambda cents: format_hkd(int(cents or 0))
    env.filters["pct"] = _pct
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    env.globals["label"] = label
    return env


def _pct(value: Any, places: int = 1) -> str:
    if value is None:
        return "–"
    return f"{float(value):.{places}f}%"


def _when(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "–"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class SignInNeeded(Exception):
    """No session: the browser goes to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """The signed-in person's roles do not include this page."""


F = TypeVar("F", bound=Callable[..., Any])
PAGE_ACTION = "__aisc_page_action__"


def page_action(action: str) -> Callable[[F], F]:
    """Name the matrix action that opens a page (the portal's ``requires``).

    Put it under the route decorator::

        @router.get("/finance")
        @page_action("billing.run")
        def finance(request: Request) -> Response: ...

    ``page_for`` checks it before the view runs: an anonymous caller of a non-public action is
    sent to sign in, a role the matrix does not name gets the 403 page. Per-object reach is the
    services' (they authorise again). Every portal route names one action (tested).
    """
    if action not in MATRIX:
        raise KeyError(f"{action!r} is not in the permission matrix")

    def mark(view: F) -> F:
        if action_of(view) is not None:
            raise RuntimeError(f"{view.__name__} names two actions: one page, one action")
        setattr(view, PAGE_ACTION, action)
        return view

    return mark


def action_of(view: Any) -> str | None:
    """The matrix action a portal view names (None: not marked)."""
    return getattr(view, PAGE_ACTION, None)


@dataclass
class PageContext:
    """One request's view of the portal: the principal, language and helpers."""

    request: Request
    principal: Principal
    person: Person | None
    csrf_token: str
    session_id: int | None
    lang: str
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.person is not None

    def may(self, action: str) -> bool:
        """Whether the principal holds ``action`` outright, whatever the object (to show or
        hide a part of a page). A grant by relation (member, reviewer, ...) needs the object:
        ask ``aisc.access.authorize(ctx, action).covers(...)`` for that."""
        try:
            everything, _audiences = check(self.principal, action)
        except (Unauthenticated, AccessDenied):
            return False
        return everything

    def gettext(self, message: str) -> str:
        catalogue = translations(self.lang)
        return catalogue.gettext(message) if catalogue else message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        catalogue = translations(self.lang)
        if catalogue:
            return catalogue.ngettext(singular, plural, n)
        return singular if n == 1 else plural

    @contextmanager
    def uow(self, *, write: bool | None = None) -> Iterator[Ctx]:
        """One transaction: read-only for safe methods (GET pages), a write for form posts."""
        state = self.request.app.state
        if write is None:
            write = self.request.method not in SAFE_METHODS
        with transaction(state.sessionmaker, write=write) as db:
            yield Ctx(
                db=db,
                now=state.clock(),
                actor=self.principal.label,
                principal=self.principal,
                deployment=state.deployment,
            )

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        env = environment()
        body = env.get_template(template).render(
            page=self,
            _=self.gettext,
            ngettext=self.ngettext,
            Role=Role,
            languages=LANGUAGES,
            request=self.request,
            # An inline <script> runs only with this response's nonce (the CSP allows no other).
            csp_nonce=getattr(self.request.state, "csp_nonce", ""),
            **context,
        )
        return HTMLResponse(body, status_code=status_code)

    def redirect(self, path: str, notice: str | None = None) -> RedirectResponse:
        target = (
            path if notice is None else f"{path}{'&' if '?' in path else '?'}notice={quote(notice)}"
        )
        return RedirectResponse(target, status_code=303)


def _check_ids(request: Request) -> None:
    """Refuse (422) an id in the path beyond a database integer, before any query sees it."""
    route = request.scope.get("route")
    for param in getattr(getattr(route, "dependant", None), "path_params", ()):
        if param.field_info.annotation is not int:
            continue
        text = str(request.path_params.get(param.name, ""))
        if len(text) > len(str(MAX_ID)) or (text.isdigit() and int(text) > MAX_ID):
            raise ValidationFailed(f"{param.name}: {text[:20]} is not an id", field=param.name)


def page_for(
    request: Request,
    form: Mapping[str, Any] | None = None,
    *,
    check_ids: bool = True,
    check_action: bool = True,
) -> PageContext:
    """The request's page context; for a form POST the CSRF token is checked here, and the
    view's matrix action (``page_action``) before the view goes on. The error page skips the
    action: it renders for the very request that was refused."""
    state = request.app.state
    if check_ids:
        _check_ids(request)
    principal, person, csrf, session_id = ANONYMOUS, None, "", None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with transaction(state.sessionmaker, write=False) as db:
            found = resolve_session(Ctx(db=db, now=state.clock(), actor="portal"), secret=cookie)
            if found is not None:
                person, session = found
                db.expunge(person)
                csrf, session_id = session.csrf_token, session.id
                principal = Principal.for_person(
                    person_id=person.id,
                    roles=person.role_set,
                    organisation_ids=person.organisation_ids,
                    via="session",
                )
    if form is not None and person is not None:
        sent = str(form.get("csrf_token", ""))
        if not hmac.compare_digest(sent.encode(), csrf.encode()):
            raise PageForbidden()
    action = None
    if check_action:
        endpoint = request.scope.get("endpoint")
        action = action_of(endpoint)
        if action is None:
            # A page that names no action would open to anyone: a programming error, refused
            # for every caller (a test walks the routes so that none ships).
            raise RuntimeError(f"{getattr(endpoint, '__name__', endpoint)} names no page_action")
        try:
            check(principal, action)
        except Unauthenticated:
            raise SignInNeeded(request.url.path) from None
        except AccessDenied:
            raise PageForbidden() from None
    return PageContext(
        request=request,
        principal=principal,
        person=person,
        csrf_token=csrf,
        session_id=session_id,
        lang=pick_language(request),
    )


# --- forms ----------------------------------------------------------------------------------


async def read_form(request: Request) -> FormData:
    """The posted form, refused (422, naming the field) if any text holds a NUL or another
    control character but tab and line breaks: no view, service or database sees one."""
    form = await request.form()
    for key, value in form.multi_items():
        if not isinstance(value, str):
            continue
        problem = control_problem(key) or control_problem(value)
        if problem is not None:
            name = key if control_problem(key) is None else repr(key)
            raise ValidationFailed(f"{name}: {problem}", field=name)
    return form


def whole_number(text: str, *, field: str, maximum: int = MAX_ID) -> int | None:
    """``text`` as a whole number from 0 to ``maximum`` (None when empty). Only ASCII digits:
    ``str.isdigit`` also accepts ``²`` and other digits ``int`` cannot read."""
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        raise ValidationFailed(f"{field}: give a whole number from 0 to {maximum:,}", field=field)
    number = int(text)
    if number > maximum:
        raise ValidationFailed(f"{field}: give a whole number from 0 to {maximum:,}", field=field)
    return number


def parse_day(text: str, *, field: str) -> date | None:
    """``YYYY-MM-DD`` within the platform's calendar (None when empty)."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"{field}: {text!r} is not a date like 2025-03-01", field=field
        ) from None
    return check_day(day, field=field)


def page_number(request: Request, name: str = "page") -> int:
    """The 1-based page number in the query string ``name`` (1 when absent)."""
    number = whole_number(request.query_params.get(name, ""), field=name, maximum=MAX_PAGE)
    return max(1, number or 1)


def nest(form: Mapping[str, Any]) -> dict[str, Any]:
    """``{"compute.gpu_cards": "8"}`` -> ``{"compute": {"gpu_cards": "8"}}``; empty fields are
    left out (so optional fields stay unset) and the CSRF token is dropped."""
    data: dict[str, Any] = {}
    for key, value in form.items():
        if key == "csrf_token" or value is None:
            continue
        text = value.strip() if isinstance(value, str) else value
        if text == "":
            continue
        target = data
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = text
    return data


M = TypeVar("M", bound=BaseModel)


def parse_form(schema: type[M], data: dict[str, Any]) -> M:
    """Validate into ``schema``; a failure names every field at fault (ValidationFailed)."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        details = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "form"
            details.append({"field": loc, "message": err["msg"]})
        first = details[0]
        raise ValidationFailed(
            "; ".join(f"{d['field']}: {d['message']}" for d in details),
            field=first["field"],
            details=details,
        ) from exc


def form_errors(exc: AiscError) -> tuple[dict[str, str], str | None]:
    """Field errors (field -> message) and a message for the top of the form."""
    errors: dict[str, str] = {}
    if isinstance(exc, ValidationFailed):
        for item in exc.details or []:
            if isinstance(item, dict) and item.get("field"):
                errors.setdefault(_form_name(str(item["field"])), str(item["message"]))
        if not errors and exc.field:
            errors[_form_name(exc.field)] = _strip_field(exc.message, exc.field)
        # Also above the form, so that no message is lost on a field the form does not show.
        return errors, exc.message
    if isinstance(exc, Conflict) and exc.field:
        errors[exc.field] = exc.message
    return errors, exc.message


def _form_name(name: str) -> str:
    """``reasons[0].code`` -> ``reasons``: list items are reported on the list's field."""
    return name.split("[", 1)[0]


def _strip_field(message: str, name: str) -> str:
    prefix = f"{name}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def status_of(exc: AiscError) -> int:
    return exc.status_code if 400 <= exc.status_code < 500 else 400


def money(value: Decimal | int | None) -> str:
    return format_hkd(int(value or 0))


def error_page(request: Request, status: int, message: str | None) -> HTMLResponse:
    try:
        # The refused page's own action is not checked again: the error page is for everyone.
        page = page_for(request, check_ids=False, check_action=False)
    except Exception:  # the error page must render even when the session cannot be read
        return HTMLResponse(f"<!doctype html><title>{status}</title><p>{status}</p>", status)
    titles = {
        403: page.gettext("Not for your role"),
        404: page.gettext("Not found"),
        405: page.gettext("Not found"),
        409: page.gettext("Not possible now"),
    }
    texts = {
        403: page.gettext("This page is for other roles. Sign in with an account that has it."),
        404: page.gettext("There is nothing here, or it is not yours to see."),
        405: page.gettext("There is nothing here, or it is not yours to see."),
    }
    if status == 404:  # never confirm that another tenant's object exists
        message = None
    return page.render(
        "error.html", status, title=titles.get(status), message=message or texts.get(status, "")
    )
