"""The notification outbox; burn alerts' delivery is recorded there

Revision ID: 0016
Revises: 0013

Notifications delivered before this revision keep their delivery: each becomes a delivered
outbox message under the key ``notification:<id>`` (its recipients were not recorded then, so
the list is empty), and the notifications table loses its own ``delivered_at`` and ``channel``.
Downgrading copies them back from the outbox before dropping it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aisc.db.base import UTCDateTime

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox = op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("gave_up_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_messages_key")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_messages_due",
            ["delivered_at", "gave_up_at", "next_attempt_at"],
            unique=False,
        )

    bind = op.get_bind()
    notes = sa.table(
        "notifications",
        sa.column("id", sa.Integer()),
        sa.column("award_id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("message", sa.Text()),
        sa.column("created_at", UTCDateTime()),
        sa.column("delivered_at", UTCDateTime()),
        sa.column("channel", sa.String()),
    )
    delivered = bind.execute(
        sa.select(notes).where(notes.c.delivered_at.is_not(None)).order_by(notes.c.id)
    ).all()
    if delivered:
        op.bulk_insert(
            outbox,
            [
                {
                    "key": f"notification:{row.id}",
                    "kind": row.kind,
                    "recipients": [],
                    "subject": _subject(row.award_id, row.kind),
                    "body": row.message,
                    "sensitive": False,
                    "created_at": row.created_at,
                    "attempts": 1,
                    "next_attempt_at": row.delivered_at,
                    "delivered_at": row.delivered_at,
                    "channel": row.channel or "",
                    "gave_up_at": None,
                    "last_error": "",
                }
                for row in delivered
            ],
        )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("channel")
        batch_op.drop_column("delivered_at")


def _subject(award_id: int, kind: str) -> str:
    return f"[aisc] award {award_id}: {kind.replace('_', ' ')}%"


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("channel", sa.String(length=20), nullable=False, server_default="")
        )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("channel", server_default=None)
    bind = op.get_bind()
    outbox = sa.table(
        "outbox_messages",
        sa.column("key", sa.String()),
        sa.column("delivered_at", UTCDateTime()),
        sa.column("channel", sa.String()),
    )
    notes = sa.table(
        "notifications",
        sa.column("id", sa.Integer()),
        sa.column("delivered_at", UTCDateTime()),
        sa.column("channel", sa.String()),
    )
    rows = bind.execute(
        sa.select(outbox.c.key, outbox.c.delivered_at, outbox.c.channel).where(
            outbox.c.key.like("notification:%"), outbox.c.delivered_at.is_not(None)
        )
    ).all()
    for key, delivered_at, channel in rows:
        bind.execute(
            notes.update()
            .where(notes.c.id == int(key.partition(":")[2]))
            .values(delivered_at=delivered_at, channel=channel)
        )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_due")
    op.drop_table("outbox_messages")
