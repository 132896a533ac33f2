import json
import re

import pytest

from aisc.accounts.models import Role
from aisc.accounts.schemas import PersonCreate
from aisc.accounts.service import create_person
from tests.factories import World
from tests.helpers import audit_count, error_field, refused

API = "/api/v1/applications"


@pytest.fixture
def world(uow):
    """64 H800 cards in training (8 nodes), no headroom: hand-computable."""
    world = World(uow, capacity_headroom="0")
    with uow() as ctx:
        world.operator = create_person(
            ctx, data=PersonCreate(email="ops@centre.example", name="Ops", roles=[Role.OPERATOR])
        ).id
    return world


def decide(client, app_id, world, **body):
    return client.post(
        f"{API}/{app_id}/decision",
        json={"outcome": "approve", "decided_by_id": world.secretariat, **body},
    )


def test_approval_creates_the_allocation(client, world):
    app_id = world.reviewed()
    decision = decide(client, app_id, world).json()
    assert decision["granted_partition"] == "training"
    allocations = client.get("/api/v1/allocations").json()
    assert len(allocations) == 1
    allocation = allocations[0]
    assert (allocation["award_id"], allocation["gpu_cards"], allocation["partition"]) == (
        decision["award_id"],
        16,
        "training",
    )
    assert (allocation["start_date"], allocation["end_date"]) == ("2025-03-01", "2025-09-01")
    assert allocation["state"] == "scheduled"  # the test clock says 10 Jan 2025
    assert client.get(f"/api/v1/allocations/{allocation['id']}").json() == allocation
    assert client.get("/api/v1/allocations/99").status_code == 404


def test_one_month_short_by_16_cards_is_refused_and_named(client, world, uow):
    first = world.reviewed(compute={"gpu_cards": 48, "months": 6, "preferred_start": "2025-03-01"})
    assert decide(client, first, world).status_code == 201  # 48 of 64 cards, Mar to Aug
    second = world.reviewed(
        title="Second project",
        compute={"gpu_cards": 32, "months": 2, "preferred_start": "2025-08-01"},
    )
    before = audit_count(uow)
    refused = decide(client, second, world)
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail["code"] == "capacity_shortfall"
    assert "2025-08 short by 16 cards" in detail["message"]
    assert "2025-09" not in detail["message"]  # September fits once the first award ends
    assert detail["details"] == [
        {"month": "2025-08", "gpu_model": "H800-SXM5-80GB", "partition": "training", "cards": 16}
    ]
    assert client.get(f"{API}/{second}").json()["status"] == "under_review"
    assert len(client.get("/api/v1/allocations").json()) == 1
    assert client.get("/api/v1/ledger/balance").json()["committed_hkd"] == "6048000.00"
    assert audit_count(uow) == before


def test_a_refused_approval_names_its_application_not_the_award_it_rolled_back(client, world):
    decide(client, world.reviewed(compute={"gpu_cards": 48}), world)
    second = world.reviewed(title="Second project", compute={"gpu_cards": 32})
    refused = decide(client, second, world)
    assert refused.status_code == 409
    message = refused.json()["detail"]["message"]
    # The award flushed inside the refused transaction was rolled back: its id is not one.
    fits = world.reviewed(title="Small project", compute={"gpu_cards": 8})
    award_id = decide(client, fits, world).json()["award_id"]
    assert f"award {award_id}" not in message
    assert not re.search(r"award \d", message), message
    assert message.startswith(f"the approval of application {second} does not fit the H800")


def test_an_operator_override_with_a_reason_is_recorded(client, world):
    first = world.reviewed(compute={"gpu_cards": 48})
    decide(client, first, world)
    second = world.reviewed(title="Second project", compute={"gpu_cards": 32})
    not_operator = decide(
        client,
        second,
        world,
        capacity_override={"by_id": world.secretariat, "justification": "urgent"},
    )
    assert not_operator.status_code == 403
    assert error_field(not_operator) == "capacity_override.by_id"
    blank = decide(
        client, second, world, capacity_override={"by_id": world.operator, "justification": ""}
    )
    assert blank.status_code == 422
    ok = decide(
        client,
        second,
        world,
        capacity_override={
            "by_id": world.operator,
            "justification": "Phase 2 nodes arrive early; vendor confirmed",
        },
    )
    assert ok.status_code == 201
    assert ok.json()["capacity_override_by_id"] == world.operator
    events = client.get("/api/v1/audit/events", params={"object_type": "capacity"}).json()
    assert len(events) == 1
    after = json.loads(events[0]["after"])
    assert after["operator_id"] == world.operator
    assert after["justification"] == "Phase 2 nodes arrive early; vendor confirmed"
    assert after["shortfalls"][0]["cards"] == 16


