"""Money is conserved across any sequence of award changes, disbursements and close-outs.

At every step: budget = never committed + earmarked + committed-not-yet-spent + disbursed +
released; no balance is negative; no award is overspent (disbursed + released <= committed); a
closed award holds nothing; an open award's standing commitment covers its subsidy cap; and a
refused step changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from aisc.allocations.models import Allocation
from aisc.applications.models import RequestKind
from aisc.audit.models import AuditEvent, AuditHead
from aisc.awards import changes, closeout
from aisc.awards.models import CLOSED, Award, AwardChange, AwardStatus
from aisc.cluster.models import Partition
from aisc.errors import AiscError, InsufficientFunds
from aisc.ledger import service as ledger
from aisc.ledger.models import EntryKind, LedgerEntry
from aisc.money import apply_rate
from aisc.pricing.models import PriceList
from aisc.scheme.service import get_scheme
from tests.factories import World

H800 = "H800-SXM5-80GB"
START, END = date(2025, 2, 1), date(2025, 8, 1)
RATE = 7000
# (kind, cards, GPU-hours) of the awards every example starts from.
SHAPES = [
    (RequestKind.DEDICATED, 8, None),
    (RequestKind.POOLED, None, 1000),
    (RequestKind.DEDICATED, 16, None),
]
DECIDED = {"reason": "a property", "decided_by": "the test"}

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), st.integers(0, 2), st.integers(-1, 40)),
        st.tuples(st.just("reduce"), st.integers(0, 2), st.integers(-1, 20)),
        st.tuples(st.just("end_early"), st.integers(0, 2), st.integers(-5, 200)),
        st.tuples(st.just("extend"), st.integers(0, 2), st.integers(-5, 60)),
        st.tuples(st.just("disburse"), st.integers(0, 2), st.integers(1, 120_000_000)),
        st.tuples(st.just("close"), st.integers(0, 2), st.just(0)),
    ),
    max_size=10,
)


@pytest.fixture
def award_ids(uow):
    """Award rows, built once per test; every example resets their terms and the ledger."""
    world = World(uow, total_fund_hkd="10000000", earmarks=[])
    app_ids = [world.create(title=f"Changing project {i}") for i in range(len(SHAPES))]
    ids = []
    with uow() as ctx:
        scheme = get_scheme(ctx)
        price_list_id = ctx.db.scalars(select(PriceList.id)).first()
        for app_id, (kind, _cards, _hours) in zip(app_ids, SHAPES, strict=True):
            award = Award(
                scheme_id=scheme.id,
                application_id=app_id,
                organisation_id=world.uni,
                title=f"award of application {app_id}",
                status=AwardStatus.ACTIVE,
                kind=kind,
                gpu_model_code=H800,
                start_date=START,
                end_date=END,
                months=6,
                subsidy_rate_bp=RATE,
                list_value_cents=0,
                subsidy_cap_cents=0,
                price_list_id=price_list_id,
                created_at=ctx.now,
            )
            ctx.db.add(award)
            ctx.db.flush()
            ids.append(award.id)
    return ids


def _reset(uow, award_ids):
    """Every award back to its approved terms, one allocation each, its cap committed."""
    with uow() as ctx:
        for model in (AwardChange, Allocation, LedgerEntry, AuditEvent, AuditHead):
            ctx.db.execute(delete(model))
        scheme_id = get_scheme(ctx).id
        ledger.add_budget(ctx, scheme_id=scheme_id, amount_cents=10_000_000_00)
        partition_id = ctx.db.scalars(
            select(Partition.id).where(Partition.name == "training")
        ).one()
        price_list = ctx.db.scalars(select(PriceList)).first()
        item = price_list.item_for(H800)
        caps = {}
        for award_id, (kind, cards, hours) in zip(award_ids, SHAPES, strict=True):
            award = ctx.db.get(Award, award_id)
            listed = cards * 6 * item.card_month_cents if cards else hours * item.gpu_hour_cents
            award.status = AwardStatus.ACTIVE
            award.gpu_cards, award.gpu_hours = cards, hours
            award.start_date, award.end_date, award.months = START, END, 6
            award.list_value_cents = listed
            award.subsidy_cap_cents = caps[award_id] = apply_rate(listed, RATE)
            ctx.db.add(
                Allocation(
                    award_id=award_id,
                    kind=kind,
                    gpu_model_code=H800,
                    partition_id=partition_id,
                    gpu_cards=cards,
                    gpu_hours=hours,
                    start_date=START,
                    end_date=END,
                    created_at=ctx.now,
                    created_by="test",
                    node_names=[],
                )
            )
            ctx.db.flush()
            ledger.commit(ctx, scheme_id=scheme_id, award_id=award_id, amount_cents=caps[award_id])
    return caps


def _raw(uow):
    with uow() as ctx:
        sums = dict(
            ctx.db.execute(
                select(LedgerEntry.kind, func.sum(LedgerEntry.amount_cents)).group_by(
                    LedgerEntry.kind
                )
            ).all()
        )
    return {kind: int(sums.get(kind) or 0) for kind in EntryKind}


def _apply(ctx, award_id, op, amount):
    award = ctx.db.get(Award, award_id)
    dedicated = award.kind is RequestKind.DEDICATED
    if op == "top_up":
        size = {"gpu_cards": amount} if dedicated else {"gpu_hours": amount * 100}
        return changes.top_up(ctx, award_id=award_id, **size, **DECIDED)
    if op == "reduce":
        size = {"gpu_cards": amount} if dedicated else {"gpu_hours": amount * 50}
        return changes.reduce(ctx, award_id=award_id, **size, **DECIDED)
    if op == "end_early":
        day = START + timedelta(days=amount)
        return changes.end_early(ctx, award_id=award_id, end_date=day, **DECIDED)
    if op == "extend":
        day = award.end_date + timedelta(days=amount)
        return changes.extend(ctx, award_id=award_id, end_date=day, **DECIDED)
    if op == "disburse":
        return ledger.disburse(ctx, award_id=award_id, amount_cents=amount)
    return closeout.close(
        ctx, award_id=award_id, outcome=closeout.CloseOutcome.TERMINATED, reason="a property"
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_money_is_conserved_across_changes_and_close_outs(uow, award_ids, ops):
    caps = _reset(uow, award_ids)
    committed = dict(caps)
    released = dict.fromkeys(award_ids, 0)
    disbursed = dict.fromkeys(award_ids, 0)
    for op, index, amount in ops:
        award_id = award_ids[index]
        before = _raw(uow)
        left = committed[award_id] - released[award_id] - disbursed[award_id]
        refusal: AiscError | None = None
        try:
            with uow() as ctx:
                done = _apply(ctx, award_id, op, amount)
        except AiscError as exc:
            refusal = exc
        if refusal is not None:
            event(f"{op} refused: {type(refusal).__name__}")
            assert _raw(uow) == before, f"{op} was refused ({refusal}) but moved money"
            if op == "disburse":
                assert isinstance(refusal, InsufficientFunds)
                assert amount > left
            continue
        event(f"{op} done")
        if isinstance(done, AwardChange):
            committed[award_id] += done.committed_cents
            released[award_id] += done.released_cents
        elif op == "disburse":
            assert amount <= left
            disbursed[award_id] += amount
        else:
            released[award_id] += left  # the close-out releases what was left

        raw = _raw(uow)
        with uow() as ctx:
            b = ledger.balances(ctx)
            never_committed = raw[EntryKind.BUDGET] - raw[EntryKind.EARMARK] - b.committed
            standing = 0
            for aid in award_ids:
                award = ctx.db.get(Award, aid)
                ab = ledger.award_balance(ctx, award_id=aid)
                assert (ab.committed, ab.released, ab.disbursed) == (
                    committed[aid],
                    released[aid],
                    disbursed[aid],
                )
                assert ab.remaining >= 0
                assert ab.disbursed + ab.released <= ab.committed  # never overspent
                assert award.subsidy_cap_cents >= 0
                assert award.list_value_cents >= 0
                if award.status in CLOSED:
                    assert ab.remaining == 0
                else:
                    assert ab.committed - ab.released >= award.subsidy_cap_cents
                standing += ab.remaining
            assert b.budget == (never_committed + b.earmarked + standing + b.disbursed + b.released)
            assert b.available >= 0
            assert never_committed + b.released == b.available
