"""GPU model catalogue service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aisc.audit.service import record
from aisc.cluster.catalogue import CATALOGUE
from aisc.cluster.models import GpuModel
from aisc.context import Ctx
from aisc.errors import NotFound


def list_gpu_models(db: Session) -> list[GpuModel]:
    return list(db.execute(select(GpuModel).order_by(GpuModel.code)).scalars())


def get_gpu_model(db: Session, *, code: str) -> GpuModel:
    model = db.get(GpuModel, code)
    if model is None:
        raise NotFound(f"GPU model {code!r} is not in the catalogue", field="gpu_model")
    return model


def ensure_catalogue(ctx: Ctx) -> list[GpuModel]:
    """Insert the published catalogue entries that are missing (idempotent)."""
    added = []
    for spec in CATALOGUE:
        if ctx.db.get(GpuModel, spec["code"]) is None:
            model = GpuModel(**spec)
            ctx.db.add(model)
            ctx.db.flush()
            record(
                ctx,
                action="gpu_model.create",
                object_type="gpu_model",
                object_id=model.code,
                after=spec,
            )
            added.append(model)
    return added
