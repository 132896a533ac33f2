"""``aisc outbox``: what is waiting to be sent, and sending it now.

The server delivers every few seconds on its own; these commands are for a deployment without
a running server, and for looking at (and retrying) what did not go out.
"""

from __future__ import annotations

import typer

from aisc.cli.common import JsonOpt, emit_list, emit_one, uow

app = typer.Typer(
    help="The notification outbox: list, deliver, retry (delivery is at least once).",
    no_args_is_help=True,
)
COLUMNS = [
    "id",
    "kind",
    "recipients",
    "created_at",
    "attempts",
    "next_attempt_at",
    "delivered_at",
    "channel",
    "gave_up_at",
    "last_error",
]


@app.command("deliver")
def deliver(
    limit: int = typer.Option(500, min=1, max=10_000, help="at most this many messages"),
) -> None:
    """Send every due message once through the configured channel (file or SMTP); exit 1 if
    any attempt failed (it is retried later, with backoff)."""
    from aisc.outbox.worker import deliver_due

    done = deliver_due(uow, limit=limit)
    typer.echo(f"delivered {len(done.sent)}, failed {len(done.failed)}")
    if done.failed:
        raise typer.Exit(1)


@app.command("list")
def list_command(
    undelivered: bool = typer.Option(
        False, "--undelivered", help="only messages not delivered (waiting or given up)"
    ),
    limit: int = typer.Option(100, min=1, max=10_000),
    as_json: bool = JsonOpt,
) -> None:
    """The outbox, oldest first (bodies are not shown: they may hold reset links)."""
    from aisc.outbox import service
    from aisc.outbox.schemas import OutboxMessageRead

    with uow() as ctx:
        rows = [
            OutboxMessageRead.model_validate(m)
            for m in service.list_messages(ctx, undelivered=undelivered, limit=limit)
        ]
    emit_list(rows, COLUMNS, as_json)


@app.command("retry")
def retry(
    message_id: int = typer.Argument(..., min=1, max=2**31 - 1), as_json: bool = JsonOpt
) -> None:
    """Make a waiting or given-up message due now, its attempts counted afresh."""
    from aisc.outbox import service
    from aisc.outbox.schemas import OutboxMessageRead

    with uow() as ctx:
        row = OutboxMessageRead.model_validate(service.retry(ctx, message_id=message_id))
    emit_one(row, as_json)
