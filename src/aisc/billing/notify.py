"""Burn alerts as messages: who is told, and what, queued in the outbox of the billing run.

The message is written in the same transaction as the alert (``aisc.outbox.service.enqueue``)
and leaves after it commits, through whatever channel the deployment delivers by; nothing here
sends anything.
"""

from __future__ import annotations

from sqlalchemy import select

from aisc.access import authorize
from aisc.accounts.models import Person
from aisc.applications.models import ProjectMember
from aisc.awards.models import Award
from aisc.billing.models import Notification
from aisc.context import Ctx
from aisc.outbox import service as outbox


def _recipients(ctx: Ctx, award_id: int) -> list[str]:
    """The project team's e-mail addresses."""
    award = ctx.db.get(Award, award_id)
    if award is None:
        return []
    return list(
        ctx.db.execute(
            select(Person.email)
            .join(ProjectMember, ProjectMember.person_id == Person.id)
            .where(ProjectMember.application_id == award.application_id)
            .order_by(Person.email)
        ).scalars()
    )


def outbox_key(note: Notification) -> str:
    return f"notification:{note.id}"


def queue(ctx: Ctx, note: Notification) -> bool:
    """Queue ``note`` for the project team; False when the team has no address to write to
    (the alert is still stored and listed). A step of the monthly run (``billing.run``)."""
    authorize(ctx, "billing.run")
    to = _recipients(ctx, note.award_id)
    if not to:
        return False
    outbox.enqueue(
        ctx,
        key=outbox_key(note),
        kind=note.kind,
        to=to,
        subject=f"[aisc] award {note.award_id}: {note.kind.replace('_', ' ')}%",
        body=note.message,
    )
    return True
