"""Jobs: command, environment, placement and processes as JSON columns; stop reason and backend
as enums with database constraints

Revision ID: 0014
Revises: 0013

Every stored value is already JSON text: PostgreSQL converts it in place (``USING col::json``);
SQLite keeps the text under the JSON type name (the table is rebuilt without a cast, which SQLite
would apply with numeric affinity). The downgrade turns the columns back into text unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSON_COLUMNS = ("command", "environment", "placement", "processes")
STOP_REASONS = ("", "walltime", "cancel", "preempt")
BACKENDS = ("local", "slurm")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for column in JSON_COLUMNS:
            op.execute(f"ALTER TABLE jobs ALTER COLUMN {column} TYPE JSON USING {column}::json")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        if not postgres:
            for column in JSON_COLUMNS:
                batch_op.alter_column(
                    column, existing_type=sa.Text(), type_=sa.JSON(), existing_nullable=False
                )
        batch_op.alter_column(
            "stop_reason",
            existing_type=sa.String(length=20),
            type_=sa.String(length=32),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "backend",
            existing_type=sa.String(length=20),
            type_=sa.String(length=32),
            existing_nullable=False,
            existing_server_default="local",
        )
        batch_op.create_check_constraint(
            op.f("ck_jobs_job_stop_reason"), _in("stop_reason", STOP_REASONS)
        )
        batch_op.create_check_constraint(op.f("ck_jobs_job_backend"), _in("backend", BACKENDS))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_jobs_job_backend"), type_="check")
        batch_op.drop_constraint(op.f("ck_jobs_job_stop_reason"), type_="check")
        batch_op.alter_column(
            "backend",
            existing_type=sa.String(length=32),
            type_=sa.String(length=20),
            existing_nullable=False,
            existing_server_default="local",
        )
        batch_op.alter_column(
            "stop_reason",
            existing_type=sa.String(length=32),
            type_=sa.String(length=20),
            existing_nullable=False,
        )
        if not postgres:
            for column in JSON_COLUMNS:
                batch_op.alter_column(
                    column, existing_type=sa.JSON(), type_=sa.Text(), existing_nullable=False
                )
    if postgres:
        for column in JSON_COLUMNS:
            op.execute(f"ALTER TABLE jobs ALTER COLUMN {column} TYPE TEXT USING {column}::text")
