"""Changes to an award (extension, top-up, reduction, early end), recorded as a history

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aisc.db.base import UTCDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

KINDS = ("extension", "top_up", "reduction", "early_end")


def upgrade() -> None:
    op.create_table(
        "award_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *KINDS,
                name="award_change_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("committed_cents", sa.BigInteger(), nullable=False),
        sa.Column("released_cents", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "committed_cents >= 0", name=op.f("ck_award_changes_committed_non_negative")
        ),
        sa.CheckConstraint(
            "released_cents >= 0", name=op.f("ck_award_changes_released_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_award_changes_award_id_awards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_award_changes")),
    )
    op.create_index(op.f("ix_award_changes_award_id"), "award_changes", ["award_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_award_changes_award_id"), table_name="award_changes")
    op.drop_table("award_changes")
