"""Mail to one person (password resets), through the platform's notification channel.

The same channel as the burn alerts (``aisc.billing.notify``): SMTP when ``AISC_SMTP_HOST`` is
set, otherwise one JSON line per message in ``$AISC_DATA_DIR/notifications.jsonl`` (nothing
leaves the machine; that file then holds live reset links and is for the platform's eyes only).
Called after the transaction that decided the message has committed.
"""

from __future__ import annotations

import json
import logging
import smtplib
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from aisc.settings import Settings

log = logging.getLogger(__name__)


def send_to_person(
    settings: Settings, *, at: datetime, kind: str, to: str, subject: str, body: str
) -> None:
    """Deliver one message; a delivery failure is logged (never shown to the requester)."""
    try:
        if settings.smtp_host:
            message = EmailMessage()
            message["From"] = settings.smtp_sender
            message["To"] = to
            message["Subject"] = subject
            message.set_content(body)
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls()
                smtp.send_message(message)
            return
        path = settings.data_dir / "notifications.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {"at": at.isoformat(), "kind": kind, "to": [to], "subject": subject, "message": body}
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
    except OSError as exc:
        log.error("could not deliver %s mail: %s", kind, exc)


def send_reset_link(
    settings: Settings, *, at: datetime, to: str, name: str, secret: str, base_url: str
) -> None:
    """The password reset e-mail: a single-use link valid for an hour."""
    link = f"{base_url.rstrip('/')}/password-reset/confirm?token={secret}"
    body = (
        f"{name},\n\n"
        "Someone (we hope you) asked to reset your aisc password. Open this link within an "
        f"hour to choose a new one; it works once:\n\n{link}\n\n"
        f"Or send this code to POST /api/v1/auth/password-reset/confirm: {secret}\n\n"
        "Setting a new password signs you out everywhere. If you did not ask, ignore this "
        "message: your password stays as it is.\n\n"
        "有人（希望是您）要求重設您的 aisc 密碼。請於一小時內開啟以上連結設定新密碼；"  # noqa: RUF001
        "連結只能使用一次。如您沒有提出要求，請忽略此郵件。\n"  # noqa: RUF001
    )
    send_to_person(
        settings,
        at=at,
        kind="password_reset",
        to=to,
        subject="[aisc] reset your password / 重設密碼",
        body=body,
    )


def send_reset_link_if_found(
    settings: Settings, found: tuple[Any, str] | None, *, at: datetime, base_url: str
) -> None:
    """What ``request_password_reset`` decided, delivered (nothing when no link was made)."""
    if found is None:
        return
    person, secret = found
    send_reset_link(
        settings, at=at, to=person.email, name=person.name, secret=secret, base_url=base_url
    )
