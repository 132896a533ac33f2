"""Spending against earmarks: recorded with evidence, never overspent, reversed not edited."""

import hashlib
import json
import threading
from datetime import date

from aisc.context import Ctx, utcnow
from aisc.db.engine import make_sessionmaker, transaction
from aisc.errors import InsufficientFunds
from aisc.ledger import service as ledger
from aisc.ledger.earmarks import service as earmarks
from aisc.scheme.service import get_scheme
from tests.factories import World
from tests.helpers import audit_count, refused

PEN_TEST = {
    "earmark": "security",
    "vendor": "Harbour Red Team Ltd",
    "purpose": "penetration test of the portal and the login nodes",
    "spent_on": "2025-01-06",
    "amount_hkd": "1200000.00",
    "evidence_ref": "INV-2025-0042.pdf",
    "evidence_sha256": hashlib.sha256(b"invoice").hexdigest(),
}


def positions(client):
    return {p["earmark"]: p for p in client.get("/api/v1/ledger/earmark-positions").json()}


def test_spending_reduces_the_earmark_and_a_reversal_gives_it_back(client, uow):
    World(uow)  # the security earmark: HK$100,000,000
    assert positions(client)["security"] == {
        "earmark": "security",
        "earmarked_hkd": "100000000.00",
        "spent_hkd": "0.00",
        "remaining_hkd": "100000000.00",
    }
    paid = client.post("/api/v1/ledger/earmark-spends", json=PEN_TEST)
    assert paid.status_code == 201, paid.text
    spend = paid.json()
    assert (spend["kind"], spend["evidence_sha256"]) == ("spend", PEN_TEST["evidence_sha256"])
    soc = client.post(
        "/api/v1/ledger/earmark-spends",
        json={**PEN_TEST, "vendor": "Lion Rock SOC", "purpose": "SOC", "amount_hkd": "800000"},
    )
    assert soc.status_code == 201
    assert positions(client)["security"]["remaining_hkd"] == "98000000.00"
    # The fund's available balance is untouched: the earmark was set aside already.
    assert client.get("/api/v1/ledger/balance").json()["available_hkd"] == "2900000000.00"

    reversal = client.post(
        "/api/v1/ledger/earmark-reversals",
        json={"spend_id": spend["id"], "reason": "invoice issued twice"},
    )
    assert reversal.status_code == 201
    assert (reversal.json()["kind"], reversal.json()["reverses_id"]) == ("reversal", spend["id"])
    assert positions(client)["security"]["spent_hkd"] == "800000.00"
    rows = client.get("/api/v1/ledger/earmark-spends", params={"earmark": "security"}).json()
    assert [r["kind"] for r in rows] == ["spend", "spend", "reversal"]
    assert rows[0]["amount_hkd"] == "1200000.00"  # the original stands, unedited
    again = client.post(
        "/api/v1/ledger/earmark-reversals", json={"spend_id": spend["id"], "reason": "again"}
    )
    assert again.status_code == 409
    of_reversal = client.post(
        "/api/v1/ledger/earmark-reversals",
        json={"spend_id": reversal.json()["id"], "reason": "undo"},
    )
    assert of_reversal.status_code == 409


def test_overspending_an_earmark_is_refused_and_changes_nothing(client, uow):
    World(uow)
    before = audit_count(uow)
    over = client.post(
        "/api/v1/ledger/earmark-spends", json={**PEN_TEST, "amount_hkd": "100000000.01"}
    )
    assert over.status_code == 409
    assert over.json()["detail"]["code"] == "insufficient_funds"
    unknown = client.post("/api/v1/ledger/earmark-spends", json={**PEN_TEST, "earmark": "parties"})
    assert unknown.status_code == 404
    future = client.post(
        "/api/v1/ledger/earmark-spends", json={**PEN_TEST, "spent_on": "2030-01-01"}
    )
    assert future.status_code == 422
    bad_hash = client.post(
        "/api/v1/ledger/earmark-spends", json={**PEN_TEST, "evidence_sha256": "abc"}
    )
    assert bad_hash.status_code == 422
    assert audit_count(uow) == before
    assert client.get("/api/v1/ledger/earmark-spends").json() == []
    exact = client.post(
        "/api/v1/ledger/earmark-spends", json={**PEN_TEST, "amount_hkd": "100000000"}
    )
    assert exact.status_code == 201
    assert positions(client)["security"]["remaining_hkd"] == "0.00"


def test_earmark_cli(cli, uow, tmp_path):
    World(uow)
    cli("ledger", "earmark", "--label", "promotion and education", "--amount", "20,000,000")
    invoice = tmp_path / "soc-2025-q1.pdf"
    invoice.write_bytes(b"%PDF soc invoice")
    row = json.loads(
        cli(
            "ledger", "earmark-spend", "--earmark", "security", "--vendor", "Lion Rock SOC",
            "--purpose", "security operations centre, Q1", "--spent-on", "2025-03-31",
            "--amount", "2,400,000", "--evidence", str(invoice), "--json",
        ).output
    )  # fmt: skip
    assert row["evidence_ref"] == "soc-2025-q1.pdf"
    assert row["evidence_sha256"] == hashlib.sha256(b"%PDF soc invoice").hexdigest()
    cli(
        "ledger", "earmark-spend", "--earmark", "promotion and education", "--vendor",
        "Kowloon Events", "--purpose", "AI literacy workshops", "--spent-on", "2025-04-12",
        "--amount", "350000", "--evidence-ref", "PO-7781",
    )  # fmt: skip
    refused(
        cli, "ledger", "earmark-spend", "--earmark", "promotion and education", "--vendor", "X",
        "--purpose", "too much", "--spent-on", "2025-04-12", "--amount", "19,650,000.01",
        expect=4, says="exceeds what remains", uow=uow,
    )  # fmt: skip
    table = json.loads(cli("ledger", "earmarks", "--json").output)
    assert {p["earmark"]: p["remaining_hkd"] for p in table} == {
        "promotion and education": "19650000.00",
        "security": "97600000.00",
    }
    assert "remaining_hkd" in cli("ledger", "earmarks").output
    reversed_ = json.loads(
        cli(
            "ledger", "earmark-reverse", str(row["id"]), "--reason", "wrong quarter", "--json"
        ).output
    )
    assert reversed_["reverses_id"] == row["id"]
    spends = json.loads(
        cli("ledger", "earmarks", "--spends", "--earmark", "security", "--json").output
    )
    assert [s["kind"] for s in spends] == ["spend", "reversal"]


def test_concurrent_spends_never_overspend_an_earmark(engine, uow):
    """Eight threads, each on its own connection, spend HK$30 m of a HK$100 m earmark at once:
    exactly three succeed, and what remains is HK$10 m."""
    World(uow)
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def spend_one(n: int) -> None:
        barrier.wait()
        try:
            with transaction(factory) as db:
                earmarks.spend(
                    Ctx(db=db, now=utcnow(), actor="race"),
                    earmark="security",
                    vendor=f"vendor {n}",
                    purpose="racing",
                    spent_on=date(2025, 1, 6),
                    amount_cents=30_000_000_00,
                )
            outcomes.append("spent")
        except InsufficientFunds:
            outcomes.append("refused")

    threads = [threading.Thread(target=spend_one, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * 5 + ["spent"] * 3
    with uow() as ctx:
        (position,) = earmarks.earmarks(ctx)
        assert position.remaining == 10_000_000_00
        assert ledger.balances(ctx, scheme_id=get_scheme(ctx).id).earmarked == 100_000_000_00
