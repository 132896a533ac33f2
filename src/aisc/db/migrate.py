"""Run Alembic migrations programmatically (``aisc db upgrade``, the demo, tests).

Several servers may start at once on one database (``aisc serve`` migrates first): the upgrade
runs under a lock, so one migrates and the others find the schema at head and do nothing.
PostgreSQL: a session advisory lock (``pg_advisory_lock``) on a connection of its own, held
around the whole upgrade. SQLite: an exclusive lock on a file beside the database
(``<db>.migrate.lock``, ``fcntl.flock``): the migration's own transactions cannot hold the
database's lock across Alembic's steps.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from aisc.errors import NotReady

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The advisory lock's key: any fixed 64-bit number no other program on the database uses.
MIGRATION_LOCK_KEY = 0x61697363_6D696772  # "aiscmigr"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head", *, lock: bool = True) -> None:
    """Bring the database behind ``engine`` to ``revision``, one migrator at a time
    (``lock=False``: the caller holds ``migration_lock`` already)."""
    if not lock:
        command.upgrade(alembic_config(engine), revision)
        return
    with migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's migration lock (see the module docstring) for the block."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()  # the lock is the session's: no transaction stays open
            try:
                yield
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield  # an in-memory database has one connection: nothing to race
        return
    descriptor = os.open(f"{database}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or not at the latest revision."""
    current, head = current_revision(engine), head_revision()
    if current is None:
        raise NotReady(
            "the database has no aisc schema yet: run `aisc db upgrade`", field="database"
        )
    if current != head:
        raise NotReady(
            f"the database schema is at revision {current}, this aisc needs {head}: "
            "run `aisc db upgrade`",
            field="database",
        )


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
