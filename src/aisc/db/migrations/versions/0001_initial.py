"""initial schema: scheme, applications, reviews, ledger, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=50), nullable=False),
        sa.Column("object_id", sa.String(length=100), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_events_seq")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "gpu_models",
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("vendor", sa.String(length=100), nullable=False),
        sa.Column("memory_gb", sa.Integer(), nullable=False),
        sa.Column("memory_bandwidth_gbps", sa.Integer(), nullable=False),
        sa.Column("interconnect_gbps", sa.Integer(), nullable=False),
        sa.Column("fp8_dense_gflops", sa.BigInteger(), nullable=False),
        sa.Column("bf16_dense_gflops", sa.BigInteger(), nullable=False),
        sa.Column("tf32_dense_gflops", sa.BigInteger(), nullable=False),
        sa.Column("fp64_dense_gflops", sa.BigInteger(), nullable=False),
        sa.Column("sparsity_2x", sa.Boolean(), nullable=False),
        sa.Column("inference_oriented", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_gpu_models")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=True),
        sa.Column(
            "category",
            sa.Enum(
                "university",
                "research_institute",
                "ai_startup",
                "enterprise",
                "public_body",
                "other",
                name="org_category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("br_number", sa.String(length=50), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("email", name=op.f("uq_people_email")),
    )
    op.create_table(
        "price_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_lists")),
        sa.UniqueConstraint("effective_from", name=op.f("uq_price_lists_effective_from")),
        sa.UniqueConstraint("version", name=op.f("uq_price_lists_version")),
    )
    op.create_table(
        "schemes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("default_rate_bp", sa.Integer(), nullable=False),
        sa.Column("exceptional_max_bp", sa.Integer(), nullable=False),
        sa.Column("review_quorum", sa.Integer(), nullable=False),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "default_rate_bp BETWEEN 0 AND 10000", name=op.f("ck_schemes_default_rate_range")
        ),
        sa.CheckConstraint("end_date > start_date", name=op.f("ck_schemes_dates_ordered")),
        sa.CheckConstraint(
            "exceptional_max_bp BETWEEN default_rate_bp AND 10000",
            name=op.f("ck_schemes_exceptional_range"),
        ),
        sa.CheckConstraint("review_quorum >= 1", name=op.f("ck_schemes_quorum_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schemes")),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "screening",
                "incomplete",
                "under_review",
                "approved",
                "approved_with_conditions",
                "deferred",
                "rejected",
                "withdrawn",
                name="application_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column(
            "domain",
            sa.Enum(
                "llm",
                "materials",
                "synthetic_biology",
                "medical",
                "finance",
                "robotics",
                "climate",
                "media",
                "other",
                name="domain",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("hk_relevance", sa.Text(), nullable=False),
        sa.Column("local_rnd_staff", sa.Integer(), nullable=False),
        sa.Column("nonlocal_rnd_staff", sa.Integer(), nullable=False),
        sa.Column(
            "request_kind",
            sa.Enum(
                "dedicated",
                "pooled",
                name="request_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("gpu_model_code", sa.String(length=50), nullable=False),
        sa.Column("gpu_cards", sa.Integer(), nullable=True),
        sa.Column("gpu_hours", sa.BigInteger(), nullable=True),
        sa.Column("months", sa.Integer(), nullable=True),
        sa.Column("preferred_start", sa.Date(), nullable=True),
        sa.Column("model_parameters", sa.BigInteger(), nullable=True),
        sa.Column("dataset_size_gb", sa.BigInteger(), nullable=True),
        sa.Column(
            "precision",
            sa.Enum(
                "fp8",
                "bf16",
                "fp16",
                "tf32",
                "fp32",
                "mixed",
                name="precision",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "workload",
            sa.Enum(
                "training",
                "inference",
                "both",
                name="workload",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("decl_no_double_funding", sa.Boolean(), nullable=False),
        sa.Column("decl_information_true", sa.Boolean(), nullable=False),
        sa.Column("decl_consent_disclosure", sa.Boolean(), nullable=False),
        sa.Column("decl_legal_compliance", sa.Boolean(), nullable=False),
        sa.Column("previous_application_id", sa.Integer(), nullable=True),
        sa.Column("screening_findings", sa.Text(), nullable=True),
        sa.Column("screened_at", sa.DateTime(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "gpu_cards IS NULL OR gpu_cards >= 0", name=op.f("ck_applications_cards_non_negative")
        ),
        sa.CheckConstraint(
            "gpu_hours IS NULL OR gpu_hours >= 0", name=op.f("ck_applications_hours_non_negative")
        ),
        sa.CheckConstraint(
            "local_rnd_staff >= 0 AND nonlocal_rnd_staff >= 0",
            name=op.f("ck_applications_staff_non_negative"),
        ),
        sa.CheckConstraint(
            "months IS NULL OR months >= 0", name=op.f("ck_applications_months_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["people.id"], name=op.f("fk_applications_created_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_applications_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["previous_application_id"],
            ["applications.id"],
            name=op.f("fk_applications_previous_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["schemes.id"], name=op.f("fk_applications_scheme_id_schemes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_applications_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_applications_status"), ["status"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_memberships_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_memberships_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("person_id", "organisation_id", name=op.f("uq_memberships_person_id")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_memberships_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "person_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "applicant",
                "reviewer",
                "secretariat",
                "operator",
                "finance",
                "auditor",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_person_roles_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_roles")),
        sa.UniqueConstraint("person_id", "role", name=op.f("uq_person_roles_person_id")),
    )
    op.create_table(
        "price_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("price_list_id", sa.Integer(), nullable=False),
        sa.Column("gpu_model_code", sa.String(length=50), nullable=False),
        sa.Column("card_month_cents", sa.BigInteger(), nullable=False),
        sa.Column("gpu_hour_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("card_month_cents > 0", name=op.f("ck_price_items_card_month_positive")),
        sa.CheckConstraint("gpu_hour_cents > 0", name=op.f("ck_price_items_gpu_hour_positive")),
        sa.ForeignKeyConstraint(
            ["gpu_model_code"],
            ["gpu_models.code"],
            name=op.f("fk_price_items_gpu_model_code_gpu_models"),
        ),
        sa.ForeignKeyConstraint(
            ["price_list_id"],
            ["price_lists.id"],
            name=op.f("fk_price_items_price_list_id_price_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_items")),
        sa.UniqueConstraint(
            "price_list_id", "gpu_model_code", name=op.f("uq_price_items_price_list_id")
        ),
    )
    op.create_table(
        "scheme_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "university",
                "research_institute",
                "ai_startup",
                "enterprise",
                "public_body",
                "other",
                name="scheme_category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["schemes.id"],
            name=op.f("fk_scheme_categories_scheme_id_schemes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheme_categories")),
        sa.UniqueConstraint("scheme_id", "category", name=op.f("uq_scheme_categories_scheme_id")),
    )
    op.create_table(
        "scheme_criteria",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "weight BETWEEN 1 AND 100", name=op.f("ck_scheme_criteria_weight_range")
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["schemes.id"],
            name=op.f("fk_scheme_criteria_scheme_id_schemes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheme_criteria")),
        sa.UniqueConstraint("scheme_id", "code", name=op.f("uq_scheme_criteria_scheme_id")),
    )
    op.create_table(
        "application_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "size_bytes >= 0", name=op.f("ck_application_attachments_size_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_attachments_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_attachments")),
    )
    with op.batch_alter_table("application_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_application_attachments_application_id"),
            ["application_id"],
            unique=False,
        )

    op.create_table(
        "awards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "offered",
                "active",
                "suspended",
                "completed",
                "terminated",
                name="award_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "dedicated",
                "pooled",
                name="award_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("gpu_model_code", sa.String(length=50), nullable=False),
        sa.Column("gpu_cards", sa.Integer(), nullable=True),
        sa.Column("gpu_hours", sa.BigInteger(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("subsidy_rate_bp", sa.Integer(), nullable=False),
        sa.Column("list_value_cents", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_cap_cents", sa.BigInteger(), nullable=False),
        sa.Column("price_list_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("end_date > start_date", name=op.f("ck_awards_dates_ordered")),
        sa.CheckConstraint("list_value_cents >= 0", name=op.f("ck_awards_list_non_negative")),
        sa.CheckConstraint("subsidy_cap_cents >= 0", name=op.f("ck_awards_cap_non_negative")),
        sa.CheckConstraint(
            "subsidy_rate_bp BETWEEN 0 AND 10000", name=op.f("ck_awards_rate_range")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_awards_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["gpu_model_code"],
            ["gpu_models.code"],
            name=op.f("fk_awards_gpu_model_code_gpu_models"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_awards_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["price_list_id"], ["price_lists.id"], name=op.f("fk_awards_price_list_id_price_lists")
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["schemes.id"], name=op.f("fk_awards_scheme_id_schemes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_awards")),
        sa.UniqueConstraint("application_id", name=op.f("uq_awards_application_id")),
    )
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_awards_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_awards_scheme_id"), ["scheme_id"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "approve",
                "approve_with_conditions",
                "defer",
                "reject",
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column(
            "granted_kind",
            sa.Enum(
                "dedicated",
                "pooled",
                name="granted_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("granted_gpu_model", sa.String(length=50), nullable=True),
        sa.Column("granted_cards", sa.Integer(), nullable=True),
        sa.Column("granted_gpu_hours", sa.BigInteger(), nullable=True),
        sa.Column("granted_months", sa.Integer(), nullable=True),
        sa.Column("granted_start", sa.Date(), nullable=True),
        sa.Column("subsidy_rate_bp", sa.Integer(), nullable=True),
        sa.Column("exceptional_justification", sa.Text(), nullable=False),
        sa.Column("price_list_id", sa.Integer(), nullable=True),
        sa.Column("list_value_cents", sa.BigInteger(), nullable=True),
        sa.Column("subsidy_cap_cents", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "subsidy_rate_bp IS NULL OR subsidy_rate_bp BETWEEN 0 AND 10000",
            name=op.f("ck_decisions_rate_range"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_decisions_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["people.id"], name=op.f("fk_decisions_decided_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["price_list_id"],
            ["price_lists.id"],
            name=op.f("fk_decisions_price_list_id_price_lists"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_decisions_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "review_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.Column("conflict", sa.Boolean(), nullable=True),
        sa.Column("conflict_note", sa.Text(), nullable=False),
        sa.Column("declared_at", sa.DateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_review_assignments_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["people.id"], name=op.f("fk_review_assignments_reviewer_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_assignments")),
        sa.UniqueConstraint(
            "application_id", "reviewer_id", name=op.f("uq_review_assignments_application_id")
        ),
    )
    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_assignments_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_review_assignments_reviewer_id"), ["reviewer_id"], unique=False
        )

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "budget",
                "earmark",
                "commitment",
                "disbursement",
                "release",
                name="entry_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "(kind IN ('commitment', 'disbursement', 'release')) = (award_id IS NOT NULL)",
            name=op.f("ck_ledger_entries_award_entries_name_award"),
        ),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_ledger_entries_amount_positive")),
        sa.ForeignKeyConstraint(
            ["award_id"], ["awards.id"], name=op.f("fk_ledger_entries_award_id_awards")
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["schemes.id"], name=op.f("fk_ledger_entries_scheme_id_schemes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_award_id"), ["award_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_scheme_id"), ["scheme_id"], unique=False
        )

    op.create_table(
        "review_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("criterion_code", sa.String(length=50), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.CheckConstraint("score BETWEEN 0 AND 10", name=op.f("ck_review_scores_score_range")),
        sa.CheckConstraint("weight BETWEEN 1 AND 100", name=op.f("ck_review_scores_weight_range")),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["review_assignments.id"],
            name=op.f("fk_review_scores_assignment_id_review_assignments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_scores")),
        sa.UniqueConstraint(
            "assignment_id", "criterion_code", name=op.f("uq_review_scores_assignment_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("review_scores")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_scheme_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_award_id"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_assignments_reviewer_id"))
        batch_op.drop_index(batch_op.f("ix_review_assignments_application_id"))

    op.drop_table("review_assignments")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_application_id"))

    op.drop_table("decisions")
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_awards_scheme_id"))
        batch_op.drop_index(batch_op.f("ix_awards_organisation_id"))

    op.drop_table("awards")
    with op.batch_alter_table("application_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_attachments_application_id"))

    op.drop_table("application_attachments")
    op.drop_table("scheme_criteria")
    op.drop_table("scheme_categories")
    op.drop_table("price_items")
    op.drop_table("person_roles")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_organisation_id"))

    op.drop_table("memberships")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_status"))
        batch_op.drop_index(batch_op.f("ix_applications_organisation_id"))

    op.drop_table("applications")
    op.drop_table("schemes")
    op.drop_table("price_lists")
    op.drop_table("people")
    op.drop_table("organisations")
    op.drop_table("gpu_models")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events_actor"))

    op.drop_table("audit_events")
