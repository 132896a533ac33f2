from __future__ import annotations

from pathlib import Path

import typer

from aisc.cli.common import JsonOpt, emit_list, emit_one, load_file, parse, uow
from aisc.cluster.schemas import GpuModelRead
from aisc.cluster.service import get_gpu_model, list_gpu_models
from aisc.pricing import service
from aisc.pricing.schemas import PriceListCreate, PriceListRead

gpu_app = typer.Typer(help="The GPU model catalogue.", no_args_is_help=True)
price_app = typer.Typer(help="Versioned list prices.", no_args_is_help=True)


@gpu_app.command("list")
def list_gpus(as_json: bool = JsonOpt) -> None:
    """List the GPU models the price lists and nodes refer to."""
    with uow() as ctx:
        emit_list(
            [GpuModelRead.model_validate(m) for m in list_gpu_models(ctx)],
            ["code", "name", "memory_gb", "bf16_dense_gflops", "fp8_dense_gflops"],
            as_json,
        )


@gpu_app.command("show")
def show_gpu(code: str, as_json: bool = JsonOpt) -> None:
    """Show one GPU model by its code."""
    with uow() as ctx:
        emit_one(GpuModelRead.model_validate(get_gpu_model(ctx, code=code)), as_json)


@price_app.command("list")
def list_prices(as_json: bool = JsonOpt) -> None:
    """List the price lists, each with its effective date and items."""
    with uow() as ctx:
        emit_list(
            [PriceListRead.of(p) for p in service.list_price_lists(ctx)],
            ["version", "effective_from", "items"],
            as_json,
        )


@price_app.command("create")
def create_price(
    file: Path = typer.Option(
        ..., "--file", "-f", help="JSON/YAML: version, effective_from, items"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Add a price list version from a JSON or YAML file."""
    data = parse(PriceListCreate, load_file(file))
    with uow() as ctx:
        emit_one(PriceListRead.of(service.create_price_list(ctx, data=data)), as_json)


@price_app.command("show")
def show_price(version: str, as_json: bool = JsonOpt) -> None:
    """Show one price list version."""
    with uow() as ctx:
        emit_one(PriceListRead.of(service.get_price_list(ctx, version=version)), as_json)
