"""Spending against an earmark: append-only spends, each cancelled only by a reversal

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aisc.db.base import UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "earmark_spends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("earmark", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "spend",
                "reversal",
                name="earmark_spend_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("vendor", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("evidence_ref", sa.String(length=255), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_earmark_spends_amount_positive")),
        sa.CheckConstraint(
            "(kind = 'reversal') = (reverses_id IS NOT NULL)",
            name=op.f("ck_earmark_spends_reversal_names_spend"),
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["schemes.id"], name=op.f("fk_earmark_spends_scheme_id_schemes")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["earmark_spends.id"],
            name=op.f("fk_earmark_spends_reverses_id_earmark_spends"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_earmark_spends")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_earmark_spends_reverses_id")),
    )
    op.create_index(op.f("ix_earmark_spends_scheme_id"), "earmark_spends", ["scheme_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_earmark_spends_scheme_id"), table_name="earmark_spends")
    op.drop_table("earmark_spends")
