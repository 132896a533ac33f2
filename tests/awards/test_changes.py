"""Changes to an award (extension, top-up, reduction, early end) and the end of an award."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from aisc import housekeeping
from aisc.awards import changes, closeout
from aisc.awards import service as awards
from aisc.awards.models import HoldKind
from aisc.billing.months import midnight
from aisc.context import Ctx, utcnow
from aisc.db.engine import make_sessionmaker, transaction
from aisc.errors import InsufficientFunds
from aisc.ledger import service as ledger
from aisc.money import apply_rate
from aisc.slurm.desired import desired_state
from aisc.slurm.plan import account_name
from tests.billing.test_billing import APRIL, MARCH, MAY, Billed
from tests.helpers import audit_count, error_field, refused

JUNE, JULY, AUGUST = date(2025, 6, 1), date(2025, 7, 1), date(2025, 8, 1)
CARD_MONTH = 3_000_000  # HK$30,000 per H800 card-month, in cents
DECIDED = {"reason": "committee decision", "decided_by": "Committee meeting 12/2025"}


@pytest.fixture
def world(uow, clock):
    clock.advance(days=120)  # 10 May 2025
    return Billed(uow, clock)


def post(client, award_id, verb, **body):
    return client.post(f"/api/v1/awards/{award_id}/{verb}", json={**DECIDED, **body})


def award(client, award_id):
    return client.get(f"/api/v1/awards/{award_id}").json()


def fund(uow):
    with uow() as ctx:
        return ledger.balances(ctx)


def remaining(uow, award_id):
    with uow() as ctx:
        return ledger.award_balance(ctx, award_id=award_id)


def slurm(uow, award_id):
    with uow() as ctx:
        desired = desired_state(ctx)
    name = account_name(award_id)
    return desired.qos.get(name), desired.reservations.get(name), desired.accounts.get(name)


def allocations(client, award_id):
    rows = client.get(f"/api/v1/allocations?award_id={award_id}").json()
    return sorted((a["gpu_cards"], a["start_date"], a["end_date"]) for a in rows)


def test_a_top_up_commits_the_added_subsidy_and_adds_cards_from_its_date(world, client, uow, clock):
    before = award(client, world.dedicated)
    available = fund(uow).available
    change = post(client, world.dedicated, "top-up", gpu_cards=8, effective_date="2025-06-01")
    assert change.status_code == 200, change.text
    body = change.json()
    # 8 cards x 101 days (1 June to 10 September) at HK$30,000 a card-month (12/365 a day).
    listed = (2 * CARD_MONTH * 8 * 101 * 12 + 365) // (2 * 365)
    added = apply_rate(listed, world.rate(world.dedicated))
    assert body["kind"] == "top_up"
    assert body["committed_hkd"] == f"{added / 100:.2f}"
    assert (body["before"]["gpu_cards"], body["after"]["gpu_cards"]) == (16, 24)
    assert available - fund(uow).available == added
    after = award(client, world.dedicated)
    assert after["gpu_cards"] == 24
    cap = lambda a: round(float(a["subsidy_cap_hkd"]) * 100)  # noqa: E731
    assert cap(after) - cap(before) == added
    assert allocations(client, world.dedicated) == [
        (8, "2025-06-01", "2025-09-10"),
        (16, "2025-03-10", "2025-09-10"),
    ]
    # Slurm: 16 cards until June, 24 from then.
    assert slurm(uow, world.dedicated)[0].gpus == 16
    clock.advance(days=22)  # 1 June
    assert slurm(uow, world.dedicated)[0].gpus == 24
    # June is billed at 24 cards.
    clock.advance(days=30)
    world.run(JUNE)
    _invoice, lines = world.invoice(world.dedicated, JUNE)
    assert sum(line.quantity for line in lines) == 24 * 30
    history = client.get(f"/api/v1/awards/{world.dedicated}/changes").json()
    assert [(c["kind"], c["decided_by"]) for c in history] == [
        ("top_up", "Committee meeting 12/2025")
    ]


def test_a_top_up_the_fund_cannot_cover_is_refused_and_changes_nothing(world, client, uow, cli):
    available = fund(uow).available
    with uow() as ctx:
        ledger.add_earmark(ctx, amount_cents=available - 100, label="security")
    before, events = award(client, world.dedicated), audit_count(uow)
    short = post(client, world.dedicated, "top-up", gpu_cards=8)
    assert (short.status_code, error_field(short)) == (409, "top_up")
    assert "exceeds the fund's available" in short.text
    assert award(client, world.dedicated) == before
    assert audit_count(uow) == events
    assert len(allocations(client, world.dedicated)) == 1
    refused(
        cli, "award", "top-up", str(world.dedicated), "--cards", "0", "--reason", "more",
        "--decided-by", "Committee", expect=2, says="gpu_cards", uow=uow,
    )  # fmt: skip
    # Capacity: 64 H800 cards in all, 16 held: 56 more cannot fit.
    with uow() as ctx:
        ledger.add_budget(ctx, amount_cents=10**12)
    full = post(client, world.dedicated, "top-up", gpu_cards=56)
    assert (full.status_code, error_field(full)) == (409, "capacity")
    assert award(client, world.dedicated)["gpu_cards"] == 16


@pytest.mark.parametrize(
    ("verb", "body", "status", "field"),
    [
        ("top-up", {"gpu_cards": 0}, 422, "gpu_cards"),
        ("top-up", {"gpu_cards": -4}, 422, "gpu_cards"),
        ("top-up", {"gpu_hours": 10}, 422, "gpu_hours"),
        ("top-up", {}, 422, "top_up"),
        ("top-up", {"end_date": "2025-09-01"}, 422, "end_date"),
        ("top-up", {"gpu_cards": 2, "effective_date": "2025-04-01"}, 422, "effective_date"),
        ("extend", {"end_date": "2025-12-01"}, 422, "end_date"),
        ("reduce", {"gpu_cards": 16}, 422, "gpu_cards"),
        ("reduce", {"gpu_cards": 2, "effective_date": "2025-12-01"}, 422, "effective_date"),
        ("end-early", {"end_date": "2025-03-01"}, 422, "end_date"),
        ("end-early", {"end_date": "2025-05-01"}, 422, "end_date"),
        ("end-early", {"end_date": "2025-10-01"}, 422, "end_date"),
        ("end-early", {"end_date": "2025-07-01", "reason": " "}, 422, "reason"),
    ],
)
def test_bad_changes_are_refused_naming_the_field(world, client, uow, verb, body, status, field):
    before, events = award(client, world.dedicated), audit_count(uow)
    answer = post(client, world.dedicated, verb, **body)
    assert (answer.status_code, error_field(answer)) == (status, field), answer.text
    assert award(client, world.dedicated) == before
    assert audit_count(uow) == events


def test_a_pooled_award_is_extended_at_no_cost_and_reduced_with_a_release(world, client, uow, cli):
    world.usage(world.pooled, 300 * 3600, datetime(2025, 4, 20, tzinfo=UTC))
    available = fund(uow).available
    early = post(client, world.pooled, "extend", end_date="2025-05-01")
    assert (early.status_code, error_field(early)) == (422, "end_date")
    extended = cli(
        "award", "extend", str(world.pooled), "--end-date", "2025-08-01",
        "--reason", "data arrived late", "--decided-by", "Committee 5/2025", "--json",
    )  # fmt: skip
    assert '"kind": "extension"' in extended.output
    assert fund(uow).available == available  # no money moved
    assert award(client, world.pooled)["end_date"] == "2025-08-01"
    assert allocations(client, world.pooled) == [(None, "2025-03-01", "2025-08-01")]
    cap = remaining(uow, world.pooled).committed
    too_much = post(client, world.pooled, "reduce", gpu_hours=800)
    assert (too_much.status_code, error_field(too_much)) == (422, "gpu_hours")
    assert "300 are used" in too_much.text
    reduced = post(client, world.pooled, "reduce", gpu_hours=200)
    assert reduced.status_code == 200, reduced.text
    assert reduced.json()["released_hkd"] == f"{cap * 200 // 1000 / 100:.2f}"
    assert fund(uow).available - available == cap * 200 // 1000
    assert award(client, world.pooled)["gpu_hours"] == 800
    # Slurm's GPU-minute budget follows: 800 granted, 300 used elsewhere than Slurm.
    assert slurm(uow, world.pooled)[0].gpu_minutes == (800 - 300) * 60
    topped = cli(
        "award", "top-up", str(world.pooled), "--gpu-hours", "100", "--reason", "more runs",
        "--decided-by", "Committee 6/2025", "--json",
    )  # fmt: skip
    assert '"kind": "top_up"' in topped.output
    assert slurm(uow, world.pooled)[0].gpu_minutes == (900 - 300) * 60
    listed = cli("award", "changes", str(world.pooled), "--json").output
    assert '"extension"' in listed
    assert '"reduction"' in listed
    refused(
        cli, "award", "reduce", str(world.pooled), "--gpu-hours", "0", "--reason", "x",
        "--decided-by", "y", expect=2, says="gpu_hours", uow=uow,
    )  # fmt: skip


def test_fewer_cards_from_a_date_split_the_allocation_and_follow_to_slurm(
    world, client, uow, clock
):
    available = fund(uow).available
    reduced = post(client, world.dedicated, "reduce", gpu_cards=4, effective_date="2025-06-01")
    assert reduced.status_code == 200, reduced.text
    assert allocations(client, world.dedicated) == [
        (12, "2025-06-01", "2025-09-10"),
        (16, "2025-03-10", "2025-06-01"),
    ]
    granted, removed = 16 * 184, 4 * 101  # card-days: 10 March - 10 September, June on
    cap = round(float(reduced.json()["before"]["subsidy_cap_cents"]))
    assert fund(uow).available - available == cap * removed // granted
    assert slurm(uow, world.dedicated)[0].gpus == 16
    clock.advance(days=22)
    assert slurm(uow, world.dedicated)[0].gpus == 12


def test_an_early_end_returns_the_cards_releases_pro_rata_and_the_award_completes(
    world, client, uow, clock, cli
):
    world.usage(world.dedicated, 7_200, datetime(2025, 4, 2, tzinfo=UTC))  # a job ran
    available = fund(uow).available
    cap = remaining(uow, world.dedicated).committed
    # The command line runs at the real date, after the award's period: refused, naming it.
    refused(
        cli, "award", "end-early", str(world.dedicated), "--end-date", "2025-07-01",
        "--reason", "finished early", "--decided-by", "Committee 5/2025", expect=2,
        says="end_date", uow=uow,
    )  # fmt: skip
    ended = post(client, world.dedicated, "end-early", end_date="2025-07-01")
    assert ended.json()["kind"] == "early_end"
    removed, granted = 16 * 71, 16 * 184  # 1 July - 10 September given up
    assert fund(uow).available - available == cap * removed // granted
    assert award(client, world.dedicated)["end_date"] == "2025-07-01"
    assert allocations(client, world.dedicated) == [(16, "2025-03-10", "2025-07-01")]
    _qos, reservation, _account = slurm(uow, world.dedicated)
    assert reservation.end == int(midnight(JULY).timestamp())
    # From 1 July: no job can run on it; it reads ended, not active, until it is closed.
    clock.advance(days=52)  # 1 July
    states = client.get(f"/api/v1/allocations?award_id={world.dedicated}").json()
    assert {a["state"] for a in states} == {"ended"}  # job submission needs an active one
    read = award(client, world.dedicated)
    assert (read["status"], read["recorded_status"]) == ("ended", "active")
    qos, _reservation, account = slurm(uow, world.dedicated)
    assert (qos.gpus, account.open) == (0, False)
    # The housekeeping waits for the last month's billing; then completes and closes it.
    with uow() as ctx:
        assert closeout.complete_ended(ctx) == []
    for month in (MARCH, APRIL, MAY, JUNE):
        world.run(month)
    pass_ = housekeeping.run_pass(uow)
    assert pass_.failed == {}
    # The pooled award's period ended on 1 June and its months are billed too.
    assert pass_.results["complete ended awards"] == [world.dedicated, world.pooled]
    read = award(client, world.dedicated)
    assert (read["status"], read["remaining_hkd"]) == ("completed", "0.00")
    events = audit_count(uow)
    with uow() as ctx:
        assert closeout.complete_ended(ctx) == []  # idempotent
    assert audit_count(uow) == events
    late = post(client, world.dedicated, "top-up", gpu_cards=1)
    assert (late.status_code, error_field(late)) == (409, "status")


def test_a_dedicated_award_that_ran_jobs_closes_once_its_months_are_billed(world, client, uow, cli):
    world.usage(world.dedicated, 36_000, datetime(2025, 3, 20, tzinfo=UTC))
    world.usage(world.dedicated, 7_200, datetime(2025, 4, 2, tzinfo=UTC))
    assert post(client, world.dedicated, "end-early", end_date="2025-06-01").status_code == 200
    world.clock.advance(days=22)  # 1 June: its cards have ended, May has ended
    refused(
        cli, "award", "close", str(world.dedicated), "--outcome", "completed",
        expect=4, says="not billed yet", uow=uow,
    )  # fmt: skip
    world.run(MARCH)
    world.run(APRIL)
    world.run(MAY)
    with uow() as ctx:
        awards.place_hold(
            ctx, award_id=world.dedicated, kind=HoldKind.REPORT_OVERDUE, reason="late", ref=7
        )
    closed = cli("award", "close", str(world.dedicated), "--outcome", "completed", "--json")
    assert '"completed"' in closed.output
    with uow() as ctx:
        assert awards.open_holds(ctx, award_id=world.dedicated) == []
        assert closeout.complete_ended(ctx) == [world.pooled]
    assert remaining(uow, world.dedicated).remaining == 0
    for month in ("2025-03", "2025-04"):
        reconciled = client.get("/api/v1/billing/reconciliation", params={"month": month})
        if reconciled.status_code == 200:
            assert reconciled.json()["differences"] == []


def test_an_award_past_its_period_never_reads_active(world, client, clock):
    clock.advance(days=30)  # 9 June: the pooled award ended on 1 June
    read = award(client, world.pooled)
    assert (read["status"], read["recorded_status"]) == ("ended", "active")
    active = {a["id"] for a in client.get("/api/v1/awards", params={"status": "active"}).json()}
    assert world.pooled not in active
    assert world.dedicated in active


def test_two_top_ups_racing_for_the_last_dollars_exactly_one_wins(engine, world, uow):
    added = apply_rate(1000 * 4_500, world.rate(world.pooled))  # 1,000 GPU-hours at HK$45
    available = fund(uow).available
    with uow() as ctx:
        ledger.add_earmark(ctx, amount_cents=available - added - 100_00, label="squeeze")
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def top_up(side: str) -> None:
        barrier.wait()
        try:
            with transaction(factory) as db:
                changes.top_up(
                    Ctx(db=db, now=utcnow(), actor=f"race {side}"),
                    award_id=world.pooled,
                    gpu_hours=1000,
                    reason="race",
                    decided_by=side,
                )
            outcomes.append("done")
        except InsufficientFunds:
            outcomes.append("refused")

    threads = [threading.Thread(target=top_up, args=(side,)) for side in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["done", "refused"]
    assert fund(uow).available == 100_00
    with uow() as ctx:
        assert len(changes.list_changes(ctx, award_id=world.pooled)) == 1
