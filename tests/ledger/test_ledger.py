import json
import threading
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from aisc.applications.models import RequestKind
from aisc.audit.models import AuditEvent, AuditHead
from aisc.awards.models import Award, AwardStatus
from aisc.context import Ctx, utcnow
from aisc.db.engine import make_sessionmaker, transaction
from aisc.errors import InsufficientFunds
from aisc.ledger import service as ledger
from aisc.ledger.models import EntryKind, LedgerEntry
from aisc.review.decisions import decide
from aisc.review.schemas import DecisionCreate
from aisc.scheme.service import get_scheme
from tests.factories import World
from tests.helpers import audit_count, error_field, refused


def test_release_and_disbursement_draw_on_an_award_commitment(client, uow):
    world = World(uow)
    award_id = world.approve(world.reviewed()).id and client.get("/api/v1/awards").json()[0]["id"]
    paid = client.post(
        "/api/v1/ledger/disbursements",
        json={"award_id": award_id, "amount_hkd": "1000000.00", "memo": "Jan"},
    )
    assert paid.status_code == 201
    released = client.post(
        "/api/v1/ledger/releases", json={"award_id": award_id, "amount_hkd": "16000"}
    )
    assert released.status_code == 201
    award = client.get(f"/api/v1/awards/{award_id}").json()
    assert award["remaining_hkd"] == "1000000.00"  # 2,016,000 - 1,000,000 - 16,000
    balance = client.get("/api/v1/ledger/balance").json()
    assert balance["committed_hkd"] == "2016000.00"
    assert balance["net_committed_hkd"] == "2000000.00"
    assert balance["disbursed_hkd"] == "1000000.00"
    assert balance["outstanding_hkd"] == "1000000.00"
    assert balance["available_hkd"] == "2898000000.00"  # 2.9bn - 2,016,000 + 16,000
    kinds = [e["kind"] for e in client.get("/api/v1/ledger/entries").json()]
    assert kinds == ["budget", "earmark", "commitment", "disbursement", "release"]
    by_award = client.get("/api/v1/ledger/entries", params={"award_id": award_id}).json()
    assert len(by_award) == 3


def test_overdrawing_an_award_or_the_fund_is_refused_and_changes_nothing(client, uow):
    world = World(uow)
    world.approve(world.reviewed())
    award_id = client.get("/api/v1/awards").json()[0]["id"]
    before = audit_count(uow)
    over = client.post(
        "/api/v1/ledger/disbursements", json={"award_id": award_id, "amount_hkd": "2016000.01"}
    )
    assert over.status_code == 409
    assert over.json()["detail"]["code"] == "insufficient_funds"
    assert (
        client.post("/api/v1/ledger/releases", json={"award_id": 99, "amount_hkd": "1"}).status_code
        == 404
    )
    zero = client.post("/api/v1/ledger/releases", json={"award_id": award_id, "amount_hkd": "0"})
    assert error_field(zero) == "amount_hkd"
    fraction = client.post(
        "/api/v1/ledger/releases", json={"award_id": award_id, "amount_hkd": "0.001"}
    )
    assert fraction.status_code == 422
    earmark = client.post(
        "/api/v1/ledger/earmarks", json={"label": "outreach", "amount_hkd": "2900000000"}
    )
    assert earmark.status_code == 409
    assert audit_count(uow) == before
    assert len(client.get("/api/v1/ledger/entries").json()) == 3


def test_budget_and_earmarks(client, uow):
    World(uow)
    assert (
        client.post(
            "/api/v1/ledger/budget", json={"amount_hkd": "500000000", "label": "top-up"}
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/ledger/earmarks", json={"label": "education", "amount_hkd": "50000000"}
        ).status_code
        == 201
    )
    balance = client.get("/api/v1/ledger/balance").json()
    assert balance["total_fund_hkd"] == "3500000000.00"
    assert balance["earmarked_hkd"] == "150000000.00"
    assert balance["available_hkd"] == "3350000000.00"


