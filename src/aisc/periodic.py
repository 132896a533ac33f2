"""A background thread that runs one pass every few seconds until stopped.

The server runs its loops this way (the job loop's tick, the outbox's delivery pass). A pass that
raises is logged and the next one starts again from the database, so one bad pass never stops
the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``work()`` every ``interval`` seconds in a daemon thread named ``name``."""

    def __init__(self, name: str, work: Callable[[], object], interval: float) -> None:
        self.name = name
        self.work = work
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.work()
            except Exception:  # keep going; the next pass starts again from the database
                log.exception("%s: pass failed", self.name)
            self._stop.wait(self.interval)
