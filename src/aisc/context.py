"""The unit of work every service action receives.

The edge (an API request, a CLI command, a worker tick) opens the session, fixes ``now`` and
names the actor; the service does its work inside that one transaction and writes its audit
event there. Services never read the clock or open sessions themselves, which is what lets the
demo replay history and tests pin time.

The context also reaches the deployment's collaborators (``aisc.deployment``: the mailer, the
job executor), built once per process by the edge; a service or worker that needs them asks
``ctx.require_deployment()``, which refuses a context opened without them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from aisc.access import SYSTEM, Principal
from aisc.errors import NotReady

if TYPE_CHECKING:
    from aisc.deployment import Deployment


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
    # What the process is wired to (mailer, executor); None where the edge opened the unit of
    # work without it (a bare test transaction, a script): then require_deployment() refuses.
    deployment: Deployment | None = None

    def require_deployment(self) -> Deployment:
        """The deployment's collaborators, or ``NotReady`` naming what is missing."""
        if self.deployment is None:
            raise NotReady(
                "this unit of work has no deployment (mailer, job executor): open it through "
                "the server, the command line or the worker, which build one from the settings"
            )
        return self.deployment