def test_ledger_and_award_cli(cli, uow):
    world = World(uow)
    world.approve(world.reviewed())
    award = json.loads(cli("award", "list", "--json").output)[0]
    assert award["subsidy_cap_hkd"] == "2016000.00"
    assert json.loads(cli("award", "show", str(award["id"]), "--json").output)["id"] == award["id"]
    assert (
        json.loads(cli("award", "accept", str(award["id"]), "--json").output)["recorded_status"]
        == "active"
    )
    refused(cli, "award", "accept", str(award["id"]), expect=4, says="only an offered", uow=uow)
    refused(cli, "award", "show", "99", expect=3, says="award 99 not found")
    entry = json.loads(
        cli("ledger", "disburse", "--award", str(award["id"]), "--amount", "1000", "--json").output
    )
    assert entry["kind"] == "disbursement"
    assert refused(
        cli, "ledger", "disburse", "--award", str(award["id"]), "--amount", "9999999", expect=4,
        says="remaining commitment", uow=uow,
    ).output.startswith("error: disbursement of HK$9,999,999.00 exceeds")  # fmt: skip
    cli("ledger", "release", "--award", str(award["id"]), "--amount", "15000")
    cli("ledger", "earmark", "--label", "outreach", "--amount", "1000000")
    cli("ledger", "budget", "--amount", "1000000")
    balance = json.loads(cli("ledger", "balance", "--json").output)
    assert balance["available_hkd"] == "2897999000.00"  # 2.9bn + 1m - 1m - 2,016,000 + 15,000
    rows = json.loads(cli("ledger", "entries", "--kind", "release", "--json").output)
    assert [r["amount_hkd"] for r in rows] == ["15000.00"]
    assert "disbursement" in cli("ledger", "entries").output
    refused(
        cli, "ledger", "release", "--award", str(award["id"]), "--amount", "0.001", expect=2,
        says="amount: give an amount in HK$ with at most two decimals", uow=uow,
    )  # fmt: skip
    assert json.loads(cli("ledger", "balance", "--json").output) == balance


def test_awards_api_lists_and_accepts(client, uow):
    world = World(uow)
    world.approve(world.reviewed())
    award_id = client.get("/api/v1/awards", params={"status": "offered"}).json()[0]["id"]
    assert client.post(f"/api/v1/awards/{award_id}/accept").json()["status"] == "active"
    assert client.post(f"/api/v1/awards/{award_id}/accept").status_code == 409
    assert client.get("/api/v1/awards", params={"status": "offered"}).json() == []
    assert (
        client.get("/api/v1/awards", params={"organisation_id": world.uni}).json()[0]["status"]
        == "active"
    )
    assert client.get("/api/v1/awards/77").status_code == 404


# --- property test: random sequences of ledger operations against a model -----------------

N_AWARDS = 4
OPS = st.lists(
    st.tuples(
        st.sampled_from(["commit", "release", "disburse", "earmark", "budget"]),
        st.integers(0, N_AWARDS - 1),
        st.integers(1, 4_000_000_00),
    ),
    max_size=25,
)


def _awards(uow, world):
    """Award rows to hang commitments on (one per application)."""
    ids = []
    app_ids = [world.create(title=f"Ledger project {i}") for i in range(N_AWARDS)]
    with uow() as ctx:
        scheme = get_scheme(ctx)
        for i, app_id in enumerate(app_ids):
            award = Award(
                scheme_id=scheme.id,
                application_id=app_id,
                organisation_id=world.uni,
                title=f"Ledger project {i}",
                status=AwardStatus.ACTIVE,
                kind=RequestKind.DEDICATED,
                gpu_model_code="H800-SXM5-80GB",
                gpu_cards=1,
                start_date=date(2025, 1, 1),
                end_date=date(2025, 2, 1),
                months=1,
                subsidy_rate_bp=7000,
                list_value_cents=0,
                subsidy_cap_cents=0,
                price_list_id=1,
                created_at=ctx.now,
            )
            ctx.db.add(award)
            ctx.db.flush()
            ids.append(award.id)
    return ids


