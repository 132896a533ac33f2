from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer

from aisc.cli.common import state
from aisc.db.engine import make_engine
from aisc.errors import Conflict
from aisc.executors.sandbox import unavailable
from aisc.logs import configure_logging, uvicorn_log_config
from aisc.settings import Settings

# Idle connections stay open longer than a reverse proxy keeps its upstream ones (nginx: 60 s), so
# that a proxy or client never sends a request on a connection the server is closing.
KEEP_ALIVE_S = 75


def _serve(
    settings: Settings, host: str, port: int, *, workers: int = 1, with_worker: bool = False
) -> None:
    """Serve the API and pages in ``workers`` processes; with ``with_worker``, run the worker's
    loops in this process too (the embedded default: one command for a newcomer)."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    typer.echo(f"serving on http://{host}:{port}/  (API docs: http://{host}:{port}/api/v1/docs)")
    if workers == 1:
        from aisc.app import create_app

        app = create_app(settings, with_worker=with_worker)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=settings.log_level,
            log_config=uvicorn_log_config(settings) or LOGGING_CONFIG,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        return
    # Each server process builds its application from the environment: hand it what this
    # command was told beyond the environment.
    os.environ.update(_environment(settings))
    worker = None
    if with_worker:
        from aisc.worker import Worker

        worker = Worker(settings)
        worker.start()
    try:
        uvicorn.run(
            "aisc.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            log_config=uvicorn_log_config(settings) or LOGGING_CONFIG,
            # A process importing the application on a busy machine may take seconds to answer
            # the supervisor's first ping; uvicorn's 5 s would kill and restart it in a loop.
            timeout_worker_healthcheck=60,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    finally:
        if worker is not None:
            worker.stop()


def _environment(settings: Settings) -> dict[str, str]:
    """The settings a command may change beyond the environment, as the server's variables."""
    values = {
        "AISC_DATABASE_URL": settings.effective_database_url,
        "AISC_JOB_ISOLATION": settings.job_isolation,
        "AISC_EXECUTOR": settings.executor,
    }
    if settings.run_dir is not None:
        values["AISC_RUN_DIR"] = str(settings.run_dir)
    return values


def serve(
    host: str = typer.Option(None, help="default: AISC_HOST or 127.0.0.1"),
    port: int = typer.Option(None, help="default: AISC_PORT or 8000"),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="server processes answering requests"
    ),
    with_worker: bool = typer.Option(
        False,
        "--with-worker",
        help="also run the worker (job loop, notifications) in this process; without it, run "
        "`aisc worker` beside the servers",
    ),
) -> None:
    """Migrate the database and serve the API and the portal until interrupted."""
    from aisc.cli.db import upgrade_database

    settings = state().settings
    upgrade_database()
    _serve(
        settings,
        host or settings.host,
        port or settings.port,
        workers=workers,
        with_worker=with_worker,
    )


def worker(
    metrics_port: int = typer.Option(
        0,
        "--metrics-port",
        min=0,
        max=65535,
        help="export the worker's figures for Prometheus on this port (0: not exported)",
    ),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", help="address to bind"),
) -> None:
    """Run the worker until stopped: the job loop (local executor or Slurm) and the delivery of
    notifications. Run one beside `aisc serve`; the database must be migrated."""
    from aisc.worker import Worker

    cli = state()
    _configure_logging(cli.settings)
    worker = Worker(cli.settings, engine=cli.ready_engine(), deployment=cli.deployment)
    if metrics_port:
        worker.serve_metrics(metrics_host, metrics_port)
    typer.echo(f"worker running ({cli.settings.executor} executor); stop with SIGTERM or Ctrl-C")
    worker.run_until_signalled()
    typer.echo("worker stopped")


def _configure_logging(settings: Settings) -> None:
    configure_logging(settings)


def demo(
    db: Path = typer.Option(Path("var/demo.db"), "--db", help="SQLite file for the demo centre"),
    replace: bool = typer.Option(False, "--replace", help="replace an existing demo database"),
    no_serve: bool = typer.Option(False, "--no-serve", help="build the demo and exit"),
    host: str = typer.Option(None, help="default: AISC_HOST or 127.0.0.1"),
    port: int = typer.Option(None, help="default: AISC_PORT or 8000"),
    today: str = typer.Option(
        None, "--today", help="carry the centre on to this day (YYYY-MM-DD); default: today"
    ),
) -> None:
    """Build a fresh demo centre from the public record, carried on to today, and serve it."""
    from datetime import UTC, date, datetime

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
    day = date.fromisoformat(today) if today else datetime.now(UTC).date()
    summary = build_demo(engine, deployment=Deployment.from_settings(settings), today=day)
    engine.dispose()
    typer.echo(
        f"demo centre built in {db}: the public record as of 2025-07-31: "
        f"{summary.applications} applications received, {summary.approved} approved, "
        f"HK${summary.committed_hkd:,} committed at an average rate of "
        f"{summary.average_rate}, {summary.allocated_pct}% of installed GPUs allocated in "
        "July 2025"
    )
    if (now := summary.now) is not None:
        typer.echo(
            f"carried on to {now.today}: {now.applications} applications received, "
            f"{now.approved} approved, {now.active_awards} awards active, "
            f"{now.allocated_pct}% of installed GPUs allocated this month, dedicated "
            f"allocations {now.busy_pct}% busy; billed through {now.billed_through} "
            f"({now.invoices} invoices)"
        )
    typer.echo(
        f"{summary.jobs_run} demo jobs ran through the local executor (logs under {run_dir})"
    )
    bill = summary.billing
    typer.echo(
        f"record billed {bill.months[0]} to {bill.months[-1]}: {bill.invoices} invoices, subsidy "
        f"HK${bill.subsidy_hkd:,}, payable HK${bill.payable_hkd:,}, {bill.credit_notes} credit "
        f"note; {'every month reconciles to the cent' if bill.balanced else 'NOT reconciled'}; "
        f"dedicated allocations {bill.busy_pct}% busy of reserved"
    )
    typer.echo(f"try: AISC_DATABASE_URL={url} aisc scheme stats")
    typer.echo("sign in as (one login per role; passwords are new with every build):")
    for role, email, password in summary.logins:
        typer.echo(f"  {role:12} {email:34} {password}")
    if not no_serve:
        settings = state().settings.model_copy(
            update={"database_url": url, "run_dir": run_dir, "job_isolation": isolation}
        )
        _serve(settings, host or settings.host, port or settings.port, with_worker=True)


def _refuse_non_demo(path: Path) -> None:
    """Never delete a database that is not a demo centre."""
    from aisc.demo import is_demo_database

    is_demo = is_demo_database(path)
    if is_demo is None:
        raise Conflict(f"{path} is not an aisc demo database; not replacing it", field="db")
    if not is_demo:
        raise Conflict(f"{path} holds a real scheme, not the demo; not replacing it", field="db")
