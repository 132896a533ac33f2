"""The unit of work every service action receives.

The edge (an API request, a CLI command, a worker tick) opens the session, fixes ``now`` and
names the actor; the service does its work inside that one transaction and writes its audit
event there. Services never read the clock or open sessions themselves, which is what lets the
demo replay history and tests pin time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from aisc.access import SYSTEM, Principal


def utcnow() -> datetime:
    """The wall clock, in UTC: used only by edges."""
    return datetime.now(UTC)


Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Ctx:
    """One unit of work: a session, the time it happens at, and who does it."""

    db: Session
    now: datetime
    actor: str
    # Whose rights apply. Edges that act for a person (the API, the portal) set it; the CLI,
    # the scheduler loop and the demo act as the system.
    principal: Principal = SYSTEM
