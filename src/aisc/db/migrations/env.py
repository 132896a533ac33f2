"""Alembic environment: the engine comes from aisc (programmatic use) or from AISC_* settings."""

from __future__ import annotations

from alembic import context

from aisc.db.engine import engine_from_settings
from aisc.db.metadata import metadata
from aisc.settings import Settings

config = context.config
engine = config.attributes.get("engine") or engine_from_settings(Settings())

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a column by rebuilding its table, and dropping a table others refer to
        # fails while foreign keys are enforced; the pragma only takes effect outside a
        # transaction, so it is set on the driver's connection before SQLAlchemy begins one.
        # Every reference is checked before the commit instead (SQLite's documented procedure).
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
    try:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left broken references: {broken[:5]}")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
