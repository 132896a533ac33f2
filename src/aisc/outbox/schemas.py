"""What the outbox shows: a message's state, never its body (a reset link is a secret)."""

from __future__ import annotations

from datetime import datetime

from aisc.schemas import ReadSchema


class OutboxMessageRead(ReadSchema):
    id: int
    key: str
    kind: str
    recipients: list[str]
    subject: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    channel: str
    gave_up_at: datetime | None
    last_error: str