@pytest.fixture
def award_ids(uow):
    """Built once per test; every hypothesis example then resets the ledger itself."""
    return _awards(uow, World(uow, total_fund_hkd="10000000", earmarks=[]))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_ledger_invariants_hold_under_random_sequences(uow, award_ids, ops):
    with uow() as ctx:  # start every example from a fund of HK$10m and nothing else
        ctx.db.execute(delete(LedgerEntry))
        ctx.db.execute(delete(AuditEvent))
        ctx.db.execute(delete(AuditHead))
        ledger.add_budget(ctx, scheme_id=get_scheme(ctx).id, amount_cents=10_000_000_00)

    model = {
        "budget": 10_000_000_00,
        "earmark": 0,
        "commit": dict.fromkeys(award_ids, 0),
        "drawn": dict.fromkeys(award_ids, 0),
        "released": 0,
        "disbursed": 0,
    }
    for kind, index, amount in ops:
        award_id = award_ids[index]
        available = (
            model["budget"] - model["earmark"] - sum(model["commit"].values()) + model["released"]
        )
        remaining = model["commit"][award_id] - model["drawn"][award_id]
        expect_ok = {
            "commit": amount <= available,
            "earmark": amount <= available,
            "budget": True,
            "release": amount <= remaining,
            "disburse": amount <= remaining,
        }[kind]
        try:
            with uow() as ctx:
                scheme_id = get_scheme(ctx).id
                if kind == "commit":
                    ledger.commit(ctx, scheme_id=scheme_id, award_id=award_id, amount_cents=amount)
                elif kind == "earmark":
                    ledger.add_earmark(ctx, scheme_id=scheme_id, amount_cents=amount, label="x")
                elif kind == "budget":
                    ledger.add_budget(ctx, scheme_id=scheme_id, amount_cents=amount)
                elif kind == "release":
                    ledger.release(ctx, award_id=award_id, amount_cents=amount)
                else:
                    ledger.disburse(ctx, award_id=award_id, amount_cents=amount)
            assert expect_ok, f"{kind} of {amount} should have been refused"
        except InsufficientFunds:
            assert not expect_ok, f"{kind} of {amount} should have been accepted"
        if expect_ok:
            if kind == "commit":
                model["commit"][award_id] += amount
            elif kind in ("release", "disburse"):
                model["drawn"][award_id] += amount
                model["released" if kind == "release" else "disbursed"] += amount
            else:
                model[kind] += amount

        with uow() as ctx:
            scheme_id = get_scheme(ctx).id
            b = ledger.balances(ctx, scheme_id=scheme_id)
            raw = dict(
                ctx.db.execute(
                    select(LedgerEntry.kind, func.sum(LedgerEntry.amount_cents)).group_by(
                        LedgerEntry.kind
                    )
                ).all()
            )
            assert b.budget == model["budget"] == raw.get(EntryKind.BUDGET, 0)
            assert b.earmarked == model["earmark"] == (raw.get(EntryKind.EARMARK) or 0)
            assert b.committed == sum(model["commit"].values())
            assert b.earmarked + b.committed - b.released <= b.budget
            assert b.available >= 0
            for aid in award_ids:
                ab = ledger.award_balance(ctx, award_id=aid)
                assert ab.disbursed + ab.released <= ab.committed
                assert ab.remaining == model["commit"][aid] - model["drawn"][aid]


# --- racing approvals ------------------------------------------------------------------------


CAP = 2_016_000_00  # 16 cards x 6 months x HK$30,000 x 0.7, in cents


def test_two_approvals_racing_for_the_last_dollars_exactly_one_wins(engine, uow):
    """Two real connections approve at once; the fund covers one of them, never both.

    Each round first sets the available fund to one cap plus HK$500,000, then two threads
    (each with its own connection) decide at the same moment.
    """
    rounds = 3
    world = World(uow, h800_nodes=16, total_fund_hkd="100000000", earmarks=[])
    factory = make_sessionmaker(engine)
    for round_ in range(rounds):
        pair = [world.reviewed(title=f"Race {round_} {side}") for side in "ab"]
        with uow() as ctx:
            scheme_id = get_scheme(ctx).id
            gap = ledger.balances(ctx, scheme_id=scheme_id).available - CAP - 500_000_00
            if gap > 0:
                ledger.add_earmark(ctx, scheme_id=scheme_id, label="squeeze", amount_cents=gap)
            elif gap < 0:
                ledger.add_budget(ctx, scheme_id=scheme_id, amount_cents=-gap)
        barrier = threading.Barrier(2)
        outcomes: dict[int, str] = {}

        def approve(app_id: int, barrier=barrier, outcomes=outcomes) -> None:
            body = DecisionCreate(outcome="approve", decided_by_id=world.secretariat)
            barrier.wait()
            try:
                with transaction(factory) as db:
                    decide(Ctx(db=db, now=utcnow(), actor="race"), application_id=app_id, data=body)
                outcomes[app_id] = "approved"
            except InsufficientFunds:
                outcomes[app_id] = "refused"

        threads = [threading.Thread(target=approve, args=(a,)) for a in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes.values()) == ["approved", "refused"], outcomes
    with uow() as ctx:
        b = ledger.balances(ctx, scheme_id=get_scheme(ctx).id)
        assert b.committed == CAP * rounds
        assert b.available == 500_000_00
        assert len(list(ctx.db.execute(select(Award)).scalars())) == rounds
