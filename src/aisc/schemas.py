"""Constrained types shared by every domain's schemas.

Every value that comes in is bounded here, so that nothing reaches a service, the database or
date arithmetic that could overflow it: dates fall in ``EARLIEST_DAY`` .. ``LATEST_DAY``, counts
fit a database integer, and text holds no control characters (NUL anywhere; the others outside
tab and line breaks).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

# The platform's calendar: a date outside it is a typing error (or an attack on month arithmetic,
# which ends at year 9999), never a plan.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)
Day = Annotated[date, Field(ge=EARLIEST_DAY, le=LATEST_DAY)]


def _sane_moment(value: datetime) -> datetime:
    if not EARLIEST_DAY.year <= value.year <= LATEST_DAY.year:
        raise ValueError(f"must fall between {EARLIEST_DAY} and {LATEST_DAY}")
    return value


Moment = Annotated[datetime, AfterValidator(_sane_moment)]


def check_day(value: date, *, field: str) -> date:
    """``value`` if it lies in the platform's calendar, else ValidationFailed naming ``field``
    (for dates that arrive outside a schema: CLI options, portal query strings)."""
    from aisc.errors import ValidationFailed

    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise ValidationFailed(
            f"{field}: {value.isoformat()} is not between {EARLIEST_DAY} and {LATEST_DAY}",
            field=field,
        )
    return value


# C0 controls and DEL, except tab, line feed and carriage return (which text areas send).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_problem(text: str) -> str | None:
    """Why ``text`` may not be stored (a NUL or another control character), or None."""
    if "\x00" in text:
        return "text may not contain NUL characters"
    found = CONTROL.search(text)
    if found is not None:
        return f"text may not contain control characters (U+{ord(found.group()):04X})"
    return None


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{1,49}$")]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]
Id = Annotated[int, Field(gt=0, lt=2**31)]
Count = Annotated[int, Field(ge=0, lt=2**31)]
BigCount = Annotated[int, Field(ge=0, lt=2**62)]
HKD = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=2)]
PositiveHKD = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=2)]
Rate = Annotated[Decimal, Field(ge=0, le=1, max_digits=5, decimal_places=4)]


MAX_DEPTH = 32  # nesting of a request body; the deepest schema is a few levels


def _find_control(value: Any, path: str) -> tuple[str, str] | None:
    """The first (path, problem) inside ``value``: text with control characters, or nesting
    deeper than MAX_DEPTH. Iterative, so no input can exhaust the interpreter's stack."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            problem = control_problem(item)
            if problem:
                return where, problem
            continue
        if isinstance(item, dict):
            pairs: Any = item.items()
        elif isinstance(item, list | tuple):
            pairs = enumerate(item)
        else:
            continue
        if depth >= MAX_DEPTH:
            return where, f"nested more than {MAX_DEPTH} levels deep"
        children = []
        for key, child in pairs:
            if isinstance(key, str) and (problem := control_problem(key)):
                return f"{where}.{key!r}".lstrip("."), problem
            children.append((child, f"{where}.{key}".lstrip("."), depth + 1))
        stack.extend(reversed(children))
    return None


class Schema(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped.

    No text anywhere in a body may contain a NUL character (PostgreSQL cannot store one, and no
    legitimate input has one) or another control character but tab and line breaks.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_control(cls, data: Any) -> Any:
        found = _find_control(data, "")
        if found is not None:
            where, problem = found
            raise ValueError(f"{where or 'input'}: {problem}")
        return data


class ReadSchema(BaseModel):
    """Base of responses, built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)
