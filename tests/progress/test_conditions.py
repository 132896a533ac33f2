"""Conditions of approval as items: recorded with the decision, a hold until met, overdue."""

from __future__ import annotations

import json

from aisc.awards.service import open_holds
from tests.helpers import refused
from tests.progress.conftest import approved

API = "/api/v1"


def test_conditions_are_items_and_one_holds_the_compute_until_met(client, uow, world, clock):
    award = approved(
        world,
        outcome="approve_with_conditions",
        conditions=[
            "Quarterly progress reports to the committee",  # free text still works
            {
                "text": "Ethics approval for the speech data",
                "due_date": "2025-04-30",
                "holds_allocation": True,
            },
        ],
    )
    app_id = client.get(f"{API}/awards/{award}").json()["application_id"]
    decision = client.get(f"{API}/applications/{app_id}/decisions").json()[-1]
    assert decision["conditions"] == [
        "Quarterly progress reports to the committee",
        "Ethics approval for the speech data",
    ]
    items = client.get(f"{API}/conditions", params={"award_id": award}).json()
    assert [(c["position"], c["status"], c["holds_allocation"]) for c in items] == [
        (1, "open", False),
        (2, "open", True),
    ]
    clock.advance(days=50)
    accepted = client.post(f"{API}/awards/{award}/accept").json()
    assert accepted["status"] == "suspended"  # held by the ethics condition from the start
    with uow() as ctx:
        assert [h.kind.value for h in open_holds(ctx, award_id=award)] == ["condition"]
    clock.advance(days=70)  # past 2025-04-30
    items = client.get(f"{API}/conditions", params={"award_id": award}).json()
    assert [c["status"] for c in items] == ["open", "overdue"]
    ethics = items[1]["id"]
    bad = client.post(f"{API}/conditions/{ethics}/resolve", json={"outcome": "met", "text": ""})
    assert bad.status_code == 422
    assert "text" in bad.json()["detail"]["field"]
    met = client.post(
        f"{API}/conditions/{ethics}/resolve",
        json={"outcome": "met", "text": "Approval HREC-2025-17 of 2 May"},
    ).json()
    assert (met["status"], met["evidence"]) == ("met", "Approval HREC-2025-17 of 2 May")
    assert client.get(f"{API}/awards/{award}").json()["status"] == "active"
    again = client.post(f"{API}/conditions/{ethics}/resolve", json={"outcome": "waived",
                                                                     "text": "x"})  # fmt: skip
    assert again.status_code == 409


def test_the_cli_lists_meets_and_waives_conditions(cli, uow, world, clock):
    award = approved(
        world,
        outcome="approve_with_conditions",
        conditions=[{"text": "Local team of 5"}, {"text": "Data-protection review"}],
    )
    listed = json.loads(cli("condition", "list", "--award", str(award), "--json").output)
    first, second = (c["id"] for c in listed)
    refused(cli, "condition", "met", str(first), "--evidence", " ", expect=2, says="evidence",
            uow=uow)  # fmt: skip
    cli("condition", "met", str(first), "--evidence", "Payroll of March: 6 local staff")
    waived = cli("condition", "waive", str(second), "--reason", "Covered by ISO 27001", "--json")
    assert json.loads(waived.output)["status"] == "waived"
    table = cli("condition", "list", "--award", str(award)).output
    assert "met" in table
    assert "waived" in table
