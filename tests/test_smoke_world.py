from aisc.applications.models import ApplicationStatus
from aisc.applications.service import get_application
from tests.factories import World


def test_world_builds_and_an_application_reaches_approval(uow):
    world = World(uow)
    app_id = world.reviewed()
    decision = world.approve(app_id)
    assert decision.subsidy_cap_cents == 16 * 6 * 3_000_000 * 7000 // 10000
    with uow() as ctx:
        assert get_application(ctx, application_id=app_id).status is ApplicationStatus.APPROVED
