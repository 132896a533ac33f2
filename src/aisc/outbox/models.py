"""The outbox table: one row per message to deliver, never queued twice under one key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aisc.db.base import Base, UTCDateTime


class OutboxMessage(Base):
    """A message decided inside a transaction and delivered after it committed.

    ``key`` names what the message is about (``notification:12``, ``password_reset:7``): the
    same key is never queued twice. Recipients are resolved when the message is written, so a
    later change of the project team does not change who is told about what happened then.
    ``next_attempt_at`` is when a worker may next pick the message up: set ahead by a claim (so
    that a claim whose worker died lapses and the message is delivered again) and by each
    failure (exponential backoff). A message that fails ``MAX_ATTEMPTS`` times is given up
    (``gave_up_at``) and stays listed until someone retries it.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # What a worker scans for: undelivered, not given up, due.
        Index("ix_outbox_messages_due", "delivered_at", "gave_up_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    recipients: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # A body that grants something (a reset link) is blanked once it is delivered or given up.
    sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    gave_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
