"""cluster inventory, capacity phases, allocations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capacity_phases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=False),
        sa.Column("target_pflops", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint("target_pflops > 0", name=op.f("ck_capacity_phases_target_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_phases")),
        sa.UniqueConstraint("name", name=op.f("uq_capacity_phases_name")),
        sa.UniqueConstraint("target_date", name=op.f("uq_capacity_phases_target_date")),
    )
    op.create_table(
        "partitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("max_walltime_hours", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("max_walltime_hours > 0", name=op.f("ck_partitions_walltime_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partitions")),
        sa.UniqueConstraint("name", name=op.f("uq_partitions_name")),
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("gpu_model_code", sa.String(length=50), nullable=False),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("cpu_cores", sa.Integer(), nullable=False),
        sa.Column("memory_gb", sa.Integer(), nullable=False),
        sa.Column("partition_id", sa.Integer(), nullable=False),
        sa.Column("rack", sa.String(length=50), nullable=False),
        sa.Column("leaf_switch", sa.String(length=50), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "up",
                "draining",
                "down",
                "maintenance",
                name="node_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(), nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=False),
        sa.Column("retired_on", sa.Date(), nullable=True),
        sa.CheckConstraint("cpu_cores > 0", name=op.f("ck_nodes_cpus_positive")),
        sa.CheckConstraint("gpu_count >= 0", name=op.f("ck_nodes_gpus_non_negative")),
        sa.CheckConstraint("memory_gb > 0", name=op.f("ck_nodes_memory_positive")),
        sa.CheckConstraint(
            "retired_on IS NULL OR retired_on > installed_on", name=op.f("ck_nodes_retired_after")
        ),
        sa.ForeignKeyConstraint(
            ["gpu_model_code"], ["gpu_models.code"], name=op.f("fk_nodes_gpu_model_code_gpu_models")
        ),
        sa.ForeignKeyConstraint(
            ["partition_id"], ["partitions.id"], name=op.f("fk_nodes_partition_id_partitions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("name", name=op.f("uq_nodes_name")),
    )
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nodes_partition_id"), ["partition_id"], unique=False)

    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "dedicated",
                "pooled",
                name="allocation_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("gpu_model_code", sa.String(length=50), nullable=False),
        sa.Column("partition_id", sa.Integer(), nullable=False),
        sa.Column("gpu_cards", sa.Integer(), nullable=True),
        sa.Column("gpu_hours", sa.BigInteger(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "(kind = 'dedicated' AND gpu_cards > 0 AND gpu_hours IS NULL) OR (kind = 'pooled' AND gpu_hours > 0 AND gpu_cards IS NULL)",
            name=op.f("ck_allocations_shape"),
        ),
        sa.CheckConstraint("end_date > start_date", name=op.f("ck_allocations_dates_ordered")),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_allocations_award_id_awards")
        ),
        sa.ForeignKeyConstraint(
            ["gpu_model_code"],
            ["gpu_models.code"],
            name=op.f("fk_allocations_gpu_model_code_gpu_models"),
        ),
        sa.ForeignKeyConstraint(
            ["partition_id"], ["partitions.id"], name=op.f("fk_allocations_partition_id_partitions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocations_award_id"), ["award_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_allocations_partition_id"), ["partition_id"], unique=False
        )

    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partition_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_awards_partition_id_partitions"), "partitions", ["partition_id"], ["id"]
        )

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("granted_partition", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("capacity_override_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "capacity_override_justification", sa.Text(), nullable=False, server_default=""
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_decisions_capacity_override_by_id_people"),
            "people",
            ["capacity_override_by_id"],
            ["id"],
        )

    with op.batch_alter_table("schemes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("capacity_headroom_bp", sa.Integer(), nullable=False, server_default="500")
        )


def downgrade() -> None:
    with op.batch_alter_table("schemes", schema=None) as batch_op:
        batch_op.drop_column("capacity_headroom_bp")

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_decisions_capacity_override_by_id_people"), type_="foreignkey"
        )
        batch_op.drop_column("capacity_override_justification")
        batch_op.drop_column("capacity_override_by_id")
        batch_op.drop_column("granted_partition")

    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_awards_partition_id_partitions"), type_="foreignkey"
        )
        batch_op.drop_column("partition_id")

    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocations_partition_id"))
        batch_op.drop_index(batch_op.f("ix_allocations_award_id"))

    op.drop_table("allocations")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nodes_partition_id"))

    op.drop_table("nodes")
    op.drop_table("partitions")
    op.drop_table("capacity_phases")
