"""``aisc report``: the committee's reports as documents."""

from __future__ import annotations

from pathlib import Path

import typer

from aisc.cli.common import uow

app = typer.Typer(help="Reports of the scheme (the annual report).", no_args_is_help=True)


@app.command("annual")
def annual(
    year: int = typer.Option(..., help="the calendar year, e.g. 2025"),
    out: Path = typer.Option(..., "--out", help="the PDF file to write"),
) -> None:
    """The annual report for YEAR: a bilingual (English and Traditional Chinese) PDF."""
    # Charts and PDF fonts are loaded when a report is made, not with the command line.
    from aisc.reports.annual import annual_report

    with uow() as ctx:
        pdf = annual_report(ctx, year=year)
    out.write_bytes(pdf)
    typer.echo(f"wrote {out} ({len(pdf):,} bytes)")
