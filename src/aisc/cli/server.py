from __future__ import annotations

import shutil
from pathlib import Path

import typer

from aisc.cli.common import state
from aisc.db.engine import make_engine
from aisc.errors import Conflict
from aisc.executors.sandbox import Isolation, unavailable


def _serve(
    database_url: str | None,
    host: str,
    port: int,
    run_dir: Path | None = None,
    isolation: Isolation | None = None,
) -> None:
    import uvicorn

    from aisc.app import create_app

    settings = state().settings
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    if run_dir:
        settings = settings.model_copy(update={"run_dir": run_dir})
    if isolation:
        settings = settings.model_copy(update={"job_isolation": isolation})
    app = create_app(settings, run_scheduler=True)
    typer.echo(f"serving on http://{host}:{port}/  (API docs: http://{host}:{port}/api/v1/docs)")
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level)


def serve(
    host: str = typer.Option(None, help="default: AISC_HOST or 127.0.0.1"),
    port: int = typer.Option(None, help="default: AISC_PORT or 8000"),
) -> None:
    """Migrate the database and serve the API (and pages) until interrupted."""
    from aisc.cli.db import upgrade_database

    settings = state().settings
    upgrade_database()
    _serve(None, host or settings.host, port or settings.port)


def demo(
    db: Path = typer.Option(Path("var/demo.db"), "--db", help="SQLite file for the demo centre"),
    replace: bool = typer.Option(False, "--replace", help="replace an existing demo database"),
    no_serve: bool = typer.Option(False, "--no-serve", help="build the demo and exit"),
    host: str = typer.Option(None, help="default: AISC_HOST or 127.0.0.1"),
    port: int = typer.Option(None, help="default: AISC_PORT or 8000"),
) -> None:
    """Build a fresh demo centre from the public record and serve it."""
    from aisc.demo import build_demo
    from aisc.deployment import Deployment

    if db.exists():
        if not replace:
            raise Conflict(
                f"{db} already exists; pass --replace to rebuild the demo there", field="db"
            )
        _refuse_non_demo(db)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    run_dir = db.parent / f"{db.stem}-runs"
    shutil.rmtree(run_dir, ignore_errors=True)
    isolation = state().settings.job_isolation
    if isolation == "sandbox" and (why := unavailable()):
        # The demo is a single-user development machine: say so, and run its jobs unsandboxed.
        isolation = "none"
        typer.echo(f"job isolation is unavailable ({why}): the demo runs its jobs as you")
    engine = make_engine(url)
    settings = state().settings.model_copy(
        update={"executor": "local", "run_dir": run_dir, "job_isolation": isolation}
    )
    summary = build_demo(engine, deployment=Deployment.from_settings(settings))
    engine.dispose()
    typer.echo(
        f"demo centre built in {db}: {summary.applications} applications received, "
        f"{summary.approved} approved, HK${summary.committed_hkd:,} committed, "
        f"{summary.allocated_pct}% of installed GPUs allocated in July 2025"
    )
    typer.echo(
        f"{summary.jobs_run} demo jobs ran through the local executor (logs under {run_dir})"
    )
    bill = summary.billing
    typer.echo(
        f"billed {bill.months[0]} to {bill.months[-1]}: {bill.invoices} invoices, subsidy "
        f"HK${bill.subsidy_hkd:,}, payable HK${bill.payable_hkd:,}, {bill.credit_notes} credit "
        f"note; {'every month reconciles to the cent' if bill.balanced else 'NOT reconciled'}; "
        f"dedicated allocations {bill.busy_pct}% busy of reserved"
    )
    typer.echo(f"try: AISC_DATABASE_URL={url} aisc scheme stats")
    typer.echo("sign in as (one login per role; passwords are new with every build):")
    for role, email, password in summary.logins:
        typer.echo(f"  {role:12} {email:34} {password}")
    if not no_serve:
        settings = state().settings
        _serve(url, host or settings.host, port or settings.port, run_dir, isolation)


def _refuse_non_demo(path: Path) -> None:
    """Never delete a database that is not a demo centre."""
    from aisc.demo import is_demo_database

    is_demo = is_demo_database(path)
    if is_demo is None:
        raise Conflict(f"{path} is not an aisc demo database; not replacing it", field="db")
    if not is_demo:
        raise Conflict(f"{path} holds a real scheme, not the demo; not replacing it", field="db")
