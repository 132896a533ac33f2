from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from aisc.allocations import service
from aisc.allocations.models import AllocationState
from aisc.allocations.schemas import AllocationCreate, CapacityCheck
from aisc.cli.common import JsonOpt, bounded_day, emit_list, emit_one, parse, uow
from aisc.errors import ValidationFailed

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
    """List allocations, by award, partition or state."""
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
    """Show one allocation."""
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
    start: datetime = typer.Option(None, formats=["%Y-%m-%d"], callback=bounded_day),
    end: datetime = typer.Option(None, formats=["%Y-%m-%d"], callback=bounded_day),
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


def _profile(trace: Path | None, trace_format: str) -> Any:
    from aisc.simulate.planner import Profile
    from aisc.simulate.traces import read_jobs_csv, read_philly

    if trace is None:
        return Profile.philly()
    if trace_format not in ("philly", "csv"):
        raise ValidationFailed(f"--format: {trace_format!r} is not philly or csv", field="format")
    jobs = read_philly(trace) if trace_format == "philly" else read_jobs_csv(trace)
    return Profile.from_trace(trace.name, jobs)


@app.command("check")
def check(
    application_id: int,
    partition: str = typer.Option(None),
    forecast: bool = typer.Option(
        False, "--forecast", help="also simulate queueing and busy % with and without it"
    ),
    trace: Path = typer.Option(None, help="workload profile from this trace (default: Philly's)"),
    trace_format: str = typer.Option("csv", "--format", help="philly or csv, for --trace"),
    as_json: bool = JsonOpt,
) -> None:
    """What-if: headroom month by month before and after approving APPLICATION_ID."""
    with uow() as ctx:
        result: CapacityCheck = service.application_check(
            ctx, application_id=application_id, partition=partition
        )
    if forecast:
        from aisc.allocations.forecast import forecast_check

        result = forecast_check(result, _profile(trace, trace_format))
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
    if result.forecast is not None:
        facts = result.forecast.assumptions
        typer.echo(
            f"forecast (simulated through the scheduling core, profile {facts.profile}, "
            f"{facts.realisation:.0%} of committed cards busy): queueing and busy % of "
            "installed GPUs"
        )
        typer.echo(
            f"{'month':<8} {'busy before':>11} {'busy after':>10} {'wait before':>12} "
            f"{'wait after':>11} {'p90 after':>10}"
        )
        for row in result.forecast.months:
            flag = "  overloaded" if row.overloaded_after else ""
            typer.echo(
                f"{row.month:<8} {row.busy_pct_before:>10.1f}% {row.busy_pct_after:>9.1f}% "
                f"{row.wait_mean_s_before:>11.0f}s {row.wait_mean_s_after:>10.0f}s "
                f"{row.wait_p90_s_after:>9.0f}s{flag}"
            )
