"""An award's suspension is a set of holds, each with its reason, lifted one by one

Revision ID: 0020
Revises: 0019

An award suspended before this revision gets one open manual hold, so that it stays suspended
until an officer resumes it, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aisc.db.base import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

KINDS = ("manual", "report_overdue", "invoice_overdue", "condition")


def upgrade() -> None:
    op.create_table(
        "award_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*KINDS, name="hold_kind", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("ref", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("placed_at", UTCDateTime(), nullable=False),
        sa.Column("placed_by", sa.String(length=200), nullable=False),
        sa.Column("lifted_at", UTCDateTime(), nullable=True),
        sa.Column("lifted_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_award_holds_award_id_awards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_award_holds")),
    )
    op.create_index(op.f("ix_award_holds_award_id"), "award_holds", ["award_id"])
    op.execute(
        "INSERT INTO award_holds (award_id, kind, ref, reason, placed_at, placed_by) "
        "SELECT id, 'manual', '', 'suspended before holds were recorded', created_at, 'migration' "
        "FROM awards WHERE status = 'suspended'"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_award_holds_award_id"), table_name="award_holds")
    op.drop_table("award_holds")
