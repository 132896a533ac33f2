"""Receivables: invoices get an issue date, a due date and terms; payments against them

Revision ID: 0023
Revises: 0022

The scheme says the payment terms (days from issue), how many days before the due date the
applicant is reminded, and after how many days overdue an award is held (empty: never).
Invoices issued before this revision get their creation date as the issue date and the
default terms (30 days from issue). Payments are appended, never changed: a reversal is a
negative payment naming the one it reverses.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from aisc.db.base import UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

DEFAULT_TERMS_DAYS = 30
METHODS = ("bank_transfer", "fps", "cheque", "other")


def upgrade() -> None:
    with op.batch_alter_table("schemes") as batch_op:
        batch_op.add_column(
            sa.Column(
                "payment_terms_days",
                sa.Integer(),
                nullable=False,
                server_default=str(DEFAULT_TERMS_DAYS),
            )
        )
        batch_op.add_column(
            sa.Column("reminder_days_before", sa.Integer(), nullable=False, server_default="7")
        )
        batch_op.add_column(sa.Column("overdue_hold_days", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            "payment_terms_range", "payment_terms_days BETWEEN 0 AND 365"
        )
        batch_op.create_check_constraint("reminder_range", "reminder_days_before BETWEEN 0 AND 365")
        batch_op.create_check_constraint(
            "overdue_hold_positive", "overdue_hold_days IS NULL OR overdue_hold_days >= 1"
        )
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.add_column(sa.Column("issue_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("terms_days", sa.Integer(), nullable=True))
    invoices = sa.table(
        "invoices",
        sa.column("id", sa.Integer()),
        sa.column("issued_at", UTCDateTime()),
        sa.column("issue_date", sa.Date()),
        sa.column("due_date", sa.Date()),
        sa.column("terms_days", sa.Integer()),
    )
    bind = op.get_bind()
    for invoice_id, issued_at in bind.execute(sa.select(invoices.c.id, invoices.c.issued_at)).all():
        issued = issued_at.date()
        bind.execute(
            invoices.update()
            .where(invoices.c.id == invoice_id)
            .values(
                issue_date=issued,
                due_date=issued + timedelta(days=DEFAULT_TERMS_DAYS),
                terms_days=DEFAULT_TERMS_DAYS,
            )
        )
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.alter_column("issue_date", existing_type=sa.Date(), nullable=False)
        batch_op.alter_column("due_date", existing_type=sa.Date(), nullable=False)
        batch_op.alter_column("terms_days", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_invoices_due_date"), ["due_date"])
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                *METHODS,
                name="payment_method",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_payments_non_zero")),
        sa.CheckConstraint(
            "(reverses_id IS NULL AND amount_cents > 0) OR "
            "(reverses_id IS NOT NULL AND amount_cents < 0)",
            name=op.f("ck_payments_reversal_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"], ["payments.id"], name=op.f("fk_payments_reverses_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("seq", name=op.f("uq_payments_seq")),
        sa.UniqueConstraint("number", name=op.f("uq_payments_number")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_payments_reverses_id")),
    )
    op.create_index(op.f("ix_payments_invoice_id"), "payments", ["invoice_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_payments_invoice_id"), table_name="payments")
    op.drop_table("payments")
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_due_date"))
        batch_op.drop_column("terms_days")
        batch_op.drop_column("due_date")
        batch_op.drop_column("issue_date")
    with op.batch_alter_table("schemes") as batch_op:
        batch_op.drop_constraint("payment_terms_range", type_="check")
        batch_op.drop_constraint("reminder_range", type_="check")
        batch_op.drop_constraint("overdue_hold_positive", type_="check")
        batch_op.drop_column("overdue_hold_days")
        batch_op.drop_column("reminder_days_before")
        batch_op.drop_column("payment_terms_days")
