from __future__ import annotations

from fastapi import APIRouter

from aisc.cluster import service
from aisc.cluster.schemas import GpuModelRead
from aisc.http import Uow

router = APIRouter(prefix="/gpu-models", tags=["cluster"])


@router.get("", response_model=list[GpuModelRead])
def list_gpu_models(uow: Uow) -> list[GpuModelRead]:
    with uow() as ctx:
        return [GpuModelRead.model_validate(m) for m in service.list_gpu_models(ctx.db)]


@router.get("/{code}", response_model=GpuModelRead)
def get_gpu_model(code: str, uow: Uow) -> GpuModelRead:
    with uow() as ctx:
        return GpuModelRead.model_validate(service.get_gpu_model(ctx.db, code=code))