def test_what_if_shows_headroom_before_and_after(client, cli, world):
    decide(client, world.reviewed(compute={"gpu_cards": 48}), world)
    pending = world.to_review(
        title="Pending project",
        compute={"gpu_cards": 32, "months": 1, "preferred_start": "2025-04-01"},
    )
    check = client.get(f"{API}/{pending}/capacity-check").json()
    assert check["fits"] is False
    assert check["partition"] == "training"
    assert check["months"] == [
        {
            "month": "2025-04",
            "installed_cards": "64.00",
            "allocatable_cards": "64.00",
            "committed_before": "48.00",
            "committed_after": "80.00",
            "headroom_before": "16.00",
            "headroom_after": "-16.00",
            "shortfall_cards": 16,
        }
    ]
    assert json.loads(cli("alloc", "check", str(pending), "--json").output) == check
    assert "DOES NOT FIT: 2025-04 short by 16 cards" in cli("alloc", "check", str(pending)).output
    small = world.to_review(title="Small project", compute={"gpu_cards": 8})
    assert client.get(f"{API}/{small}/capacity-check").json()["fits"] is True
    assert (
        client.get(f"{API}/{small}/capacity-check", params={"partition": "inference"}).json()[
            "months"
        ][0]["installed_cards"]
        == "0.00"
    )
    incomplete = world.create(title="Incomplete", compute={"months": None})
    assert client.get(f"{API}/{incomplete}/capacity-check").status_code == 422
    assert client.get(f"{API}/999/capacity-check").status_code == 404


