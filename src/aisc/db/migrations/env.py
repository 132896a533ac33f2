"""Alembic environment: the engine comes from aisc (programmatic use) or from AISC_* settings."""

from __future__ import annotations

from alembic import context

from aisc.db.engine import engine_from_settings
from aisc.db.metadata import metadata
from aisc.settings import Settings

config = context.config
engine = config.attributes.get("engine") or engine_from_settings(Settings())

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
