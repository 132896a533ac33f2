"""What every API router shares: the unit of work and paging parameters.

A route opens one transaction with ``with uow() as ctx:``, calls one service action and builds
its response inside the block; the commit happens when the block ends, before the response is
returned, so a failed commit is never reported as success.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from aisc.context import Clock, Ctx
from aisc.db.engine import transaction

# Until authenticated accounts arrive, API actions are attributed to this actor in the audit
# trail; the accounts work replaces it with the signed-in principal.
API_ACTOR = "api"


class UnitOfWork:
    def __init__(self, factory: sessionmaker[Session], clock: Clock, actor: str) -> None:
        self._factory = factory
        self._clock = clock
        self._actor = actor

    @contextmanager
    def __call__(self) -> Iterator[Ctx]:
        with transaction(self._factory) as session:
            yield Ctx(db=session, now=self._clock(), actor=self._actor)


def get_uow(request: Request) -> UnitOfWork:
    state = request.app.state
    return UnitOfWork(state.sessionmaker, state.clock, API_ACTOR)


Uow = Annotated[UnitOfWork, Depends(get_uow)]


class Page:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PageDep = Annotated[Page, Depends()]

# Ids in paths are bounded so that an absurd number is a 422, not a database overflow.
IdPath = Annotated[int, Path(ge=1, lt=2**31)]
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
    403: {"model": ErrorBody, "description": "not allowed"},
    404: {"model": ErrorBody, "description": "not found"},
    409: {"model": ErrorBody, "description": "conflicts with the current state"},
    422: {"model": ErrorBody, "description": "invalid input (the field is named)"},
    503: {"model": ErrorBody, "description": "not ready (e.g. database not migrated)"},
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
