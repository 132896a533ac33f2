"""Run Alembic migrations programmatically (``aisc db upgrade``, the demo, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from aisc.errors import NotReady

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision``."""
    command.upgrade(alembic_config(engine), revision)


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
