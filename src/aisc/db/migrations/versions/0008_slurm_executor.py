"""Slurm executor: where a job runs and its Slurm id; people's cluster user names

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aisc.db.base import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("backend", sa.String(length=20), nullable=False, server_default="local")
        )
        batch_op.add_column(sa.Column("backend_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("backend_state", sa.String(length=40), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("handed_at", UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_backend_id"), ["backend_id"], unique=False)

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("username", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_people_username"), ["username"])


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_people_username"), type_="unique")
        batch_op.drop_column("username")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_backend_id"))
        batch_op.drop_column("handed_at")
        batch_op.drop_column("backend_state")
        batch_op.drop_column("backend_id")
        batch_op.drop_column("backend")
