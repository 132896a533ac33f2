from __future__ import annotations

import typer

from aisc.cli.common import state, uow
from aisc.cluster.service import ensure_catalogue
from aisc.db.migrate import current_revision, migration_lock, upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


def upgrade_database() -> None:
    """Migrate to the latest schema and load the published GPU catalogue.

    Both under the migration lock: servers starting at once migrate once, and the catalogue's
    rows are inserted once (two inserts of one row would fail the second server's start)."""
    engine = state().engine
    with migration_lock(engine):
        upgrade(engine, lock=False)
        with uow() as ctx:
            ensure_catalogue(ctx)


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Apply all migrations (safe to run again)."""
    upgrade_database()
    typer.echo(f"database at revision {current_revision(state().engine)}")


@app.command("current")
def current() -> None:
    """Print the schema revision of the database."""
    typer.echo(current_revision(state().engine) or "(empty database)")
