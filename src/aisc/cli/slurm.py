"""``aisc slurm``: provisioning sync, accounting ingest and the state of the Slurm link."""

from __future__ import annotations

import json
from datetime import datetime

import typer

from aisc.cli.common import JsonOpt, state, uow
from aisc.errors import Conflict, ValidationFailed
from aisc.slurm.backend import SlurmBackend

app = typer.Typer(help="Slurm: provisioning sync, accounting ingest, link status.")


def _backend() -> SlurmBackend:
    return state().deployment.slurm


@app.command("sync")
def sync_command(
    dry_run: bool = typer.Option(False, "--dry-run", help="print the changes, make none"),
    as_json: bool = JsonOpt,
) -> None:
    """Make Slurm's accounts, users, QOS budgets and reservations match the awards."""
    from aisc.slurm.sync import sync

    backend = _backend()
    with uow() as ctx:
        result = sync(
            ctx, backend.commands, dry_run=dry_run, prefix=state().settings.slurm_account_prefix
        )
    if as_json:
        typer.echo(result.read().model_dump_json(indent=2))
    else:
        for line in result.lines():
            typer.echo(line)
        for note in result.notes:
            typer.echo(f"note: {note}")
    if result.failed:
        raise Conflict(f"{len(result.failed)} change(s) failed; run the sync again to retry")


def _moment(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(
            f"{option}: {text!r} is not a date (YYYY-MM-DD[THH:MM])", field=option
        ) from exc
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@app.command("ingest")
def ingest_command(
    since: str = typer.Option(None, help="first day of accounting to read (default: 7 days ago)"),
    until: str = typer.Option(None, help="last moment to read (default: now)"),
) -> None:
    """Read Slurm's accounting (sacct) into usage records; reading it again adds nothing."""
    from aisc.context import utcnow
    from aisc.slurm.accounting import ingest_runs

    start = _moment(since, "since")
    end = _moment(until, "until")
    if start is None:
        start = int(utcnow().timestamp()) - 7 * 86_400
    if end is not None and end <= start:
        raise ValidationFailed("until: must be after --since", field="until")
    runs = _backend().accounting(since=start, until=end)
    with uow() as ctx:
        result = ingest_runs(ctx, runs, state().settings)
    typer.echo(
        f"{result.runs} ended job runs in Slurm's accounting; {result.new} new usage records"
    )
    for line in result.skipped or []:
        typer.echo(f"skipped: {line}")


@app.command("status")
def status_command(as_json: bool = JsonOpt) -> None:
    """Whether the controller, slurmrestd and accounting answer, and the jobs handed over."""
    from aisc.jobs.models import Backend
    from aisc.jobs.service import count_by_state
    from aisc.slurm.types import SlurmUnavailable

    backend = _backend()
    checks: dict[str, str] = {}
    for name, probe in (
        ("controller", backend.commands.ping),
        ("accounting", lambda: backend.accounting(job_ids=["1"])),
        ("slurmrestd", backend.rest.ping if backend.rest else None),
    ):
        if probe is None:
            checks[name] = "not configured"
            continue
        try:
            probe()
            checks[name] = "up"
        except SlurmUnavailable as exc:
            checks[name] = f"down: {exc.message}"
    with uow() as ctx:
        jobs = {
            state_.value: count
            for state_, count in count_by_state(ctx, backend=Backend.SLURM).items()
        }
    if as_json:
        typer.echo(json.dumps({"checks": checks, "jobs": jobs}, indent=2))
    else:
        for name, verdict in checks.items():
            typer.echo(f"{name}: {verdict}")
        typer.echo("jobs on Slurm: " + (", ".join(f"{k} {v}" for k, v in jobs.items()) or "none"))
    if any(v.startswith("down") for v in checks.values()):
        raise typer.Exit(6)
