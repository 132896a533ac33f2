"""Delivering notifications: a JSON-lines file by default, e-mail when SMTP is configured."""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from aisc.accounts.models import Person
from aisc.applications.models import ProjectMember
from aisc.awards.models import Award
from aisc.billing.models import Notification
from aisc.context import Ctx
from aisc.settings import Settings


class Notifier(Protocol):
    channel: str

    def send(self, ctx: Ctx, note: Notification) -> None: ...


def recipients(ctx: Ctx, award_id: int) -> list[str]:
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


class FileNotifier:
    """Appends one JSON line per notification (the default: nothing leaves the machine)."""

    channel = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, ctx: Ctx, note: Notification) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {
            "at": note.created_at.isoformat(),
            "award_id": note.award_id,
            "kind": note.kind,
            "to": recipients(ctx, note.award_id),
            "message": note.message,
        }
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


class SmtpNotifier:
    """Sends each notification to the project team through an SMTP server."""

    channel = "smtp"

    def __init__(self, host: str, port: int, sender: str, *, starttls: bool = False) -> None:
        self.host, self.port, self.sender, self.starttls = host, port, sender, starttls

    def send(self, ctx: Ctx, note: Notification) -> None:
        to = recipients(ctx, note.award_id)
        if not to:
            return
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = f"[aisc] award {note.award_id}: {note.kind.replace('_', ' ')}%"
        message.set_content(note.message)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            if self.starttls:
                smtp.starttls()
            smtp.send_message(message)


def notifier_from_settings(settings: Settings) -> Notifier:
    if settings.smtp_host:
        return SmtpNotifier(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_sender,
            starttls=settings.smtp_starttls,
        )
    return FileNotifier(settings.data_dir / "notifications.jsonl")
