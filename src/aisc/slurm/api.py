"""The provisioning sync over the API (operators): preview it, or run it."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from aisc.errors import Conflict
from aisc.http import Uow, requires
from aisc.slurm.schemas import SyncRead
from aisc.slurm.sync import sync

router = APIRouter(prefix="/slurm", tags=["slurm"])


@router.post("/sync", response_model=SyncRead, dependencies=[requires("cluster.provision")])
def run_sync(
    request: Request,
    uow: Uow,
    dry_run: bool = Query(False, description="list the changes, make none"),
) -> SyncRead:
    """Make Slurm's accounts, users, QOS budgets and reservations match the awards."""
    settings = request.app.state.settings
    if settings.executor != "slurm":
        raise Conflict(
            "this deployment runs jobs on the local executor; set AISC_EXECUTOR=slurm to "
            "provision a Slurm cluster",
            field="executor",
        )
    backend = request.app.state.deployment.slurm
    with uow() as ctx:
        result = sync(ctx, backend.commands, dry_run=dry_run, prefix=settings.slurm_account_prefix)
    return result.read()
