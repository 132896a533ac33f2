"""Progress reports on a schedule, the committee"s reporting cadence, conditions as items;
the scheme"s reporting settings

Revision ID: 0021
Revises: 0020

Awards already active (or suspended) when this runs get their report schedule from the worker"s
first housekeeping pass (``aisc.progress.duties``), not here: the schedule is the service"s rule,
and this file stays free of it. Conditions already recorded as free text on decisions stay text
on the decision; items exist for decisions taken from now on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aisc.db.base import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "award_conditions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("holds_allocation", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "met",
                "waived",
                name="condition_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_award_conditions_award_id_awards")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_award_conditions_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_award_conditions")),
    )
    with op.batch_alter_table("award_conditions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_award_conditions_award_id"), ["award_id"], unique=False
        )

    op.create_table(
        "progress_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "progress",
                "final",
                name="report_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "due",
                "submitted",
                "changes_requested",
                "accepted",
                name="report_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("milestones", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("first_submitted_at", UTCDateTime(), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("reviewed_by", sa.Text(), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_progress_reports_award_id_awards")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["people.id"],
            name=op.f("fk_progress_reports_submitted_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_reports")),
        sa.UniqueConstraint(
            "award_id", "kind", "sequence", name=op.f("uq_progress_reports_award_id")
        ),
    )
    with op.batch_alter_table("progress_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_progress_reports_award_id"), ["award_id"], unique=False
        )

    op.create_table(
        "reporting_plans",
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("report_months", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_reporting_plans_award_id_awards")
        ),
        sa.PrimaryKeyConstraint("award_id", name=op.f("pk_reporting_plans")),
    )
    with op.batch_alter_table("schemes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "report_months", sa.String(length=100), nullable=False, server_default="1,3,9"
            )
        )
        batch_op.add_column(
            sa.Column("final_report_days", sa.Integer(), nullable=False, server_default="60")
        )
        batch_op.add_column(
            sa.Column("report_reminder_days", sa.Integer(), nullable=False, server_default="7")
        )
        batch_op.add_column(
            sa.Column("report_grace_days", sa.Integer(), nullable=False, server_default="14")
        )


def downgrade() -> None:
    with op.batch_alter_table("schemes", schema=None) as batch_op:
        batch_op.drop_column("report_grace_days")
        batch_op.drop_column("report_reminder_days")
        batch_op.drop_column("final_report_days")
        batch_op.drop_column("report_months")

    op.drop_table("reporting_plans")
    with op.batch_alter_table("progress_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_progress_reports_award_id"))

    op.drop_table("progress_reports")
    with op.batch_alter_table("award_conditions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_award_conditions_award_id"))

    op.drop_table("award_conditions")
