"""Decisions' reasons and conditions, allocations' bound nodes and applications' screening
findings as JSON columns

Revision ID: 0017
Revises: 0016

Every stored value is already JSON text: PostgreSQL converts it in place (``USING col::json``);
SQLite keeps the text under the JSON type name (the table is rebuilt without a cast, which SQLite
would apply with numeric affinity). The downgrade turns the columns back into text unchanged.
``allocations.node_names`` keeps its server default of an empty list; PostgreSQL cannot convert
a text default itself, so it is dropped and set again around the type change.
``applications.screening_findings`` stays nullable: NULL means not screened yet.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# table -> (column, nullable, server default)
COLUMNS: dict[str, tuple[tuple[str, bool, str | None], ...]] = {
    "decisions": (("reasons", False, None), ("conditions", False, None)),
    "allocations": (("node_names", False, "[]"),),
    "applications": (("screening_findings", True, None),),
}


def _postgres(to: str) -> None:
    for table, columns in COLUMNS.items():
        for column, _nullable, default in columns:
            if default is not None:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {to} USING {column}::{to.lower()}"
            )
            if default is not None:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT '{default}'")


def _sqlite(old: sa.types.TypeEngine[Any], new: sa.types.TypeEngine[Any]) -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, nullable, default in columns:
                batch_op.alter_column(
                    column,
                    existing_type=old,
                    type_=new,
                    existing_nullable=nullable,
                    existing_server_default=default,
                )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres("JSON")
    else:
        _sqlite(sa.Text(), sa.JSON())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres("TEXT")
    else:
        _sqlite(sa.JSON(), sa.Text())
