"""The delivery worker: claim in one short transaction, send outside any, record in another.

``deliver_due`` is one pass; the server runs it every few seconds beside the scheduling loop
(``aisc.periodic.Periodic``) and ``aisc outbox deliver`` runs it once. Several workers may run
at once: on PostgreSQL their claims skip each other's locked rows, on SQLite the write lock
orders them, and a claimed message is not due again until its claim lapses, so in the normal
path no message is sent twice. A worker that dies after sending but before recording leaves
the claim to lapse and the message is sent again: delivery is at least once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from aisc.context import Ctx
from aisc.outbox import service

log = logging.getLogger(__name__)

# How often the server's background loop looks for due messages.
DELIVERY_INTERVAL_S = 5.0

OpenCtx = Callable[[], AbstractContextManager[Ctx]]


@dataclass
class Delivery:
    """What one pass did, by message id."""

    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def deliver_due(open_ctx: OpenCtx, *, limit: int = 50) -> Delivery:
    """Deliver what is due now through the deployment's mailer (``ctx.deployment``).

    ``open_ctx`` opens one write transaction as the system (the CLI's ``uow``, the server's
    delivery loop); its context must carry the deployment, or nothing is claimed and
    ``NotReady`` says why.
    """
    with open_ctx() as ctx:
        mailer = ctx.require_deployment().mailer
        claimed = service.claim_due(ctx, limit=limit)
    done = Delivery()
    for message in claimed:
        try:
            mailer.send(message)
        except Exception as exc:  # any failure is the message's to record and retry
            log.warning("outbox message %s via %s failed: %s", message.id, mailer.channel, exc)
            with open_ctx() as ctx:
                service._record_failure(
                    ctx, message_id=message.id, error=f"{type(exc).__name__}: {exc}"
                )
            done.failed.append(message.id)
            continue
        with open_ctx() as ctx:
            service._record_sent(ctx, message_id=message.id, channel=mailer.channel)
        done.sent.append(message.id)
    return done
