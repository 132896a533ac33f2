"""The worker's housekeeping: what comes due with the calendar rather than with a request.

Reports fall due and overdue, awards reach the end of their period, invoices age. Each such
duty is a *task*: a function of one ``Ctx`` (a write transaction as the system, at the worker's
``now``) that reads from the database what is due at ``ctx.now`` and does it. A task must be
idempotent: run twice at the same moment, the second run changes nothing, so a worker that
dies half way, or a pass that overlaps a lease takeover, never does a duty twice.

``TASKS`` names them in the order they run. A task that raises is logged, its transaction rolls
back, and the other tasks still run; the next pass tries it again. The worker runs one pass every
``HOUSEKEEPING_INTERVAL_S`` seconds while it holds the lease (``aisc.worker``); tests call
``run_pass`` with a pinned clock.

Tasks are named by import path and imported when a pass runs, so that this module imports no
domain package and each domain keeps its duty beside its service.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from aisc.context import Ctx

log = logging.getLogger(__name__)

# How often the worker looks for duties that came due (they are due by the day, mostly).
HOUSEKEEPING_INTERVAL_S = 60.0

# (name, "module:function") in the order they run; each function takes one Ctx.
TASKS: list[tuple[str, str]] = [
    ("progress reports", "aisc.progress.duties:run"),
    ("invoice reminders", "aisc.billing.receivables:send_reminders"),
    ("invoice overdue holds", "aisc.billing.receivables:apply_overdue_policy"),
    ("complete ended awards", "aisc.awards.closeout:complete_ended"),
]

OpenCtx = Callable[[], AbstractContextManager[Ctx]]


@dataclass
class Pass:
    """What one pass did: each task's result by name, and the tasks that failed."""

    results: dict[str, object] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def task_function(target: str) -> Callable[[Ctx], object]:
    """The function a ``"module:function"`` target names."""
    module, _, name = target.partition(":")
    fn: Callable[[Ctx], object] = getattr(importlib.import_module(module), name)
    return fn


def run_pass(open_ctx: OpenCtx, *, tasks: list[tuple[str, str]] | None = None) -> Pass:
    """Run every task once, each in its own transaction opened by ``open_ctx``."""
    done = Pass()
    for name, target in TASKS if tasks is None else tasks:
        try:
            with open_ctx() as ctx:
                done.results[name] = task_function(target)(ctx)
        except Exception as exc:  # one duty failing never stops the others
            log.exception("housekeeping: %s failed", name)
            done.failed[name] = f"{type(exc).__name__}: {exc}"
    return done
