"""Organisation vetting (name keys and skeletons, verified categories, look-alike flags) and
QOS grants

Revision ID: 0013
Revises: 0012

Existing organisations get their name key and skeleton computed here; their categories count
as confirmed (they were accepted before the secretariat alone could set them). Two existing
names with one key keep both rows: the later gets a key marked with its id and a flag for the
secretariat; two with one skeleton are flagged.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from aisc.accounts.names import name_key, skeleton
from aisc.db.base import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

QOS = ("scavenger", "overburn", "standard", "hero", "debug")


def upgrade() -> None:
    op.create_table(
        "organisation_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("resembles_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("cleared_at", UTCDateTime(), nullable=True),
        sa.Column("cleared_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_flags_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resembles_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_flags_resembles_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_flags")),
    )
    with op.batch_alter_table("organisation_flags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_flags_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "qos_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.Integer(), nullable=False),
        sa.Column(
            "qos",
            sa.Enum(*QOS, name="grant_qos", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("gpu_hours", sa.Integer(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "gpu_hours IS NULL OR gpu_hours > 0", name=op.f("ck_qos_grants_limit_positive")
        ),
        sa.ForeignKeyConstraint(
            ["award_id"],
            ["awards.id"],
            name=op.f("fk_qos_grants_award_id_awards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qos_grants")),
    )
    with op.batch_alter_table("qos_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qos_grants_award_id"), ["award_id"], unique=False)

    # Only added columns and new indexes: SQLite then alters the table in place. Rebuilding
    # it (batch mode) would drop the old table, which the foreign keys of memberships and
    # applications forbid (or cascade).
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        for column in ("name_key", "name_skeleton"):
            batch_op.add_column(
                sa.Column(column, sa.String(length=1000), nullable=False, server_default="")
            )
        batch_op.add_column(sa.Column("category_verified_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("category_verified_by", sa.String(length=100), nullable=True))
    flags = _fill_names()
    if op.get_bind().dialect.name != "sqlite":  # SQLite cannot drop a default in place
        for column in ("name_key", "name_skeleton"):
            op.alter_column("organisations", column, server_default=None)
    op.create_index(op.f("ix_organisations_name_key"), "organisations", ["name_key"], unique=True)
    op.create_index(
        op.f("ix_organisations_name_skeleton"), "organisations", ["name_skeleton"], unique=False
    )
    if flags:
        op.bulk_insert(_FLAGS, flags)


_FLAGS = sa.table(
    "organisation_flags",
    sa.column("organisation_id", sa.Integer),
    sa.column("resembles_id", sa.Integer),
    sa.column("reason", sa.Text),
    sa.column("created_at", UTCDateTime),
    sa.column("note", sa.Text),
)


def _fill_names() -> list[dict[str, object]]:
    bind = op.get_bind()
    orgs = sa.table(
        "organisations",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("name_key", sa.String),
        sa.column("name_skeleton", sa.String),
        sa.column("created_at", UTCDateTime),
        sa.column("category_verified_at", UTCDateTime),
        sa.column("category_verified_by", sa.String),
    )
    flags: list[dict[str, object]] = []
    now = datetime.now(UTC)
    keys: dict[str, int] = {}
    shapes: dict[str, int] = {}
    rows = bind.execute(sa.select(orgs.c.id, orgs.c.name, orgs.c.created_at).order_by(orgs.c.id))
    for org_id, name, created_at in list(rows):
        key, shape = name_key(name), skeleton(name)
        twin = keys.get(key, shapes.get(shape))
        if key in keys:
            key = f"{key} [{org_id}]"
        keys.setdefault(key, org_id)
        shapes.setdefault(shape, org_id)
        bind.execute(
            orgs.update()
            .where(orgs.c.id == org_id)
            .values(
                name_key=key,
                name_skeleton=shape,
                category_verified_at=created_at,
                category_verified_by="migration",
            )
        )
        if twin is not None:
            flags.append(
                {
                    "organisation_id": org_id,
                    "resembles_id": twin,
                    "reason": f"the name {name!r} looks like organisation {twin}'s",
                    "created_at": now,
                    "note": "",
                }
            )
    return flags


def downgrade() -> None:
    op.drop_index(op.f("ix_organisations_name_skeleton"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_name_key"), table_name="organisations")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("category_verified_by")
        batch_op.drop_column("category_verified_at")
        batch_op.drop_column("name_skeleton")
        batch_op.drop_column("name_key")

    with op.batch_alter_table("qos_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qos_grants_award_id"))
    op.drop_table("qos_grants")
    with op.batch_alter_table("organisation_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_flags_organisation_id"))
    op.drop_table("organisation_flags")
