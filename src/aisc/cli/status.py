"""``aisc status``: is the deployment ready? The same checks as ``/readyz``, with the details."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from aisc.cli.common import JsonOpt, state
from aisc.context import utcnow

if TYPE_CHECKING:
    from aisc.health import Check

NOT_READY = 6  # NotReady's exit code: the deployment cannot do its work yet


def status(as_json: bool = JsonOpt) -> None:
    """Say whether the deployment is ready: the database answers, its schema is at head, a
    worker leads and its heartbeat is fresh (and, with AISC_EXECUTOR=slurm, whether the Slurm
    controller answers). Exits 0 when ready, 6 when not."""
    from aisc.health import readiness

    cli = state()
    now = utcnow()
    ready = readiness(cli.engine, now=now)
    if cli.settings.executor == "slurm":
        ready.checks.append(_slurm_link())
    report = ready.detailed(now)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        for check in ready.checks:
            line = f"{check.name + ':':10} {'ok' if check.ok else 'NOT OK'}  {check.reason}"
            typer.echo(line + (f" ({check.detail})" if check.detail else ""))
        typer.echo(f"schema:    revision {ready.revision or '(none)'}, head {ready.head}")
        lease = report["leader"]
        if lease is None:
            typer.echo("leader:    none has ever led")
        else:
            typer.echo(
                f"leader:    {lease['holder']}, token {lease['token']}, heartbeat "
                f"{lease['heartbeat_age_s']} s ago, lease until {lease['expires_at']}"
            )
        typer.echo("ready" if ready.ok else "NOT READY")
    if not ready.ok:
        raise typer.Exit(NOT_READY)


def _slurm_link() -> Check:
    from aisc.health import Check
    from aisc.slurm.types import SlurmUnavailable

    try:
        state().deployment.slurm.commands.ping()
    except SlurmUnavailable as exc:
        return Check("slurm", False, "the Slurm controller does not answer", exc.message)
    return Check("slurm", True, "the Slurm controller answers")
