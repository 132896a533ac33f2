from __future__ import annotations

from datetime import datetime

import typer

from aisc.allocations import service
from aisc.allocations.models import AllocationState
from aisc.allocations.schemas import AllocationCreate, CapacityCheck
from aisc.cli.common import JsonOpt, emit_list, emit_one, parse, uow

app = typer.Typer(help="Allocations and the capacity check.", no_args_is_help=True)
COLUMNS = [
    "id",
    "award_id",
    "kind",
    "gpu_model",
    "partition",
    "gpu_cards",
    "gpu_hours",
    "start_date",
    "end_date",
    "state",
]


@app.command("list")
def list_(
    award: int = typer.Option(None),
    partition: str = typer.Option(None),
    state: AllocationState = typer.Option(None),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    with uow() as ctx:
        emit_list(
            service.list_allocations(
                ctx, award_id=award, partition=partition, state=state, limit=limit, offset=offset
            ),
            COLUMNS,
            as_json,
        )


@app.command("show")
def show(allocation_id: int, as_json: bool = JsonOpt) -> None:
    with uow() as ctx:
        emit_one(
            service.read_allocation(ctx, service.get_allocation(ctx, allocation_id=allocation_id)),
            as_json,
        )


@app.command("create")
def create(
    award: int = typer.Option(...),
    partition: str = typer.Option(None),
    cards: int = typer.Option(None),
    hours: int = typer.Option(None),
    start: datetime = typer.Option(None, formats=["%Y-%m-%d"]),
    end: datetime = typer.Option(None, formats=["%Y-%m-%d"]),
    override_by: int = typer.Option(None, help="operator (person id) overriding the check"),
    justification: str = typer.Option("", help="written reason for the override"),
    as_json: bool = JsonOpt,
) -> None:
    """Allocate (part of) an award on a partition; refused when the GPUs are not there."""
    raw = {
        "award_id": award,
        "partition": partition,
        "gpu_cards": cards,
        "gpu_hours": hours,
        "start_date": start.date() if start else None,
        "end_date": end.date() if end else None,
    }
    if override_by is not None:
        raw["capacity_override"] = {"by_id": override_by, "justification": justification}
    data = parse(AllocationCreate, raw)
    with uow() as ctx:
        emit_one(service.read_allocation(ctx, service.create_allocation(ctx, data=data)), as_json)


@app.command("check")
def check(
    application_id: int, partition: str = typer.Option(None), as_json: bool = JsonOpt
) -> None:
    """What-if: headroom month by month before and after approving APPLICATION_ID."""
    with uow() as ctx:
        result: CapacityCheck = service.application_check(
            ctx, application_id=application_id, partition=partition
        )
    if as_json:
        emit_one(result, True)
        return
    typer.echo(
        f"{result.subject} on {result.gpu_model} / {result.partition}: "
        + (
            "fits"
            if result.fits
            else "DOES NOT FIT: "
            + ", ".join(f"{s.month} short by {s.cards} cards" for s in result.shortfalls)
        )
    )
    emit_list(
        result.months,
        [
            "month",
            "installed_cards",
            "allocatable_cards",
            "committed_before",
            "committed_after",
            "headroom_before",
            "headroom_after",
            "shortfall_cards",
        ],
        False,
    )