def test_impossible_allocations_are_refused_with_the_reason(client, cli, world, uow):
    decision = decide(client, world.reviewed(compute={"gpu_cards": 16}), world).json()
    award = decision["award_id"]
    before = audit_count(uow)
    cases = [
        ({"award_id": award}, "gpu_cards"),  # the whole award is already allocated
        ({"award_id": award, "gpu_hours": 10}, "gpu_hours"),
        ({"award_id": award, "partition": "gpu"}, "partition"),
        ({"award_id": award, "partition": "inference"}, "partition"),  # no H800 there
        ({"award_id": award, "start_date": "2024-01-01"}, "start_date"),
        ({"award_id": 999}, "award_id"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/allocations", json=body)
        assert response.status_code == (404 if field == "award_id" else 422), body
        assert error_field(response) == field, body
    assert audit_count(uow) == before
    refused(
        cli, "alloc", "create", "--award", str(award), "--cards", "4", expect=2,
        says="gpu_cards: 4 more cards would exceed", uow=uow,
    )  # fmt: skip


def test_an_award_is_never_allocated_beyond_its_grant(client, cli, world):
    award = decide(
        client, world.reviewed(compute={"gpu_cards": 16}), world, grant={"gpu_cards": 8}
    ).json()["award_id"]
    # The approval allocated 8 cards for the whole period; the award has no more to give.
    assert client.get("/api/v1/allocations", params={"award_id": award}).json()[0]["gpu_cards"] == 8
    too_big = client.post("/api/v1/allocations", json={"award_id": award, "gpu_cards": 1000})
    assert too_big.status_code == 422
    pooled = world.reviewed(
        title="Pooled project", compute={"kind": "pooled", "gpu_cards": None, "gpu_hours": 1000}
    )
    pooled_award = decide(client, pooled, world, grant={"gpu_hours": 600}).json()["award_id"]
    more = cli("alloc", "create", "--award", str(pooled_award), "--hours", "400", expect=2)
    assert "would exceed the award's 600" in more.output
    rows = json.loads(cli("alloc", "list", "--award", str(pooled_award), "--json").output)
    assert [(r["kind"], r["gpu_hours"]) for r in rows] == [("pooled", 600)]
    assert (
        json.loads(cli("alloc", "show", str(rows[0]["id"]), "--json").output)["id"] == rows[0]["id"]
    )
    assert "pooled" in cli("alloc", "list").output


def test_states_follow_the_calendar_and_the_award(client, world, clock):
    decide(client, world.reviewed(), world)
    allocation_id = client.get("/api/v1/allocations").json()[0]["id"]

    def state():
        return client.get(f"/api/v1/allocations/{allocation_id}").json()["state"]

    assert state() == "scheduled"
    clock.advance(days=60)  # 11 March 2025
    assert state() == "active"
    assert (
        client.get("/api/v1/allocations", params={"state": "active"}).json()[0]["id"]
        == allocation_id
    )
    clock.advance(days=200)
    assert state() == "ended"


def test_allocated_share_and_plot(client, cli, world, tmp_path):
    decide(client, world.reviewed(compute={"gpu_cards": 48}), world)
    use = client.get("/api/v1/cluster/utilisation", params={"as_of": "2025-04-15"}).json()
    assert use["now"]["month"] == "2025-04"
    assert use["now"]["allocated_pct"] == "60.0"  # 48 of 80 installed (64 H800 + 16 L40S)
    assert use["headroom_pct"] == "0.00"
    stats = client.get("/api/v1/scheme/stats", params={"as_of": "2025-04-15"}).json()
    assert stats["allocated_pct_now"] == "60.0"
    assert stats["allocated_month"] == "2025-04"
    assert "60.0%" in cli("cluster", "utilisation", "--as-of", "2025-04-15").output
    assert (
        json.loads(cli("cluster", "utilisation", "--json", "--as-of", "2025-04-15").output)["now"][
            "allocated_pct"
        ]
        == "60.0"
    )
    png = client.get("/api/v1/cluster/capacity/plot", params={"as_of": "2025-04-15"})
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = client.get("/api/v1/cluster/capacity/plot", params={"format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    assert client.get("/api/v1/cluster/capacity/plot", params={"format": "gif"}).status_code == 422
    out = tmp_path / "capacity.svg"
    assert "wrote" in cli("cluster", "plot", "--out", str(out)).output
    assert out.read_bytes().lstrip().startswith(b"<?xml")
    refused(cli, "cluster", "plot", "--out", str(tmp_path / "x.bmp"), expect=2, says="format:")
    assert not (tmp_path / "x.bmp").exists()


def test_suspension_follows_the_award(client, cli, world, clock):
    award = decide(client, world.reviewed(), world).json()["award_id"]
    clock.advance(days=60)
    allocation = client.get("/api/v1/allocations").json()[0]["id"]
    assert (
        client.post(f"/api/v1/awards/{award}/suspend", json={"reason": "late"}).status_code == 409
    )  # offered, not yet active
    client.post(f"/api/v1/awards/{award}/accept")
    suspended = client.post(
        f"/api/v1/awards/{award}/suspend", json={"reason": "progress report overdue"}
    )
    assert suspended.json()["status"] == "suspended"
    assert client.get(f"/api/v1/allocations/{allocation}").json()["state"] == "suspended"
    assert client.post(f"/api/v1/awards/{award}/suspend", json={"reason": "x"}).status_code == 409
    assert client.post(f"/api/v1/awards/{award}/resume").json()["status"] == "active"
    assert client.get(f"/api/v1/allocations/{allocation}").json()["state"] == "active"
    assert client.post(f"/api/v1/awards/{award}/resume").status_code == 409
    refused(cli, "award", "suspend", str(award), "--reason", " ", expect=2, says="needs a reason")
    assert client.get(f"/api/v1/awards/{award}").json()["status"] == "active"
    # The command line reads at today's date, after the award's period: it reads "ended"
    # (AwardPhase); the status recorded is the one that moved.
    assert (
        json.loads(cli("award", "suspend", str(award), "--reason", "audit", "--json").output)[
            "recorded_status"
        ]
        == "suspended"
    )
    resumed = json.loads(cli("award", "resume", str(award), "--json").output)
    assert (resumed["status"], resumed["recorded_status"]) == ("ended", "active")
