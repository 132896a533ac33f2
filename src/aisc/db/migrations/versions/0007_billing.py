"""billing

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Ledger: a new kind, "reversal" (subsidy handed back by a credit note), in both checks.
    with op.batch_alter_table("ledger_entries", recreate="auto") as batch_op:
        batch_op.drop_constraint(op.f("ck_ledger_entries_entry_kind"), type_="check")
        batch_op.drop_constraint(op.f("ck_ledger_entries_award_entries_name_award"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_ledger_entries_entry_kind"),
            "kind IN ('budget', 'earmark', 'commitment', 'disbursement', 'release', 'reversal')",
        )
        batch_op.create_check_constraint(
            op.f("ck_ledger_entries_award_entries_name_award"),
            "(kind IN ('commitment', 'disbursement', 'release', 'reversal')) "
            "= (award_id IS NOT NULL)",
        )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_notifications_award_id_awards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("award_id", "kind", name=op.f("uq_notifications_award_id")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_award_id"), ["award_id"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("list_cents", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_cents", sa.BigInteger(), nullable=False),
        sa.Column("payable_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "ledger_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "list_cents = subsidy_cents + payable_cents", name=op.f("ck_invoices_split")
        ),
        sa.CheckConstraint(
            "subsidy_cents >= 0 AND payable_cents >= 0", name=op.f("ck_invoices_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_invoices_award_id_awards")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_invoices_ledger_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("award_id", "month", name=op.f("uq_invoices_award_id")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint("seq", name=op.f("uq_invoices_seq")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_award_id"), ["award_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invoices_month"), ["month"], unique=False)

    op.create_table(
        "charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "dedicated",
                "pooled",
                "over_award",
                name="charge_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("gpu_model_code", sa.String(length=50), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("list_cents", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_cents", sa.BigInteger(), nullable=False),
        sa.Column("payable_cents", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "list_cents = subsidy_cents + payable_cents", name=op.f("ck_charges_split")
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_charges_quantity_non_negative")),
        sa.CheckConstraint(
            "subsidy_cents >= 0 AND payable_cents >= 0", name=op.f("ck_charges_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_charges_award_id_awards")
        ),
        sa.ForeignKeyConstraint(
            ["gpu_model_code"],
            ["gpu_models.code"],
            name=op.f("fk_charges_gpu_model_code_gpu_models"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_charges_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
        sa.UniqueConstraint("key", name=op.f("uq_charges_key")),
    )
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charges_award_id"), ["award_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_charges_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "credit_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("list_cents", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_cents", sa.BigInteger(), nullable=False),
        sa.Column("payable_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "ledger_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "list_cents = subsidy_cents + payable_cents", name=op.f("ck_credit_notes_split")
        ),
        sa.CheckConstraint("list_cents > 0", name=op.f("ck_credit_notes_positive")),
        sa.CheckConstraint(
            "subsidy_cents >= 0 AND payable_cents >= 0", name=op.f("ck_credit_notes_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_credit_notes_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_credit_notes_ledger_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_notes")),
        sa.UniqueConstraint("number", name=op.f("uq_credit_notes_number")),
        sa.UniqueConstraint("seq", name=op.f("uq_credit_notes_seq")),
    )
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_notes_invoice_id"), ["invoice_id"], unique=False
        )

    op.create_table(
        "usage_buckets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("gpu_model_code", sa.String(length=50), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("gpu_seconds", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "gpu_seconds >= 0", name=op.f("ck_usage_buckets_gpu_seconds_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_usage_buckets_award_id_awards")
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["charges.id"], name=op.f("fk_usage_buckets_charge_id_charges")
        ),
        sa.ForeignKeyConstraint(
            ["gpu_model_code"],
            ["gpu_models.code"],
            name=op.f("fk_usage_buckets_gpu_model_code_gpu_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_buckets")),
        sa.UniqueConstraint(
            "award_id",
            "gpu_model_code",
            "month",
            "generation",
            name=op.f("uq_usage_buckets_award_id"),
        ),
    )
    with op.batch_alter_table("usage_buckets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_buckets_award_id"), ["award_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_usage_buckets_charge_id"), ["charge_id"], unique=False)

    with op.batch_alter_table("schemes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "over_award_policy", sa.String(length=20), nullable=False, server_default="refuse"
            )
        )

    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bucket_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_usage_records_bucket_id"), ["bucket_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_usage_records_bucket_id_usage_buckets"),
            "usage_buckets",
            ["bucket_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", recreate="auto") as batch_op:
        batch_op.drop_constraint(op.f("ck_ledger_entries_entry_kind"), type_="check")
        batch_op.drop_constraint(op.f("ck_ledger_entries_award_entries_name_award"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_ledger_entries_entry_kind"),
            "kind IN ('budget', 'earmark', 'commitment', 'disbursement', 'release')",
        )
        batch_op.create_check_constraint(
            op.f("ck_ledger_entries_award_entries_name_award"),
            "(kind IN ('commitment', 'disbursement', 'release')) = (award_id IS NOT NULL)",
        )

    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_usage_records_bucket_id_usage_buckets"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_usage_records_bucket_id"))
        batch_op.drop_column("bucket_id")

    with op.batch_alter_table("schemes", schema=None) as batch_op:
        batch_op.drop_column("over_award_policy")

    with op.batch_alter_table("usage_buckets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_buckets_charge_id"))
        batch_op.drop_index(batch_op.f("ix_usage_buckets_award_id"))

    op.drop_table("usage_buckets")
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_notes_invoice_id"))

    op.drop_table("credit_notes")
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charges_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_charges_award_id"))

    op.drop_table("charges")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_month"))
        batch_op.drop_index(batch_op.f("ix_invoices_award_id"))

    op.drop_table("invoices")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_award_id"))

    op.drop_table("notifications")
