"""E-mail delivery of burn alerts through a real SMTP conversation on loopback."""

from __future__ import annotations

import socketserver
import threading
from datetime import UTC, datetime
from email import message_from_bytes

from aisc.billing import alerts
from aisc.billing.notify import FileNotifier, SmtpNotifier, notifier_from_settings
from aisc.settings import Settings
from tests.billing.test_billing import Billed


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 to receive a message."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line.decode().strip().upper()
            if verb.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 test\r\n")
            elif verb.startswith("MAIL FROM"):
                self.server.envelope = {"from": line.decode().strip(), "to": []}  # type: ignore[attr-defined]
                self.wfile.write(b"250 ok\r\n")
            elif verb.startswith("RCPT TO"):
                self.server.envelope["to"].append(line.decode().strip())  # type: ignore[attr-defined]
                self.wfile.write(b"250 ok\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go on\r\n")
                body = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk
                self.server.messages.append(body)  # type: ignore[attr-defined]
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_burn_alerts_are_mailed_to_the_project_team(uow, clock, tmp_path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        clock.advance(days=120)
        world = Billed(uow, clock)
        world.usage(world.pooled, 600 * 3600, datetime(2025, 3, 5, tzinfo=UTC))
        port = server.server_address[1]
        settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_sender="ops@centre.example")
        mailer = notifier_from_settings(settings)
        assert isinstance(mailer, SmtpNotifier)
        with uow() as ctx:
            [note] = alerts.check_burn(ctx, notifier=mailer)
        assert note.channel == "smtp"
        [raw] = server.messages  # type: ignore[attr-defined]
        mail = message_from_bytes(raw)
        assert mail["To"] == "pi@uni.example"
        assert mail["From"] == "ops@centre.example"
        assert "60%" in mail.get_payload()
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(notifier_from_settings(Settings(data_dir=tmp_path)), FileNotifier)
