"""Readiness: is this deployment able to do its work? ``/readyz`` and ``aisc status`` ask here.

Three checks, each cheap (no query beyond a primary-key read):

- ``database``: a connection answers ``SELECT 1``;
- ``schema``: the database's Alembic revision is this code's head;
- ``worker``: a worker leads (the leader lease, ``aisc.db.lease``) and renewed its lease within
  ``STALE_AFTER_S``: the job loop and the outbox are being run.

``/readyz`` is answered without authentication (a load balancer asks it), so its reasons name
what failed and never carry data: no error text from the driver (which may name hosts and
users), no holder. ``aisc status`` is for the operator and says everything (``detailed``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Engine, text

from aisc.db.engine import make_sessionmaker, transaction
from aisc.db.lease import STALE_AFTER_S, LeaseState, read_lease
from aisc.db.migrate import current_revision, head_revision


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str  # safe for anyone: what was found, without data
    detail: str = ""  # for the operator (``aisc status``): error texts, holders


@dataclass
class Readiness:
    checks: list[Check]
    lease: LeaseState | None = None
    revision: str | None = None
    head: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def public(self) -> dict[str, Any]:
        """The body of ``/readyz``: each check, ok or not and why, nothing more."""
        return {
            "status": "ready" if self.ok else "not_ready",
            "checks": {c.name: {"ok": c.ok, "reason": c.reason} for c in self.checks},
        }

    def detailed(self, now: datetime) -> dict[str, Any]:
        """What ``aisc status --json`` prints."""
        lease = self.lease
        return {
            "ready": self.ok,
            "checks": {
                c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in self.checks
            },
            "schema": {"revision": self.revision, "head": self.head},
            "leader": None
            if lease is None
            else {
                "holder": lease.holder,
                "token": lease.token,
                "acquired_at": lease.acquired_at.isoformat(),
                "heartbeat_age_s": round(lease.heartbeat_age_s(now), 1),
                "expires_at": lease.expires_at.isoformat(),
            },
            **self.extra,
        }


@cache
def _head() -> str | None:
    return head_revision()  # read from the migration scripts once: the code does not change


def readiness(engine: Engine, *, now: datetime) -> Readiness:
    """Run the checks against ``engine``; a failed check never raises."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        down = Check("database", False, "the database does not answer", _error(exc))
        skipped = "not checked: the database does not answer"
        return Readiness(
            [down, Check("schema", False, skipped), Check("worker", False, skipped)],
            head=_head(),
        )
    checks = [Check("database", True, "answers")]
    head = _head()
    try:
        revision = current_revision(engine)
    except Exception as exc:
        revision = None
        checks.append(Check("schema", False, "the revision could not be read", _error(exc)))
    else:
        if revision == head:
            checks.append(Check("schema", True, "at head"))
        elif revision is None:
            checks.append(Check("schema", False, "no schema: run `aisc db upgrade`"))
        else:
            checks.append(
                Check("schema", False, f"at {revision}, not at head {head}: run `aisc db upgrade`")
            )
    lease = None
    if revision is not None:
        try:
            with transaction(make_sessionmaker(engine), write=False) as db:
                lease = read_lease(db)
        except Exception as exc:
            checks.append(Check("worker", False, "the lease could not be read", _error(exc)))
        else:
            checks.append(_worker(lease, now))
    else:
        checks.append(Check("worker", False, "not checked: no schema"))
    return Readiness(checks, lease=lease, revision=revision, head=head)


def _worker(lease: LeaseState | None, now: datetime) -> Check:
    if lease is None:
        return Check("worker", False, "no worker has ever led: start `aisc worker`")
    age = lease.heartbeat_age_s(now)
    detail = f"{lease.holder}, token {lease.token}, heartbeat {age:.1f} s ago"
    if not lease.live(now):
        return Check("worker", False, "no worker leads: the last lease ended", detail)
    if age > STALE_AFTER_S:
        return Check(
            "worker", False, f"the leader's heartbeat is {age:.0f} s old (stale after "
            f"{STALE_AFTER_S:.0f} s)", detail,
        )  # fmt: skip
    return Check("worker", True, f"a worker leads; heartbeat {age:.1f} s ago", detail)


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
