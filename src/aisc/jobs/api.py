from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import PlainTextResponse

from aisc.executors.sandbox import refusal
from aisc.http import IdPath, IdQuery, PagingDep, Uow, requires
from aisc.jobs import service
from aisc.jobs.models import JobState
from aisc.jobs.schemas import JobRead, JobSubmit

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post(
    "",
    response_model=JobRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("job.submit")],
)
def submit(data: JobSubmit, uow: Uow, request: Request) -> JobRead:
    """Submit a job; the gateway refuses (naming why) what cannot or may not run."""
    settings = request.app.state.settings
    refused = refusal(settings.job_isolation, settings.executor)
    with uow() as ctx:
        return service.read_job(
            ctx,
            service.submit(ctx, data=data, backend=settings.executor, isolation_refusal=refused),
        )


@router.get("", response_model=list[JobRead], dependencies=[requires("job.read")])
def list_jobs(
    uow: Uow, page: PagingDep, award_id: IdQuery = None, state: JobState | None = None
) -> list[JobRead]:
    """Jobs, with start-time estimates for pending ones."""
    with uow() as ctx:
        return service.read_jobs(
            ctx,
            service.list_jobs(
                ctx, award_id=award_id, state=state, limit=page.limit, offset=page.offset
            ),
        )


@router.get("/{job_id}", response_model=JobRead, dependencies=[requires("job.read")])
def get_job(job_id: IdPath, uow: Uow) -> JobRead:
    with uow() as ctx:
        return service.read_job(ctx, service.get_job(ctx, job_id=job_id))


@router.post("/{job_id}/cancel", response_model=JobRead, dependencies=[requires("job.cancel")])
def cancel(job_id: IdPath, uow: Uow) -> JobRead:
    with uow() as ctx:
        return service.read_job(ctx, service.cancel(ctx, job_id=job_id))


@router.get("/{job_id}/logs", response_class=PlainTextResponse, dependencies=[requires("job.read")])
def logs(job_id: IdPath, uow: Uow, stream: Literal["stdout", "stderr"] = Query("stdout")) -> str:
    with uow() as ctx:
        return service.logs(ctx, job_id=job_id, stream=stream)
