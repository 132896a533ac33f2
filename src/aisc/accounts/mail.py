"""Mail to one person (password resets), queued in the outbox of the transaction that decided it.

The message leaves after that transaction commits, through the deployment's channel, the same
as the burn alerts (``aisc.outbox``): SMTP when ``AISC_SMTP_HOST`` is set, otherwise one JSON
line per message in ``$AISC_DATA_DIR/notifications.jsonl`` (nothing leaves the machine; that
file then holds live reset links and is for the platform's eyes only). The queued body holds
the link until it is delivered and is blanked then.
"""

from __future__ import annotations

import hashlib

from aisc.accounts import auth
from aisc.accounts.models import Person
from aisc.context import Ctx
from aisc.outbox import service as outbox


def reset_mail_body(*, name: str, secret: str, base_url: str) -> str:
    """The password reset e-mail: a single-use link valid for an hour."""
    link = f"{base_url.rstrip('/')}/password-reset/confirm?token={secret}"
    return (
        f"{name},\n\n"
        "Someone (we hope you) asked to reset your aisc password. Open this link within an "
        f"hour to choose a new one; it works once:\n\n{link}\n\n"
        f"Or send this code to POST /api/v1/auth/password-reset/confirm: {secret}\n\n"
        "Setting a new password signs you out everywhere. If you did not ask, ignore this "
        "message: your password stays as it is.\n\n"
        "有人（希望是您）要求重設您的 aisc 密碼。請於一小時內開啟以上連結設定新密碼；"  # noqa: RUF001
        "連結只能使用一次。如您沒有提出要求，請忽略此郵件。\n"  # noqa: RUF001
    )


def _queue_reset_link(ctx: Ctx, person: Person, *, secret: str, base_url: str) -> None:
    """Queue the reset mail for ``person``: one message per link, keyed by the link's digest
    (what the password_resets table keeps too), never by the secret itself."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    outbox.enqueue(
        ctx,
        key=f"password_reset:{digest}",
        kind="password_reset",
        to=[person.email],
        subject="[aisc] reset your password / 重設密碼",
        body=reset_mail_body(name=person.name, secret=secret, base_url=base_url),
        sensitive=True,
    )


def request_reset_link(ctx: Ctx, *, email: str, base_url: str) -> None:
    """Ask for a reset link for ``email``: made and queued when the address has an active
    account under its hourly bound, nothing otherwise; the caller answers the same either way.
    """
    found = auth.request_password_reset(ctx, email=email)
    if found is None:
        return
    person, secret = found
    _queue_reset_link(ctx, person, secret=secret, base_url=base_url)
