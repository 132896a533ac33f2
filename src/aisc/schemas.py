"""Constrained types shared by every domain's schemas."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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


def _find_nul(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return f"{path}.{key}".lstrip(".")
        found = _find_nul(item, f"{path}.{key}".lstrip("."))
        if found is not None:
            return found
    return None


class Schema(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped.

    No text anywhere in a body may contain a NUL character (PostgreSQL cannot store one, and no
    legitimate input has one).
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = _find_nul(data, "")
        if where is not None:
            raise ValueError(f"{where or 'input'}: text may not contain NUL characters")
        return data


class ReadSchema(BaseModel):
    """Base of responses, built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)
