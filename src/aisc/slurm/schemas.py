from __future__ import annotations

from pydantic import Field

from aisc.schemas import Schema


class ChangeRead(Schema):
    action: str = Field(description="add, modify, delete, hold or release")
    target: str
    detail: str
    command: list[str] = Field(description="the exact argument list that makes the change")
    applied: bool


class FailureRead(Schema):
    target: str
    error: str


class SyncRead(Schema):
    dry_run: bool
    changes: list[ChangeRead]
    failed: list[FailureRead]
    notes: list[str] = Field(description="what could not be provisioned, and why")
