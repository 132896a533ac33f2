from __future__ import annotations

import re
from datetime import datetime

from pydantic import Field, field_validator

from aisc.errors import ValidationFailed
from aisc.executors.sandbox import check_environment, check_workdir
from aisc.jobs.models import Backend, Job, JobQos, JobState
from aisc.schemas import Id, ReadSchema, Schema


class JobSubmit(Schema):
    award_id: Id
    submitted_by_id: Id | None = Field(
        default=None, description="the submitter; a signed-in person may only name themself"
    )
    name: str = Field(default="", max_length=200)
    partition: str = Field(min_length=1, max_length=50)
    gpu_model: str | None = Field(default=None, max_length=50)
    nodes: int = Field(default=1, ge=1, le=1024)
    gpus_per_node: int = Field(default=1, ge=0, le=64)
    walltime_s: int = Field(gt=0, le=366 * 86_400, description="walltime in seconds (required)")
    command: list[str] = Field(
        min_length=1, max_length=1000, description="argument list; it is never passed to a shell"
    )
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="the job's own variables: names of letters, digits and _, none that the "
        "platform sets (AISC_*, CUDA_VISIBLE_DEVICES) or that load code (LD_*, BASH_ENV, ENV, "
        "PYTHON* hooks); at most 100, values up to 4,096 characters, 32 KiB in all",
    )
    workdir: str = Field(
        default="",
        max_length=1024,
        description="working directory, relative to the project's space (default: a directory "
        "of the job's own there); it must exist",
    )
    qos: JobQos = JobQos.STANDARD
    preemptible: bool = False

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("the program (first argument) is empty")
        if any("\x00" in part for part in value):
            raise ValueError("arguments may not contain NUL characters")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        check_environment(value)
        return value

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: str) -> str:
        return check_workdir(value)


class JobRead(ReadSchema):
    id: int
    award_id: int
    submitted_by_id: int
    name: str
    partition: str
    gpu_model: str
    nodes: int
    gpus_per_node: int
    walltime_s: int
    command: list[str]
    qos: JobQos
    preemptible: bool
    state: JobState
    reason: str
    submitted_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    estimated_start: datetime | None
    exit_code: int | None
    placement: list[dict[str, object]]
    attempt: int
    backend: Backend = Field(default=Backend.LOCAL, description="local, or slurm")
    backend_id: str | None = Field(default=None, description="the Slurm job id, once handed over")

    @classmethod
    def of(cls, job: Job, partition: str) -> JobRead:
        return cls(
            id=job.id,
            award_id=job.award_id,
            submitted_by_id=job.submitted_by_id,
            name=job.name,
            partition=partition,
            gpu_model=job.gpu_model_code,
            nodes=job.nodes,
            gpus_per_node=job.gpus_per_node,
            walltime_s=job.walltime_s,
            command=list(job.command),
            qos=job.qos,
            preemptible=job.preemptible,
            state=job.state,
            reason=job.reason,
            submitted_at=job.submitted_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            estimated_start=job.estimated_start,
            exit_code=job.exit_code,
            placement=job.placement.as_json(),
            attempt=job.attempt,
            backend=job.backend,
            backend_id=job.backend_id,
        )


# ASCII digits, nine at most per part: nothing ``int`` cannot read or a database cannot hold.
DURATION = re.compile(
    r"^(?:([0-9]{1,9})d)?(?:([0-9]{1,9})h)?(?:([0-9]{1,9})m)?(?:([0-9]{1,9})s?)?$"
)


def parse_walltime(text: str) -> int:
    """``3600``, ``90m``, ``1h30m``, ``2d`` -> seconds."""
    match = DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValidationFailed(
            f"walltime: {text!r} is not a duration like 90m or 1h30m", field="walltime"
        )
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
