from __future__ import annotations

from datetime import datetime

from pydantic import Field

from aisc.schemas import ReadSchema


class UsageRead(ReadSchema):
    id: int
    source: str = Field(description="the executor that measured it: local or slurm")
    job_id: int | None
    award_id: int
    gpu_model_code: str
    gpu_seconds: int
    started_at: datetime
    ended_at: datetime
    recorded_at: datetime
