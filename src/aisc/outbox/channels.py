"""How a message leaves the platform: a JSON-lines file by default, e-mail when SMTP is set.

The deployment builds one mailer from its settings (``aisc.deployment``); the delivery worker
hands it one claimed message at a time, outside any transaction. A mailer raises on failure
(``OSError``, which ``smtplib``'s errors are) and the worker records it and retries later.
Every delivery carries the message's outbox id (the ``id`` of a file line, the ``Message-ID``
and ``X-Aisc-Outbox-Id`` of a mail), because delivery is at least once and a duplicate must be
recognisable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from aisc.settings import Settings


@dataclass(frozen=True)
class Outgoing:
    """One claimed message, detached from the database: what a mailer needs to send it."""

    id: int
    key: str
    kind: str
    to: tuple[str, ...]
    subject: str
    body: str
    created_at: datetime


class Mailer(Protocol):
    channel: str

    def send(self, message: Outgoing) -> None: ...


class FileMailer:
    """Appends one JSON line per message (the default: nothing leaves the machine).

    The file then holds whatever the messages hold, reset links included: keep it as private
    as the database.
    """

    channel = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: Outgoing) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {
            "id": message.id,
            "key": message.key,
            "at": message.created_at.isoformat(),
            "kind": message.kind,
            "to": list(message.to),
            "subject": message.subject,
            "message": message.body,
        }
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")


class SmtpMailer:
    """Sends each message, to all its recipients at once, through one SMTP server."""

    channel = "smtp"

    def __init__(self, host: str, port: int, sender: str, *, starttls: bool = False) -> None:
        self.host, self.port, self.sender, self.starttls = host, port, sender, starttls

    def send(self, message: Outgoing) -> None:
        # Loaded here: a command that sends no mail does not pay for the mail libraries.
        import smtplib
        from email.message import EmailMessage

        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = ", ".join(message.to)
        mail["Subject"] = message.subject
        domain = self.sender.rpartition("@")[2] or "localhost"
        # The same id on every attempt: a mail sent twice is recognisably the same mail.
        stamp = f"{message.created_at:%Y%m%d%H%M%S}"
        mail["Message-ID"] = f"<aisc-outbox-{message.id}-{stamp}@{domain}>"
        mail["X-Aisc-Outbox-Id"] = str(message.id)
        mail.set_content(message.body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            if self.starttls:
                smtp.starttls()
            smtp.send_message(mail)


def mailer_from_settings(settings: Settings) -> Mailer:
    """SMTP when ``AISC_SMTP_HOST`` is set; otherwise ``$AISC_DATA_DIR/notifications.jsonl``."""
    if settings.smtp_host:
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_sender,
            starttls=settings.smtp_starttls,
        )
    return FileMailer((settings.data_dir / "notifications.jsonl").absolute())
