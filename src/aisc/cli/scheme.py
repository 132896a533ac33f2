from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import typer

from aisc.accounts.models import OrgCategory
from aisc.cli.common import JsonOpt, bounded_day, dump, emit_list, emit_one, load_file, parse, uow
from aisc.reports import opendata
from aisc.reports.stats import scheme_stats
from aisc.scheme import service
from aisc.scheme.schemas import (
    CategoriesReplace,
    CriteriaReplace,
    CriterionRead,
    SchemeCreate,
    SchemeUpdate,
)

app = typer.Typer(
    help="The subsidy scheme: fund, rates, criteria, statistics.", no_args_is_help=True
)


@app.command("init")
def init(
    file: Path = typer.Option(None, "--file", "-f", help="JSON/YAML scheme definition"),
    as_json: bool = JsonOpt,
) -> None:
    """Set the scheme up (defaults: the published AI Subsidy Scheme)."""
    data = parse(SchemeCreate, load_file(file) if file else {})
    with uow() as ctx:
        emit_one(service.read_scheme(ctx, service.init_scheme(ctx, data=data)), as_json)


@app.command("show")
def show(as_json: bool = JsonOpt) -> None:
    """Show the scheme's settings and fund."""
    with uow() as ctx:
        emit_one(service.read_scheme(ctx, service.get_scheme(ctx)), as_json)


@app.command("update")
def update(
    name: str = typer.Option(None),
    start_date: str = typer.Option(None, help="YYYY-MM-DD"),
    end_date: str = typer.Option(None, help="YYYY-MM-DD"),
    default_rate: Decimal = typer.Option(None, help="e.g. 0.70"),
    exceptional_max_rate: Decimal = typer.Option(None, help="e.g. 0.90"),
    review_quorum: int = typer.Option(None),
    capacity_headroom: Decimal = typer.Option(None, help="share of GPUs kept back, e.g. 0.05"),
    over_award: str = typer.Option(None, help="refuse | full_price: usage beyond an award"),
    as_json: bool = JsonOpt,
) -> None:
    """Change scheme settings."""
    fields = {
        "name": name,
        "start_date": start_date,
        "end_date": end_date,
        "default_rate": default_rate,
        "exceptional_max_rate": exceptional_max_rate,
        "review_quorum": review_quorum,
        "capacity_headroom": capacity_headroom,
        "over_award_policy": over_award,
    }
    data = parse(SchemeUpdate, {k: v for k, v in fields.items() if v is not None})
    with uow() as ctx:
        emit_one(service.read_scheme(ctx, service.update_scheme(ctx, data=data)), as_json)


@app.command("criteria")
def criteria(
    set_: list[str] = typer.Option(
        None, "--set", help="replace all criteria: CODE=WEIGHT:NAME (repeat; weights sum to 100)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """List the assessment criteria, or replace them with --set."""
    with uow() as ctx:
        if set_:
            rows = []
            for spec in set_:
                code, _, rest = spec.partition("=")
                weight, _, name = rest.partition(":")
                rows.append({"code": code, "weight": weight, "name": name})
            scheme = service.replace_criteria(ctx, data=parse(CriteriaReplace, {"criteria": rows}))
        else:
            scheme = service.get_scheme(ctx)
        emit_list(
            [CriterionRead.model_validate(c) for c in scheme.criteria],
            ["code", "weight", "name"],
            as_json,
        )


@app.command("categories")
def categories(
    eligible: list[OrgCategory] = typer.Option(
        None, "--eligible", help="replace the eligible categories (repeat)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Show (or with --eligible, set) which organisation categories may apply."""
    with uow() as ctx:
        if eligible:
            scheme = service.replace_categories(
                ctx, data=parse(CategoriesReplace, {"eligible_categories": eligible})
            )
        else:
            scheme = service.get_scheme(ctx)
        rows = {c.category.value: c.eligible for c in scheme.categories}
    if as_json:
        typer.echo(dump(rows))
    else:
        for category, ok in rows.items():
            typer.echo(f"{category:20} {'eligible' if ok else 'not eligible'}")


@app.command("stats")
def stats(
    as_of: datetime = typer.Option(
        None,
        formats=["%Y-%m-%d"],
        help="figures as of the end of this day (default: today)",
        callback=bounded_day,
    ),
    as_json: bool = JsonOpt,
) -> None:
    """The scheme's statistics as of a day: applications, decisions, money, allocated share."""
    with uow() as ctx:
        result = scheme_stats(ctx, today=as_of.date() if as_of else ctx.now.date())
    if as_json:
        typer.echo(dump(result))
        return
    data = result.model_dump(mode="json")
    for key, value in data.items():
        if key not in ("by_category", "by_domain"):
            typer.echo(f"{key:28} {value}")
    for group in ("by_category", "by_domain"):
        typer.echo(f"\n{group.replace('_', ' ')}:")
        for name, row in data[group].items():
            typer.echo(
                f"  {name:20} received {row['applications_received']:3}  approved "
                f"{row['approved']:3}  rejected {row['rejected']:3}  pending {row['pending']:3}"
                f"  committed HK${Decimal(row['committed_hkd']):,}"
                f"  average rate {row['average_subsidy_rate'] or '-'}"
            )


@app.command("open-data")
def open_data(
    out: Path = typer.Option(..., "--out", help="directory to write the files into"),
    as_of: datetime = typer.Option(
        None,
        formats=["%Y-%m-%d"],
        help="figures as of this day (default: today)",
        callback=bounded_day,
    ),
) -> None:
    """Write the open data (aggregates only): open-data.json, monthly.csv, groups.csv."""
    with uow() as ctx:
        data = opendata.open_data(ctx, today=as_of.date() if as_of else ctx.now.date())
    for path in opendata.write_files(data, out):
        typer.echo(f"wrote {path}")
