"""PFLOPS derived from the inventory, with the precision basis always stated.

"1,300 PFLOPS" means nothing until one says on which basis: the same H800 fleet is ~1.3 EFLOPS
of dense BF16 and ~5.2 EFLOPS of sparse FP8. This report gives installed PFLOPS on each basis and,
for each announced phase target, how many GPUs and 8-GPU nodes of the reference model it implies
on each basis.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import ROUND_CEILING, Decimal

from aisc.access import authorize
from aisc.cluster.models import GpuModel, Node
from aisc.cluster.schemas import (
    BasisFigures,
    CapacityReport,
    ModelInstalled,
    PhaseImplication,
    PhaseReport,
)
from aisc.cluster.service import get_gpu_model, installed_nodes, list_gpu_models, list_phases
from aisc.context import Ctx

BASES = ("fp8_dense", "fp8_sparse", "bf16_dense", "bf16_sparse")
GFLOPS_PER_PFLOPS = 1_000_000
NODE_SIZE = 8


def per_gpu_gflops(model: GpuModel) -> dict[str, int]:
    sparse = 2 if model.sparsity_2x else 1
    return {
        "fp8_dense": model.fp8_dense_gflops,
        "fp8_sparse": model.fp8_dense_gflops * sparse,
        "bf16_dense": model.bf16_dense_gflops,
        "bf16_sparse": model.bf16_dense_gflops * sparse,
    }


def _pflops(gflops: int) -> Decimal:
    return (Decimal(gflops) / GFLOPS_PER_PFLOPS).quantize(Decimal("0.1"))


def _figures(nodes: list[Node], models: dict[str, GpuModel]) -> BasisFigures:
    totals = dict.fromkeys(BASES, 0)
    for node in nodes:
        for basis, value in per_gpu_gflops(models[node.gpu_model_code]).items():
            totals[basis] += value * node.gpu_count
    return BasisFigures(**{basis: _pflops(v) for basis, v in totals.items()})


def capacity_report(ctx: Ctx, *, as_of: date, reference_model: str | None = None) -> CapacityReport:
    """Installed PFLOPS on ``as_of`` and what each phase implies (inventory arithmetic: what
    ``cluster.read`` shows, added up)."""
    authorize(ctx, "cluster.read")
    if reference_model is not None:
        get_gpu_model(ctx, code=reference_model)
    models = {m.code: m for m in list_gpu_models(ctx)}
    nodes = installed_nodes(ctx, on=as_of)
    gpus_by_model: Counter[str] = Counter()
    nodes_by_model: Counter[str] = Counter()
    for node in nodes:
        gpus_by_model[node.gpu_model_code] += node.gpu_count
        nodes_by_model[node.gpu_model_code] += 1
    reference = reference_model or (gpus_by_model.most_common(1)[0][0] if gpus_by_model else None)
    if reference is None and models:
        reference = next(iter(sorted(models)))
    by_model = [
        ModelInstalled(
            gpu_model=code,
            gpus=gpus_by_model[code],
            nodes=nodes_by_model[code],
            pflops=_figures([n for n in nodes if n.gpu_model_code == code], models),
        )
        for code in sorted(gpus_by_model)
    ]
    phases = []
    for phase in list_phases(ctx):
        implies = []
        if reference is not None and reference in models:
            for basis, per_gpu in per_gpu_gflops(models[reference]).items():
                gpus = int(
                    (Decimal(phase.target_pflops * GFLOPS_PER_PFLOPS) / per_gpu).to_integral_value(
                        rounding=ROUND_CEILING
                    )
                )
                implies.append(
                    PhaseImplication(basis=basis, gpus=gpus, nodes=-(-gpus // NODE_SIZE))
                )
        phases.append(
            PhaseReport(
                name=phase.name,
                target_date=phase.target_date,
                target_pflops=phase.target_pflops,
                installed_pflops=_figures(installed_nodes(ctx, on=phase.target_date), models),
                implies=implies,
            )
        )
    return CapacityReport(
        as_of=as_of,
        reference_model=reference,
        installed_gpus=sum(gpus_by_model.values()),
        installed_nodes=len(nodes),
        installed_pflops=_figures(nodes, models),
        by_model=by_model,
        phases=phases,
    )
