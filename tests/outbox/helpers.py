"""What the outbox tests share: a loopback SMTP server, the worker's unit of work, the mail file."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from aisc.context import Ctx
from aisc.db.engine import make_sessionmaker, transaction
from aisc.deployment import Deployment
from aisc.outbox.models import OutboxMessage


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 to receive a message (or refuse it while ``server.refuse``)."""

    def handle(self) -> None:
        server: Any = self.server
        self.wfile.write(b"220 test ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line.decode().strip().upper()
            if verb.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 test\r\n")
            elif verb.startswith("MAIL FROM"):
                if server.refuse:
                    self.wfile.write(b"451 try again later\r\n")
                    continue
                self.wfile.write(b"250 ok\r\n")
            elif verb.startswith("RCPT TO"):
                self.wfile.write(b"250 ok\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go on\r\n")
                body = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk
                server.messages.append(body)
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@contextmanager
def smtp_server() -> Iterator[Any]:
    """A real SMTP server on loopback: ``.messages`` received, ``.refuse`` to answer 451."""
    server: Any = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.messages, server.refuse = [], False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def worker_uow(
    engine: Engine, clock: Callable[[], Any], deployment: Deployment | None
) -> Callable[[], AbstractContextManager[Ctx]]:
    """The delivery worker's unit of work: one write transaction as the system."""
    factory = make_sessionmaker(engine)

    @contextmanager
    def _open() -> Iterator[Ctx]:
        with transaction(factory) as db:
            yield Ctx(db=db, now=clock(), actor="outbox", deployment=deployment)

    return _open


def mail_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def outbox_rows(uow: Any) -> list[OutboxMessage]:
    with uow() as ctx:
        rows = list(ctx.db.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
        ctx.db.expunge_all()
    return rows
