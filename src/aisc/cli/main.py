"""Entry point of the ``aisc`` command."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from typer.core import TyperGroup

from aisc.cli import (
    accounts,
    allocations,
    applications,
    audit,
    awards,
    backup,
    billing,
    cluster,
    db,
    jobs,
    ledger,
    outbox,
    pricing,
    progress,
    qos,
    report,
    review,
    scheme,
    server,
    simulate,
    slurm,
    status,
)
from aisc.cli.common import CliState, set_state, validation_error
from aisc.errors import AiscError, ValidationFailed
from aisc.settings import Settings


class AiscGroup(TyperGroup):
    """Maps every ``AiscError`` to a message on stderr and its exit code, once, for all commands."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            error: AiscError = validation_error(exc)
        except AiscError as exc:
            error = exc
        except (OverflowError, DataError) as exc:
            # A number from the command line beyond what the database holds (SQLite's driver
            # refuses it in Python, PostgreSQL's column type on the server): bad input, no trace.
            error = ValidationFailed(f"a number given is out of range for the database ({exc})")
        typer.echo(f"error: {error.message}", err=True)
        ctx.exit(error.exit_code)


app = typer.Typer(
    cls=AiscGroup,
    help="aisc: the operating platform of a subsidised AI supercomputing centre.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    database_url: str = typer.Option(
        None,
        "--database-url",
        envvar="AISC_DATABASE_URL",
        help="SQLAlchemy URL (default: SQLite file under AISC_DATA_DIR)",
    ),
) -> None:
    """Operate the centre, its scheme and its fund."""
    set_state(CliState(Settings(database_url=database_url) if database_url else Settings()))


app.add_typer(db.app, name="db")
app.add_typer(scheme.app, name="scheme")
app.add_typer(accounts.org_app, name="org")
app.add_typer(accounts.person_app, name="person")
app.add_typer(accounts.token_app, name="token")
app.add_typer(pricing.gpu_app, name="gpu")
app.add_typer(pricing.price_app, name="price")
app.add_typer(applications.app, name="app")
app.add_typer(review.app, name="review")
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(awards.app, name="award")
awards.app.add_typer(qos.app, name="qos")
app.add_typer(progress.app, name="progress")
app.add_typer(progress.condition_app, name="condition")
app.add_typer(audit.app, name="audit")
app.add_typer(cluster.app, name="cluster")
app.add_typer(allocations.app, name="alloc")
app.add_typer(jobs.app, name="jobs")
app.add_typer(billing.app, name="billing")
app.add_typer(slurm.app, name="slurm")
app.add_typer(outbox.app, name="outbox")
app.add_typer(simulate.app, name="simulate")
app.add_typer(report.app, name="report")
app.command("backup")(backup.backup_cmd)
app.command("restore")(backup.restore_cmd)
app.command("demo")(server.demo)
app.command("serve")(server.serve)
app.command("worker")(server.worker)
app.command("status")(status.status)


def main() -> None:
    app()
