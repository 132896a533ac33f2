from __future__ import annotations

from datetime import datetime

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


class VerifyRead(ReadSchema):
    ok: bool
    events_checked: int
    first_bad_seq: int | None
    first_bad_id: int | None
    reason: str | None
