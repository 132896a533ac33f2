"""Billing runs are recorded: when each ran, for which month, how long it took, what it issued

Revision ID: 0019
Revises: 0018

A billing run happens in whichever process is asked (an API server, the command line): its
duration is recorded with it so that every server's ``/metrics`` reports the last run alike.
Runs before this revision have no record.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aisc.db.base import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("run_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint("seconds >= 0", name=op.f("ck_billing_runs_seconds_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_runs")),
    )


def downgrade() -> None:
    op.drop_table("billing_runs")
