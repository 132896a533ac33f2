from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from aisc.awards.models import Award
from tests.factories import World


@pytest.fixture
def world(uow):
    return World(uow, capacity_headroom="0")


def approved(world: World, **decision: Any) -> int:
    """An approved award (offered) of a 16-card, 6-month application starting 2025-03-01."""
    app_id = world.reviewed()
    world.approve(app_id, **decision)
    with world.uow() as ctx:
        return int(ctx.db.scalar(select(Award.id).where(Award.application_id == app_id)))
