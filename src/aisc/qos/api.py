from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from aisc.http import IdPath, Uow, requires
from aisc.qos import service
from aisc.qos.schemas import QosGrantCreate, QosGrantRead, QosRevoke, QosTiersRead

router = APIRouter(prefix="/awards/{award_id}/qos", tags=["qos"])
GrantPath = Annotated[int, Path(gt=0, lt=2**31)]


@router.get("", response_model=QosTiersRead, dependencies=[requires("qos.read")])
def award_tiers(award_id: IdPath, uow: Uow) -> QosTiersRead:
    """The QOS tiers the award's jobs may use now, and every grant it was given."""
    with uow() as ctx:
        return service.award_tiers(ctx, award_id=award_id)


@router.post(
    "",
    response_model=QosGrantRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("qos.grant")],
)
def grant(award_id: IdPath, data: QosGrantCreate, uow: Uow) -> QosGrantRead:
    """Grant the award a privileged tier (hero, debug), optionally limited and expiring."""
    with uow() as ctx:
        return service.read_grant(ctx, service.grant(ctx, award_id=award_id, data=data))


@router.post(
    "/{grant_id}/revoke", response_model=QosGrantRead, dependencies=[requires("qos.grant")]
)
def revoke(award_id: IdPath, grant_id: GrantPath, data: QosRevoke, uow: Uow) -> QosGrantRead:
    """End a grant now: new jobs of the award can no longer use the tier."""
    with uow() as ctx:
        row = service.revoke(ctx, award_id=award_id, grant_id=grant_id, reason=data.reason)
        return service.read_grant(ctx, row)
