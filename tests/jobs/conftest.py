"""Fixtures shared by the job tests."""

import pytest

from tests.factories import World


@pytest.fixture
def project(uow, client):
    world = World(uow)
    decision = world.approve(world.reviewed(compute={"gpu_cards": 16}))
    award_id = client.get("/api/v1/awards").json()[0]["id"]
    client.post(f"/api/v1/awards/{award_id}/accept")
    assert decision.subsidy_cap_cents > 0
    world.award_id = award_id
    return world
