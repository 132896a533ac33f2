from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from aisc.jobs.models import JobQos
from aisc.schemas import ReadSchema, Schema


class QosGrantCreate(Schema):
    qos: JobQos = Field(description="a privileged tier (hero, debug); the others need no grant")
    gpu_hours: int | None = Field(
        default=None, gt=0, lt=2**31, description="GPU-hours the award may run in the tier"
    )
    expires_on: date | None = Field(
        default=None,
        ge=date(2000, 1, 1),
        le=date(2100, 12, 31),
        description="the grant ends at the start of this day (UTC); none: until revoked",
    )
    reason: str = Field(default="", max_length=2000)


class QosRevoke(Schema):
    reason: str = Field(default="", max_length=2000)


class QosGrantRead(ReadSchema):
    id: int
    award_id: int
    qos: JobQos
    gpu_hours: int | None
    expires_at: datetime | None
    reason: str
    granted_at: datetime
    granted_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    in_force: bool = Field(description="granted, not expired, not revoked")
    used_gpu_seconds: int = Field(
        description="GPU-seconds run and queued in the tier since the grant"
    )


class QosTiersRead(Schema):
    award_id: int
    tiers: list[JobQos] = Field(description="the tiers the award's jobs may use now")
    grants: list[QosGrantRead]
