"""The worker's housekeeping pass: each task in its own transaction, one failing stops none."""

from __future__ import annotations

from sqlalchemy import func, select

from aisc.audit.models import AuditEvent
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.housekeeping import run_pass

TASKS = [
    ("first", "tests.test_housekeeping:_writes"),
    ("broken", "tests.test_housekeeping:_writes_then_fails"),
    ("last", "tests.test_housekeeping:_writes"),
]


def _writes(ctx: Ctx) -> str:
    record(ctx, action="test.housekeeping", object_type="test", object_id="1")
    return "done"


def _writes_then_fails(ctx: Ctx) -> None:
    _writes(ctx)
    raise RuntimeError("this duty is broken")


def _events(uow) -> int:
    with uow() as ctx:
        return ctx.db.scalar(select(func.count()).where(AuditEvent.action == "test.housekeeping"))


def test_a_failing_task_rolls_back_alone_and_the_others_run(uow):
    done = run_pass(uow, tasks=TASKS)
    assert done.results == {"first": "done", "last": "done"}
    assert done.failed == {"broken": "RuntimeError: this duty is broken"}
    assert _events(uow) == 2  # the broken task's write was rolled back


def test_the_worker_runs_a_pass_only_while_it_leads(client):
    worker = client.app.state.worker
    assert worker.housekeep() is None  # not leading yet
    assert worker.lead()
    assert worker.housekeep() is not None
