"""The worker: the platform's loops, apart from the servers that answer requests.

A deployment runs one ``aisc worker`` beside its API servers (``aisc serve --workers N``). The
worker runs, each on its own thread (``aisc.periodic.Periodic``):

- the job loop (``aisc.scheduling.runners``): the local executor's or Slurm's, every
  ``AISC_SCHEDULER_INTERVAL_S`` seconds;
- the outbox's delivery pass (``aisc.outbox.worker``), every few seconds.

For a newcomer the embedded default stays one command: ``aisc serve --with-worker`` (and
``aisc demo``) runs a worker inside the server's process.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from sqlalchemy import Engine

from aisc.access import SYSTEM
from aisc.context import Clock, Ctx, utcnow
from aisc.db.engine import engine_from_settings, make_sessionmaker, transaction
from aisc.deployment import Deployment
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
        self.factory = make_sessionmaker(self.engine)
        self.deployment = deployment or Deployment.from_settings(settings)
        self.clock = clock
        self.runner: JobLoop = make_job_loop(self.deployment, self.factory, clock)
        self.registry = worker_registry(self.runner)
        self._loops = [
            Periodic("aisc-scheduler", self.runner.tick, settings.scheduler_interval_s),
            Periodic("aisc-outbox", self.deliver, DELIVERY_INTERVAL_S),
        ]

    @contextmanager
    def open_ctx(self) -> Iterator[Ctx]:
        """One write transaction as the system, carrying the deployment."""
        with transaction(self.factory) as db:
            yield Ctx(db=db, now=self.clock(), actor=SYSTEM.label, deployment=self.deployment)

    def deliver(self) -> object:
        return deliver_due(self.open_ctx)

    def start(self) -> None:
        for loop in self._loops:
            loop.start()

    def stop(self) -> None:
        for loop in self._loops:
            loop.stop()

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
