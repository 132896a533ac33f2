"""The leader lease: exactly one worker runs the loops, and a fenced-out one cannot write.

One row per lease (``worker_leases``; the worker's is named ``worker``) says who leads
(``holder``: host:pid:random), until when (``expires_at``) and with which fencing ``token``,
which goes up by one on every acquisition. It works the same on SQLite and PostgreSQL:

- **Acquiring and renewing** is one write transaction that locks the row (``SELECT ... FOR
  UPDATE`` on PostgreSQL; SQLite's write lock, taken by ``BEGIN IMMEDIATE``, serialises every
  writer): the row is taken when it has expired (token + 1) and renewed when it is already
  ours (same holder, same token); otherwise the caller does not lead.
- **Fencing**: every write transaction of the loops begins by checking, under the same lock,
  that the row still carries this process's token and has not expired (``Lease.fence``: a
  session factory whose sessions check when they begin). The lock is held until the
  transaction ends, so no other worker can take the lease in the middle of it: a write either
  commits while its writer leads, or raises ``LeaseLost`` and rolls back, nothing written.
  A PostgreSQL advisory lock alone would not do: it dies with its connection, and a leader
  that lost it half-way could still commit.
- **Times**: TTL ``LEASE_TTL_S`` (15 s), renewed every ``RENEW_S`` (5 s); a waiting worker tries
  every ``RENEW_S``. A leader killed outright is replaced within TTL + one poll, 20 s. A leader
  stopped cleanly (SIGTERM) releases the row (``expires_at`` = now), and a waiting worker takes
  over at its next poll. Expiry compares the workers' clocks: hosts keep them synchronised
  (NTP); a skew eats into the TTL, never into fencing (the token decides that).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Integer, String, event, select
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column, sessionmaker

from aisc.context import Clock, utcnow
from aisc.db.base import Base, UTCDateTime
from aisc.db.engine import WRITE_OPTION, make_sessionmaker, transaction
from aisc.errors import Conflict

log = logging.getLogger(__name__)

WORKER = "worker"  # the lease of the loops (job loop, outbox delivery)
LEASE_TTL_S = 15.0
RENEW_S = 5.0
# How long without a renewal before /readyz and `aisc status` call the worker's heartbeat stale.
STALE_AFTER_S = LEASE_TTL_S


class WorkerLease(Base):
    """Who leads, until when, with which fencing token (see the module's docstring)."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), nullable=False)
    token: Mapped[int] = mapped_column(Integer, nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class LeaseLost(Conflict):
    """This process does not (or no longer) lead: nothing it tried to write was saved."""


@dataclass(frozen=True)
class LeaseState:
    """The lease row as read, for health checks, ``aisc status`` and metrics."""

    holder: str
    token: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime

    def heartbeat_age_s(self, now: datetime) -> float:
        return max((now - self.renewed_at).total_seconds(), 0.0)

    def live(self, now: datetime) -> bool:
        return now < self.expires_at


def new_holder() -> str:
    """host:pid:random: unique to this process's run (a restarted worker is a new holder)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


def read_lease(db: Session, name: str = WORKER) -> LeaseState | None:
    """The lease row, or None when no worker ever led. One primary-key read."""
    row = db.get(WorkerLease, name)
    if row is None:
        return None
    return LeaseState(row.holder, row.token, row.acquired_at, row.renewed_at, row.expires_at)


class Lease:
    """One process's claim on a lease; ``token`` is set while it leads."""

    def __init__(
        self,
        engine: Engine,
        *,
        name: str = WORKER,
        holder: str | None = None,
        ttl_s: float = LEASE_TTL_S,
        clock: Clock = utcnow,
    ) -> None:
        self.name = name
        self.holder = holder or new_holder()
        self.ttl = timedelta(seconds=ttl_s)
        self.clock = clock
        self.token: int | None = None
        self.expires_at: datetime | None = None
        self.engine = engine
        self._factory = make_sessionmaker(engine)

    @property
    def held(self) -> bool:
        """Whether this process leads, as far as it knows (the fence checks the database)."""
        return (
            self.token is not None
            and self.expires_at is not None
            and self.clock() < self.expires_at
        )

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, renew it if it is ours; True if we lead."""
        try:
            with transaction(self._factory) as db:
                now = self.clock()
                row = db.execute(
                    select(WorkerLease).where(WorkerLease.name == self.name).with_for_update()
                ).scalar_one_or_none()
                if row is None:
                    row = WorkerLease(name=self.name, token=0)
                    db.add(row)
                elif row.holder == self.holder and row.token == self.token:
                    if row.expires_at > now:  # ours and live: renew
                        row.renewed_at, row.expires_at = now, now + self.ttl
                        self.expires_at = row.expires_at
                        return True
                elif row.expires_at > now:  # another's and live: wait
                    self._lose(f"held by {row.holder} (token {row.token})")
                    return False
                # Free, expired or ours but lapsed: a new acquisition, a new token.
                row.holder, row.token = self.holder, row.token + 1
                row.acquired_at = row.renewed_at = now
                row.expires_at = now + self.ttl
                token, expires_at = row.token, row.expires_at
        except Conflict:  # two first acquisitions inserted at once: the other one won
            self._lose("taken at the same moment by another worker")
            return False
        if self.token is not None and self.token != token:
            log.warning("lease %s: lapsed while leading; taken again", self.name)
        self.token, self.expires_at = token, expires_at
        log.info("lease %s: leading as %s (token %d)", self.name, self.holder, token)
        return True

    def release(self) -> None:
        """Give the lease up (a clean stop): a waiting worker takes it at its next poll."""
        if self.token is None:
            return
        with transaction(self._factory) as db:
            row = db.execute(
                select(WorkerLease).where(WorkerLease.name == self.name).with_for_update()
            ).scalar_one_or_none()
            if row is not None and row.holder == self.holder and row.token == self.token:
                row.expires_at = self.clock()
        log.info("lease %s: released (token %d)", self.name, self.token)
        self.token = self.expires_at = None

    def check(self, db: Session | Any) -> None:
        """Raise ``LeaseLost`` unless the row still carries our token, unexpired; the row stays
        locked until the caller's transaction ends (``db``: a session or a connection)."""
        if self.token is None:
            raise LeaseLost(f"this worker does not hold the {self.name} lease", field="lease")
        row = db.execute(
            select(WorkerLease.holder, WorkerLease.token, WorkerLease.expires_at)
            .where(WorkerLease.name == self.name)
            .with_for_update()
        ).first()
        if row is None or row.token != self.token or row.holder != self.holder:
            self._lose("taken by another worker")
            raise LeaseLost(
                f"the {self.name} lease was taken by another worker; nothing was saved",
                field="lease",
            )
        if row.expires_at <= self.clock():
            self._lose("expired")
            raise LeaseLost(
                f"the {self.name} lease expired before this write; nothing was saved",
                field="lease",
            )

    def fence(self) -> sessionmaker[Session]:
        """A session factory whose write transactions check the lease first.

        Read transactions are not checked: they cannot write (and PostgreSQL refuses a row lock
        in a read-only transaction). Savepoints share their transaction's check.
        """
        fenced = make_sessionmaker(self.engine)

        @event.listens_for(fenced, "after_begin")
        def _check(_session: Session, trans: SessionTransaction, connection: Any) -> None:
            if trans.nested or not connection.get_execution_options().get(WRITE_OPTION, True):
                return
            self.check(connection)

        return fenced

    def guard(self) -> None:
        """Check the lease now, in a transaction of its own: before a side effect outside the
        database that no fenced transaction can cover (handing a job to Slurm)."""
        with transaction(self._factory) as db:
            self.check(db)

    def _lose(self, why: str) -> None:
        if self.token is not None:
            log.warning("lease %s: no longer leading (%s)", self.name, why)
        self.token = self.expires_at = None


class LeaseFigures(Collector):
    """The leader as the database says, read when scraped (one primary-key read): every
    process that serves ``/metrics`` answers the same."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock = utcnow) -> None:
        self.factory = factory
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # registering must not query the database

    def collect(self) -> Iterator[Metric]:
        with transaction(self.factory, write=False) as db:
            lease = read_lease(db)
        if lease is None:  # no worker ever led: nothing to say, and /readyz says why
            return
        yield GaugeMetricFamily(
            "aisc_worker_leader_token",
            "Fencing token of the worker lease (up by one on every takeover).",
            value=lease.token,
        )
        yield GaugeMetricFamily(
            "aisc_worker_heartbeat_age_seconds",
            "Seconds since the leading worker last renewed its lease.",
            value=lease.heartbeat_age_s(self.clock()),
        )


class LeaderFigure(Collector):
    """Whether this worker leads: in the worker's own registry."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "aisc_worker_is_leader",
            "1 while this worker holds the lease and runs the loops, 0 while it waits.",
            value=1 if self.lease.held else 0,
        )
