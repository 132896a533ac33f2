"""What every API router shares: the principal, the unit of work and paging parameters.

A route names the one action of the permission matrix it performs
(``dependencies=[requires("job.read")]``), which refuses anonymous callers and roles the matrix
does not name before any input is read. It then opens one transaction with
``with uow() as ctx:`` (the context carries the principal, so the services check again, per
object), calls one service action and builds its response inside the block; the commit happens
when the block ends, before the response is returned, so a failed commit is never reported as
success.

Credentials: ``Authorization: Bearer <API token>``, or the browser session cookie; requests
that change something under a session cookie must echo the session's CSRF token in the
``X-CSRF-Token`` header. A request with neither is anonymous.

Transactions: ``uow()`` opens a read transaction for GET, HEAD and OPTIONS requests and a write
transaction for every other method (``aisc.db.engine``: on SQLite only writers take the write
lock); a route that must write while answering a GET asks for ``uow(write=True)``. Resolving the
caller's token or session is a read transaction of its own.

The session cookie, the CSRF header, the safe methods, the client's address and ``IdPath`` are
shared with the portal and live in ``aisc.webshared``; rate limits (the routes named in
``aisc.app.THROTTLED`` are limited before routing) count per client address.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from aisc.access import ANONYMOUS, MATRIX, AccessDenied, Principal, check
from aisc.accounts.auth import caller_by_session, caller_by_token
from aisc.context import Clock, Ctx
from aisc.db.engine import transaction
from aisc.deployment import Deployment
from aisc.errors import Unauthenticated
from aisc.webshared import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE
from aisc.webshared import IdPath as IdPath  # the routers take it with the rest from here


def get_principal(request: Request) -> Principal:
    """Who is calling: from a bearer token, a session cookie, or nobody.

    A bearer token that is wrong, expired or revoked is refused (401) even on public routes;
    a stale session cookie only makes the caller anonymous (browsers keep cookies).
    """
    state = request.app.state
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not header and not cookie:
        return ANONYMOUS
    with transaction(state.sessionmaker, write=False) as db:
        ctx = Ctx(db=db, now=state.clock(), actor="auth")
        if header:
            scheme, _, secret = header.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthenticated("Authorization: send 'Bearer <API token>'")
            caller = caller_by_token(ctx, secret=secret.strip())
            if caller is None:
                raise Unauthenticated("the API token is invalid, expired or revoked")
            return Principal.for_person(
                person_id=caller.person_id,
                roles=caller.roles,
                organisation_ids=caller.organisation_ids,
                via="token",
                scopes=caller.scopes,
            )
        caller = caller_by_session(ctx, secret=cookie or "")
        if caller is None:
            return ANONYMOUS
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), caller.csrf_token.encode()):
                # A cookie alone never authenticates a change: this request is anonymous.
                request.state.auth_problem = (
                    f"{CSRF_HEADER}: missing or not this session's CSRF token"
                )
                return ANONYMOUS
        request.state.session_id = caller.session_id
        return Principal.for_person(
            person_id=caller.person_id,
            roles=caller.roles,
            organisation_ids=caller.organisation_ids,
            via="session",
        )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


class Requires:
    """The route's action in the permission matrix, checked before any input is read."""

    def __init__(self, action: str) -> None:
        if action not in MATRIX:
            raise KeyError(f"{action!r} is not in the permission matrix")
        self.action = action

    # async (it does no I/O): FastAPI runs it on the event loop, not in a worker thread.
    async def __call__(self, request: Request, principal: PrincipalDep) -> None:
        try:
            check(principal, self.action)
        except Unauthenticated:
            problem = getattr(request.state, "auth_problem", None)
            if problem:
                raise AccessDenied(problem) from None
            raise


def requires(action: str) -> Any:
    return Depends(Requires(action))


class UnitOfWork:
    """``with uow() as ctx:``: one transaction, read-only for safe methods (see above)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        clock: Clock,
        principal: Principal,
        *,
        write: bool = True,
        deployment: Deployment | None = None,
    ) -> None:
        self._factory = factory
        self._clock = clock
        self._deployment = deployment
        self.principal = principal
        self.write = write

    @contextmanager
    def __call__(self, *, write: bool | None = None) -> Iterator[Ctx]:
        flavour = self.write if write is None else write
        with transaction(self._factory, write=flavour) as session:
            yield Ctx(
                db=session,
                now=self._clock(),
                actor=self.principal.label,
                principal=self.principal,
                deployment=self._deployment,
            )


async def get_uow(request: Request, principal: PrincipalDep) -> UnitOfWork:
    # async (it only builds an object): no hop to a worker thread.
    state = request.app.state
    return UnitOfWork(
        state.sessionmaker,
        state.clock,
        principal,
        write=request.method not in SAFE_METHODS,
        deployment=state.deployment,
    )


Uow = Annotated[UnitOfWork, Depends(get_uow)]


class Paging:
    """A list's window: ``limit`` rows after ``offset`` (the query parameters of every listing)."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PagingDep = Annotated[Paging, Depends()]

# Ids in queries are bounded like ``IdPath``: an absurd number is a 422, not an overflow.
IdQuery = Annotated[int | None, Query(ge=1, lt=2**31)]


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable kind: invalid, not_found, conflict, ...")
    message: str
    field: str | None = Field(default=None, description="the input field at fault, if any")
    details: Any = None


class ErrorBody(BaseModel):
    """Every error response of the API has this shape."""

    detail: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the request could not be read (e.g. broken JSON)"},
    401: {"model": ErrorBody, "description": "no valid credentials (sign in or send a token)"},
    403: {"model": ErrorBody, "description": "not allowed"},
    404: {"model": ErrorBody, "description": "not found"},
    409: {"model": ErrorBody, "description": "conflicts with the current state"},
    422: {"model": ErrorBody, "description": "invalid input (the field is named)"},
    503: {"model": ErrorBody, "description": "not ready (e.g. database not migrated)"},
}

# Only the routes limited per client address (``aisc.app.THROTTLED``) answer 429.
THROTTLED_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "too many requests; retry after Retry-After seconds"},
}


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    """FastAPI's request validation errors in the shape of every other error."""
    problems = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]
        problems.append({"field": ".".join(loc), "message": err.get("msg", "invalid")})
    first = problems[0] if problems else {"field": "", "message": "invalid input"}
    summary = "; ".join(f"{p['field'] or 'input'}: {p['message']}" for p in problems)
    return {
        "detail": {
            "code": "invalid",
            "message": summary,
            "field": first["field"],
            "details": problems,
        }
    }
