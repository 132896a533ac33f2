"""Random sequences of usage, re-ingests, billing runs, credit notes and releases: money is
conserved to the cent, no usage is billed twice, subsidy never exceeds rate x list nor the
remaining commitment, and every billed month reconciles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from aisc.awards.models import Award
from aisc.billing import credits
from aisc.billing import reconcile as reconciler
from aisc.billing import service as billing
from aisc.billing.models import Charge, ChargeKind, CreditNote, Invoice
from aisc.context import Ctx
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.db.migrate import upgrade
from aisc.errors import AiscError
from aisc.ledger import service as ledger
from aisc.metering.models import UsageBucket, UsageRecord
from tests.billing.test_billing import Billed
from tests.conftest import Clock

MONTHS = [date(2025, 3, 1), date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1)]

usage_op = st.tuples(
    st.just("usage"),
    st.sampled_from(["dedicated", "pooled"]),
    st.integers(min_value=1, max_value=400 * 3600),
    st.integers(min_value=0, max_value=len(MONTHS) - 1),
    st.integers(min_value=0, max_value=29),
)
ops = st.lists(
    st.one_of(
        usage_op,
        st.tuples(st.just("reingest")),
        st.tuples(st.just("run"), st.integers(min_value=0, max_value=len(MONTHS) - 1)),
        st.tuples(st.just("credit"), st.integers(min_value=1, max_value=100)),
        st.tuples(
            st.just("release"),
            st.sampled_from(["dedicated", "pooled"]),
            st.integers(min_value=1, max_value=5_000_000),
        ),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(sequence=ops)
def test_money_is_conserved_whatever_happens(tmp_path_factory, sequence):
    path = tmp_path_factory.mktemp("prop") / "b.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    clock = Clock(datetime(2025, 1, 10, 9, 0, tzinfo=UTC))
    factory = make_sessionmaker(engine)

    def uow(actor: str = "test"):
        from contextlib import contextmanager

        @contextmanager
        def _u():
            with transaction(factory) as db:
                yield Ctx(db=db, now=clock(), actor=actor)

        return _u()

    world = Billed(uow, clock)
    clock.advance(days=200)  # every month in MONTHS has ended
    awards = {"dedicated": world.dedicated, "pooled": world.pooled}
    last_key = None
    billed = set()
    for op in sequence:
        try:
            if op[0] == "usage":
                _, which, seconds, month, day = op
                ended = datetime.combine(MONTHS[month], datetime.min.time(), UTC) + timedelta(
                    days=day, hours=12
                )
                world.keys += 1
                last_key = f"k{world.keys}"
                world.usage(awards[which], seconds, ended, key=last_key)
            elif op[0] == "reingest" and last_key:
                with uow() as ctx:
                    assert (
                        ctx.db.execute(
                            select(func.count()).where(UsageRecord.key == last_key)
                        ).scalar_one()
                        == 1
                    )
                world.usage(world.pooled, 999, datetime(2025, 3, 2, tzinfo=UTC), key=last_key)
            elif op[0] == "run":
                world.run(MONTHS[op[1]])
                billed.add(MONTHS[op[1]])
            elif op[0] == "credit":
                with uow() as ctx:
                    invoices = billing.list_invoices(ctx)
                    if invoices:
                        invoice = invoices[op[1] % len(invoices)]
                        left = invoice.list_cents - credits.credited(ctx, invoice.id)[0]
                        amount = max(1, left * op[1] // 100)
                        if left > 0:
                            credits.credit(
                                ctx, invoice_id=invoice.id, list_cents=amount, reason="p"
                            )
            elif op[0] == "release":
                with uow() as ctx:
                    ledger.release(ctx, award_id=awards[op[1]], amount_cents=op[2])
        except AiscError:
            pass  # refused operations change nothing; the invariants below still hold
        check_invariants(uow, billed)
    engine.dispose()


def check_invariants(uow, billed) -> None:
    with uow() as ctx:
        db = ctx.db
        for award in db.execute(select(Award)).scalars():
            balance = ledger.award_balance(ctx, award_id=award.id)
            assert balance.remaining >= 0  # never more drawn than committed and not released
            invoices = list(
                db.execute(select(Invoice).where(Invoice.award_id == award.id)).scalars()
            )
            notes = [
                n
                for i in invoices
                for n in db.execute(
                    select(CreditNote).where(CreditNote.invoice_id == i.id)
                ).scalars()
            ]
            invoiced = sum(i.subsidy_cents for i in invoices)
            credited = sum(n.subsidy_cents for n in notes)
            # Every cent of subsidy invoiced is in the ledger, every credited cent came back.
            assert balance.disbursed == invoiced
            assert balance.reversed == credited
            for invoice in invoices:
                lines = list(
                    db.execute(select(Charge).where(Charge.invoice_id == invoice.id)).scalars()
                )
                assert invoice.list_cents == sum(c.list_cents for c in lines)
                assert invoice.subsidy_cents == sum(c.subsidy_cents for c in lines)
                for line in lines:
                    assert line.subsidy_cents <= line.list_cents * award.subsidy_rate_bp // 10_000
                    assert line.subsidy_cents + line.payable_cents == line.list_cents
                    if line.kind is ChargeKind.OVER_AWARD:
                        assert line.subsidy_cents == 0
                inv_notes = [n for n in notes if n.invoice_id == invoice.id]
                assert sum(n.list_cents for n in inv_notes) <= invoice.list_cents
                assert sum(n.subsidy_cents for n in inv_notes) <= invoice.subsidy_cents
                assert sum(n.payable_cents for n in inv_notes) <= invoice.payable_cents
        # No usage billed twice: each record is in one bucket, each bucket on at most one line,
        # and per invoice and GPU model the lines' GPU-seconds are exactly the usage they carry.
        assert (
            db.execute(select(func.count()).where(UsageRecord.bucket_id.is_(None))).scalar_one()
            == 0
        )
        groups: dict[tuple[int, str], list[int]] = {}
        for line in db.execute(select(Charge).where(Charge.kind != ChargeKind.DEDICATED)).scalars():
            carried = db.execute(
                select(func.coalesce(func.sum(UsageRecord.gpu_seconds), 0))
                .join(UsageBucket, UsageBucket.id == UsageRecord.bucket_id)
                .where(UsageBucket.charge_id == line.id)
            ).scalar_one()
            group = groups.setdefault((line.invoice_id, line.gpu_model_code), [0, 0])
            group[0] += line.quantity
            group[1] += carried
        for charged, carried in groups.values():
            assert charged == carried
        for month in billed:
            found = reconciler.reconcile(ctx, month=month)
            stray = [d for d in found.differences if "not billed" not in d]
            assert not stray, stray
