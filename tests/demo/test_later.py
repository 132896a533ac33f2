"""The demo centre carried on past the public record to the day it is built: alive on that day
(busy, billed, reports in, no award running past its period, no hold at the worker's pass)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from aisc.awards.models import Award, AwardHold, AwardStatus
from aisc.billing.models import Invoice, Payment
from aisc.billing.months import next_month
from aisc.cluster.catalogue import L40S
from aisc.context import Ctx
from aisc.db.engine import make_sessionmaker, transaction
from aisc.demo import build_demo
from aisc.demo.later import Held, plan_later
from aisc.housekeeping import run_pass
from aisc.progress.models import ProgressReport, ReportStatus

TODAY = date(2026, 3, 15)


def test_the_demo_is_alive_on_the_day_it_is_built(engine):
    summary = build_demo(engine, today=TODAY)
    # The public record's figures, as of the record's date, are those of the record.
    assert summary.applications > 20
    assert summary.approved == 10
    assert summary.committed_hkd > Decimal("300000000")
    assert summary.average_rate is not None
    assert Decimal("0.68") <= summary.average_rate <= Decimal("0.72")
    assert summary.allocated_pct is not None
    assert summary.allocated_pct > 90
    # Today: a busy centre, phase 2 and the inference partition in use.
    now = summary.now
    assert now is not None
    assert now.today == TODAY
    assert now.allocated_pct is not None
    assert Decimal(70) <= now.allocated_pct <= Decimal(95)
    assert now.busy_pct is not None
    assert Decimal(70) <= now.busy_pct <= Decimal(95)
    assert now.approved > 10
    assert now.active_awards > 5
    assert now.billed_through == "2026-02"
    factory = make_sessionmaker(engine)
    moment = datetime(TODAY.year, TODAY.month, TODAY.day, 9, tzinfo=UTC)
    with transaction(factory) as db:
        awards = list(db.scalars(select(Award)))
        # Awards whose period is over are completed once their last month is billed: only an
        # award that ended this month (its cards of this month cannot be billed yet) is open.
        ended = [a for a in awards if a.status is AwardStatus.ACTIVE and a.end_date <= TODAY]
        assert all(a.end_date > TODAY.replace(day=1) for a in ended), ended
        assert any(a.status is AwardStatus.COMPLETED for a in awards)
        assert any(a.status is AwardStatus.ACTIVE and a.gpu_model_code == L40S for a in awards)
        # Every month from the first awards' to the last full one is billed, and no rates
        # above the published ones.
        billed = set(db.scalars(select(Invoice.month)))
        month = date(2025, 1, 1)
        while month < date(2026, 3, 1):
            assert month in billed, month
            month = next_month(month)
        assert max(a.subsidy_rate_bp for a in awards if a.id > 10) <= 7000
        # Invoices are paid about three weeks after they are issued: only the record's one
        # overdue invoice is unpaid past its due date.
        paid = set(db.scalars(select(Payment.invoice_id)))
        unpaid = [
            i.number
            for i in db.scalars(select(Invoice).where(Invoice.payable_cents > 0))
            if i.id not in paid and i.due_date < TODAY
        ]
        assert len(unpaid) <= 1, unpaid
        overdue = db.scalar(
            select(func.count())
            .select_from(ProgressReport)
            .where(
                ProgressReport.status.in_((ReportStatus.DUE, ReportStatus.CHANGES_REQUESTED)),
                ProgressReport.due_date < TODAY,
            )
        )
        assert overdue == 0

    @contextmanager
    def open_ctx() -> Iterator[Ctx]:
        with transaction(factory) as db:
            yield Ctx(db=db, now=moment, actor="worker")

    done = run_pass(open_ctx)  # the worker's housekeeping at today places no hold
    assert done.failed == {}
    with transaction(factory) as db:
        assert list(db.scalars(select(AwardHold).where(AwardHold.lifted_at.is_(None)))) == []
        assert db.scalar(select(func.count()).where(Award.status == AwardStatus.SUSPENDED)) == 0


def test_the_later_plan_is_a_function_of_the_day():
    held = [Held(date(2025, 1, 6), date(2026, 1, 6), "H800-SXM5-80GB", 1200)]
    first = plan_later(date(2026, 12, 3), held)
    assert first == plan_later(date(2026, 12, 3), held)
    assert len(plan_later(date(2026, 3, 15), held)) < len(first)
    assert plan_later(date(2025, 7, 31), held) == []
