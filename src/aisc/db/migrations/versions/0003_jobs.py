"""jobs and usage records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("partition_id", sa.Integer(), nullable=False),
        sa.Column("gpu_model_code", sa.String(length=50), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("gpus_per_node", sa.Integer(), nullable=False),
        sa.Column("walltime_s", sa.Integer(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("workdir", sa.Text(), nullable=False),
        sa.Column(
            "qos",
            sa.Enum(
                "scavenger",
                "overburn",
                "standard",
                "hero",
                "debug",
                name="job_qos",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("preemptible", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "running",
                "completed",
                "failed",
                "timeout",
                "cancelled",
                name="job_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("estimated_start", sa.DateTime(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("placement", sa.Text(), nullable=False),
        sa.Column("processes", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("stop_reason", sa.String(length=20), nullable=False),
        sa.Column("stop_requested_at", sa.DateTime(), nullable=True),
        sa.Column("run_dir", sa.Text(), nullable=False),
        sa.CheckConstraint("nodes >= 1 AND gpus_per_node >= 0", name=op.f("ck_jobs_shape")),
        sa.CheckConstraint("walltime_s > 0", name=op.f("ck_jobs_walltime_positive")),
        sa.ForeignKeyConstraint(["award_id"], ["awards.id"], name=op.f("fk_jobs_award_id_awards")),
        sa.ForeignKeyConstraint(
            ["gpu_model_code"], ["gpu_models.code"], name=op.f("fk_jobs_gpu_model_code_gpu_models")
        ),
        sa.ForeignKeyConstraint(
            ["partition_id"], ["partitions.id"], name=op.f("fk_jobs_partition_id_partitions")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["people.id"], name=op.f("fk_jobs_submitted_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_award_id"), ["award_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_state"), ["state"], unique=False)

    op.create_table(
        "usage_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column("gpu_model_code", sa.String(length=50), nullable=False),
        sa.Column("gpu_seconds", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "gpu_seconds >= 0", name=op.f("ck_usage_records_gpu_seconds_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_usage_records_award_id_awards")
        ),
        sa.ForeignKeyConstraint(
            ["gpu_model_code"],
            ["gpu_models.code"],
            name=op.f("fk_usage_records_gpu_model_code_gpu_models"),
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_usage_records_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("key", name=op.f("uq_usage_records_key")),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_records_award_id"), ["award_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_usage_records_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_records_job_id"))
        batch_op.drop_index(batch_op.f("ix_usage_records_award_id"))

    op.drop_table("usage_records")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_state"))
        batch_op.drop_index(batch_op.f("ix_jobs_award_id"))

    op.drop_table("jobs")
