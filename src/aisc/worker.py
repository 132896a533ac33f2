"""The worker: the platform's loops, apart from the servers that answer requests.

A deployment runs one ``aisc worker`` beside its API servers (``aisc serve --workers N``). The
worker runs, each on its own thread (``aisc.periodic.Periodic``):

- the job loop (``aisc.scheduling.runners``): the local executor's or Slurm's, every
  ``AISC_SCHEDULER_INTERVAL_S`` seconds;
- the outbox's delivery pass (``aisc.outbox.worker``), every few seconds;
- housekeeping (``aisc.housekeeping``): the duties that come due with the calendar (reports
  overdue, awards ending, invoices ageing), every minute.

For a newcomer the embedded default stays one command: ``aisc serve --with-worker`` (and
``aisc demo``) runs a worker inside the server's process.

Exactly one worker runs the loops: each worker tries for the leader lease (``aisc.db.lease``)
every few seconds on a third thread, and runs a pass only while it leads. The loops' sessions
come from the lease's fenced factory, so every write they make is checked against the lease
inside its own transaction: a worker that lost the lease (paused, partitioned, too slow to
renew) raises ``LeaseLost`` at its next write, nothing of it is saved, and it goes back to
waiting. A clean stop releases the lease, so a restarted or waiting worker takes over at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from sqlalchemy import Engine

from aisc.access import SYSTEM
from aisc.context import Clock, Ctx, utcnow
from aisc.db.engine import engine_from_settings, transaction
from aisc.db.lease import RENEW_S, Lease, LeaseLost
from aisc.deployment import Deployment
from aisc.housekeeping import HOUSEKEEPING_INTERVAL_S, run_pass
from aisc.metrics import worker_registry
from aisc.outbox.worker import DELIVERY_INTERVAL_S, deliver_due
from aisc.periodic import Periodic
from aisc.scheduling.runners import JobLoop, make_job_loop
from aisc.settings import Settings

log = logging.getLogger(__name__)


class Worker:
    """The loops of one deployment, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        deployment: Deployment | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.engine = engine or engine_from_settings(settings)
        self.deployment = deployment or Deployment.from_settings(settings)
        self.clock = clock
        self.lease = Lease(self.engine, clock=clock)
        # Every session of the loops checks the lease when its write transaction begins.
        self.factory = self.lease.fence()
        self.runner: JobLoop = make_job_loop(
            self.deployment, self.factory, clock, guard=self.lease.guard
        )
        self.registry = worker_registry(self.runner, self.lease)
        self._loops = [
            Periodic("aisc-lease", self.lead, RENEW_S),
            Periodic("aisc-scheduler", self.tick, settings.scheduler_interval_s),
            Periodic("aisc-outbox", self.deliver, DELIVERY_INTERVAL_S),
            Periodic("aisc-housekeeping", self.housekeep, HOUSEKEEPING_INTERVAL_S),
        ]

    def lead(self) -> bool:
        """Take or renew the lease (every few seconds): True while this worker leads."""
        return self.lease.acquire()

    def tick(self) -> object:
        """One pass of the job loop, if this worker leads."""
        return self._if_leading(self.runner.tick)

    @contextmanager
    def open_ctx(self) -> Iterator[Ctx]:
        """One write transaction as the system, carrying the deployment."""
        with transaction(self.factory) as db:
            yield Ctx(db=db, now=self.clock(), actor=SYSTEM.label, deployment=self.deployment)

    def deliver(self) -> object:
        """One delivery pass of the outbox, if this worker leads."""
        return self._if_leading(lambda: deliver_due(self.open_ctx))

    def housekeep(self) -> object:
        """One housekeeping pass (``aisc.housekeeping``), if this worker leads."""
        return self._if_leading(lambda: run_pass(self.open_ctx))

    def _if_leading(self, work: Callable[[], object]) -> object:
        if not self.lease.held:
            return None
        try:
            return work()
        except LeaseLost as exc:  # fenced out: nothing was saved; wait for the lease again
            log.warning("worker: %s", exc.message)
            return None

    def start(self) -> None:
        for loop in self._loops:
            loop.start()

    def stop(self) -> None:
        """Stop the loops, then give the lease up so that another worker takes over at once."""
        for loop in self._loops:
            loop.stop()
        try:
            self.lease.release()
        except Exception:  # the database is gone: the lease lapses after its TTL instead
            log.exception("worker: the lease could not be released")

    def serve_metrics(self, host: str, port: int) -> None:
        """Export the worker's figures (its loop, its process) for Prometheus on ``port``."""
        from prometheus_client import start_http_server

        start_http_server(port, addr=host, registry=self.registry)

    def run_until_signalled(self) -> None:
        """Run the loops until SIGTERM or SIGINT (``aisc worker`` in the foreground)."""
        stopped = threading.Event()

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("worker: %s received, stopping", signal.Signals(signum).name)
            stopped.set()

        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        self.start()
        try:
            stopped.wait()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
