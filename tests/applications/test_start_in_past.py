"""Screening flags a preferred start that has already passed on the day of screening."""

from tests.factories import World

API = "/api/v1/applications"


def test_a_preferred_start_in_the_past_is_a_screening_finding(client, uow, clock):
    world = World(uow)  # the clock reads 2025-01-10
    late = client.post(
        API, json=world.payload(title="Late start", compute={"preferred_start": "2025-01-02"})
    ).json()
    client.post(f"{API}/{late['id']}/submit")
    screened = client.post(f"{API}/{late['id']}/screen").json()
    [finding] = screened["screening_findings"]
    assert finding["code"] == "start_in_past"
    assert finding["field"] == "compute.preferred_start"
    assert "2025-01-02" in finding["message"]
    assert "2025-01-10" in finding["message"]
    # Advisory: it does not hold the application back; the decision sets the granted start.
    assert client.post(f"{API}/{late['id']}/start-review").json()["status"] == "under_review"

    on_time = client.post(API, json=world.payload(title="On time")).json()  # 2025-03-01
    client.post(f"{API}/{on_time['id']}/submit")
    assert client.post(f"{API}/{on_time['id']}/screen").json()["screening_findings"] == []
    # The same request screened later, once its start has passed, is flagged then.
    clock.advance(days=60)
    preview = client.get(f"{API}/{on_time['id']}/screening").json()
    assert [f["code"] for f in preview] == ["start_in_past"]
    # Today itself is not in the past.
    today = client.post(
        API, json=world.payload(title="Starts today", compute={"preferred_start": "2025-03-11"})
    ).json()
    assert client.get(f"{API}/{today['id']}/screening").json() == []
