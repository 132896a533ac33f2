from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer

from aisc.allocations.service import utilisation
from aisc.cli.common import DateOpt, JsonOpt, bounded_day, dump, emit_list, emit_one, parse, uow
from aisc.cluster import service
from aisc.cluster.inventory import import_inventory
from aisc.cluster.models import NodeState
from aisc.cluster.pflops import capacity_report
from aisc.cluster.schemas import NodeIn, NodeRead, NodeStateIn, PartitionIn, PartitionRead, PhaseIn
from aisc.errors import ValidationFailed

app = typer.Typer(help="The centre's hardware: partitions, nodes, capacity.", no_args_is_help=True)


def _day(value: datetime | None, today: date) -> date:
    return value.date() if value else today


@app.command("partitions")
def partitions(as_json: bool = JsonOpt) -> None:
    """List the cluster's partitions."""
    with uow() as ctx:
        emit_list(
            [PartitionRead.model_validate(p) for p in service.list_partitions(ctx)],
            ["name", "max_walltime_hours", "description"],
            as_json,
        )


@app.command("partition-set")
def partition_set(
    name: str,
    max_walltime_hours: int = typer.Option(...),
    description: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Create a partition or update it."""
    data = parse(
        PartitionIn,
        {"name": name, "max_walltime_hours": max_walltime_hours, "description": description},
    )
    with uow() as ctx:
        emit_one(PartitionRead.model_validate(service.upsert_partition(ctx, data=data)[0]), as_json)


@app.command("nodes")
def nodes(
    partition: str = typer.Option(None),
    state: NodeState = typer.Option(None),
    gpu_model: str = typer.Option(None),
    limit: int = 1000,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """List nodes, by partition, state or GPU model."""
    with uow() as ctx:
        rows = [
            NodeRead.of(n)
            for n in service.list_nodes(
                ctx,
                partition=partition,
                state=state,
                gpu_model=gpu_model,
                limit=limit,
                offset=offset,
            )
        ]
    emit_list(
        rows,
        ["name", "gpu_model", "gpu_count", "partition", "state", "state_reason", "installed_on"],
        as_json,
    )


@app.command("node")
def node(name: str, as_json: bool = JsonOpt) -> None:
    """Show one node by name."""
    with uow() as ctx:
        emit_one(NodeRead.of(service.get_node(ctx, name=name)), as_json)


@app.command("node-set")
def node_set(
    name: str,
    gpu_model: str = typer.Option(...),
    gpu_count: int = typer.Option(8),
    cpu_cores: int = typer.Option(...),
    memory_gb: int = typer.Option(...),
    partition: str = typer.Option(...),
    rack: str = "",
    leaf_switch: str = "",
    installed_on: datetime = typer.Option(..., formats=["%Y-%m-%d"], callback=bounded_day),
    as_json: bool = JsonOpt,
) -> None:
    """Create a node or update it."""
    data = parse(
        NodeIn,
        {
            "name": name,
            "gpu_model": gpu_model,
            "gpu_count": gpu_count,
            "cpu_cores": cpu_cores,
            "memory_gb": memory_gb,
            "partition": partition,
            "rack": rack,
            "leaf_switch": leaf_switch,
            "installed_on": installed_on.date(),
        },
    )
    with uow() as ctx:
        emit_one(NodeRead.of(service.upsert_node(ctx, data=data)[0]), as_json)


@app.command("node-state")
def node_state(
    name: str, state: NodeState, reason: str = typer.Option(""), as_json: bool = JsonOpt
) -> None:
    """Set a node up, draining, down or in maintenance (a reason is required unless up)."""
    data = parse(NodeStateIn, {"state": state, "reason": reason})
    with uow() as ctx:
        emit_one(NodeRead.of(service.set_node_state(ctx, name=name, data=data)), as_json)


@app.command("import")
def import_(
    file: Path,
    format: str = typer.Option(None, help="yaml or csv (default: suffix)"),
    as_json: bool = JsonOpt,
) -> None:
    """Import an inventory file: all or nothing, errors with line numbers."""
    fmt = (format or file.suffix.lstrip(".")).lower()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationFailed(f"cannot read {file}: {exc.strerror}", field="file") from exc
    with uow() as ctx:
        emit_one(import_inventory(ctx, text=text, fmt=fmt), as_json)


@app.command("phases")
def phases(as_json: bool = JsonOpt) -> None:
    """List the build-out phases: target dates and PFLOPS."""
    with uow() as ctx:
        rows = [
            PhaseIn(
                name=p.name, target_date=p.target_date, target_pflops=p.target_pflops, note=p.note
            )
            for p in service.list_phases(ctx)
        ]
    emit_list(rows, ["name", "target_date", "target_pflops", "note"], as_json)


@app.command("capacity")
def capacity(
    as_of: datetime = DateOpt, reference_model: str = typer.Option(None), as_json: bool = JsonOpt
) -> None:
    """Installed PFLOPS on each precision basis, and what each phase target implies."""
    with uow() as ctx:
        report = capacity_report(
            ctx, as_of=_day(as_of, ctx.now.date()), reference_model=reference_model
        )
    if as_json:
        typer.echo(dump(report))
        return
    p = report.installed_pflops
    typer.echo(
        f"installed on {report.as_of}: {report.installed_gpus} GPUs in "
        f"{report.installed_nodes} nodes"
    )
    typer.echo(
        f"  PFLOPS  FP8 dense {p.fp8_dense}  FP8 sparse {p.fp8_sparse}  "
        f"BF16 dense {p.bf16_dense}  BF16 sparse {p.bf16_sparse}"
    )
    for model in report.by_model:
        typer.echo(
            f"  {model.gpu_model}: {model.gpus} GPUs, {model.nodes} nodes, "
            f"BF16 dense {model.pflops.bf16_dense} PFLOPS"
        )
    for phase in report.phases:
        typer.echo(
            f"\n{phase.name}: {phase.target_pflops} PFLOPS by {phase.target_date} "
            f"(installed then: BF16 dense {phase.installed_pflops.bf16_dense}, "
            f"FP8 dense {phase.installed_pflops.fp8_dense})"
        )
        for item in phase.implies:
            typer.echo(
                f"  on {item.basis:11} = {item.gpus:5} {report.reference_model} GPUs "
                f"= {item.nodes:4} 8-GPU nodes"
            )


@app.command("utilisation")
def utilisation_cmd(as_of: datetime = DateOpt, as_json: bool = JsonOpt) -> None:
    """Installed, allocatable and committed GPU cards per month; allocated % of installed."""
    with uow() as ctx:
        result = utilisation(ctx, today=_day(as_of, ctx.now.date()))
    if as_json:
        typer.echo(dump(result))
        return
    emit_list(
        result.months,
        ["month", "installed_cards", "allocatable_cards", "committed_cards", "allocated_pct"],
        False,
    )
    if result.now:
        typer.echo(
            f"now ({result.now.month}): {result.now.allocated_pct}% of installed GPUs allocated"
        )


@app.command("plot")
def plot(
    out: Path = typer.Option(..., "--out", help="file.png or file.svg"), as_of: datetime = DateOpt
) -> None:
    """Chart supply against commitments over the scheme's months."""
    from aisc.reports.plots import capacity_plot  # matplotlib loads for this command only

    fmt = out.suffix.lstrip(".").lower()
    with uow() as ctx:
        body = capacity_plot(utilisation(ctx, today=_day(as_of, ctx.now.date())), fmt=fmt)
    out.write_bytes(body)
    typer.echo(f"wrote {out} ({len(body)} bytes)")


@app.command("detect-local")
def detect_local(
    partition: str = typer.Option(..., help="partition to put this machine's node in"),
    name: str = typer.Option(None, help="node name (default: local-HOSTNAME)"),
    gpu_model: str = typer.Option(None, help="catalogue code, when the device name is not known"),
    as_json: bool = JsonOpt,
) -> None:
    """Record this machine's real GPUs (found through nvidia-smi) as a node of the inventory."""
    import os
    import socket

    from aisc.errors import NotFound
    from aisc.executors.gpus import catalogue_code, detect_gpus

    gpus = detect_gpus()
    if not gpus:
        raise NotFound(
            "no NVIDIA GPUs found on this machine (nvidia-smi absent or failing); "
            "the inventory stays virtual",
            field="gpus",
        )
    with uow() as ctx:
        known = [m.code for m in service.list_gpu_models(ctx)]
        model = gpu_model or catalogue_code(gpus[0].name, known)
        if model is None:
            raise ValidationFailed(
                f"gpu_model: {gpus[0].name!r} is not in the catalogue; pass --gpu-model",
                field="gpu_model",
            )
        data = parse(
            NodeIn,
            {
                "name": name or f"local-{socket.gethostname()}"[:100],
                "gpu_model": model,
                "gpu_count": len(gpus),
                "cpu_cores": os.cpu_count() or 1,
                "memory_gb": max(
                    1, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30
                ),
                "partition": partition,
                "installed_on": ctx.now.date(),
            },
        )
        emit_one(NodeRead.of(service.upsert_node(ctx, data=data)[0]), as_json)
