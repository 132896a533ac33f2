from __future__ import annotations

from datetime import datetime
from typing import Any

from aisc.schemas import ReadSchema


class AuditEventRead(ReadSchema):
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    before: str
    after: str
    hash: str
    key_id: str | None


class DifferenceRead(ReadSchema):
    object_type: str
    object_id: str
    field: str
    recorded: Any
    actual: Any
    seq: int | None
    problem: str


class VerifyRead(ReadSchema):
    ok: bool
    events_checked: int
    first_bad_seq: int | None
    first_bad_id: int | None
    reason: str | None
    legacy_events: int = 0
    checkpoint_seq: int | None = None
    rows_checked: int | None = None
    differences: list[DifferenceRead] = []
