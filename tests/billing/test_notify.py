"""Burn alerts leave through the outbox: queued by the billing run, mailed after it commits
through a real SMTP conversation on loopback, retried with backoff when the server refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes

from aisc.billing import alerts
from aisc.deployment import Deployment
from aisc.outbox import service
from aisc.outbox.channels import FileMailer, SmtpMailer
from aisc.outbox.worker import deliver_due
from aisc.settings import Settings
from tests.billing.test_billing import Billed
from tests.outbox.helpers import outbox_rows, smtp_server, worker_uow


def test_burn_alerts_are_mailed_to_the_project_team_after_the_run(uow, engine, clock):
    clock.advance(days=120)
    world = Billed(uow, clock)
    world.usage(world.pooled, 600 * 3600, datetime(2025, 3, 5, tzinfo=UTC))
    with smtp_server() as server:
        port = server.server_address[1]
        settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_sender="ops@centre.example")
        deployment = Deployment.from_settings(settings)
        assert isinstance(deployment.mailer, SmtpMailer)
        with uow() as ctx:
            [note] = alerts.check_burn(ctx)
        assert server.messages == []  # queued, not sent
        done = deliver_due(worker_uow(engine, clock, deployment))
        [raw] = server.messages
    [row] = outbox_rows(uow)
    assert done.sent == [row.id]
    assert (row.key, row.channel, row.attempts) == (f"notification:{note.id}", "smtp", 1)
    mail = message_from_bytes(raw)
    assert mail["To"] == "pi@uni.example"
    assert mail["From"] == "ops@centre.example"
    assert mail["Subject"] == f"[aisc] award {world.pooled}: burn 50%"
    assert mail["X-Aisc-Outbox-Id"] == str(row.id)
    assert mail["Message-ID"].startswith(f"<aisc-outbox-{row.id}-")
    assert "60%" in mail.get_payload()


def test_a_refusing_smtp_server_is_retried_with_backoff_until_it_accepts(uow, engine, clock):
    clock.advance(days=120)
    world = Billed(uow, clock)
    world.usage(world.pooled, 600 * 3600, datetime(2025, 3, 5, tzinfo=UTC))
    with uow() as ctx:
        alerts.check_burn(ctx)
    with smtp_server() as server:
        server.refuse = True
        port = server.server_address[1]
        deployment = Deployment.from_settings(Settings(smtp_host="127.0.0.1", smtp_port=port))
        deliver = worker_uow(engine, clock, deployment)
        first = deliver_due(deliver)
        [row] = outbox_rows(uow)
        assert first.failed == [row.id]
        assert first.sent == []
        assert row.attempts == 1
        assert "451" in row.last_error
        assert row.next_attempt_at == clock() + service.FIRST_RETRY
        # Not due again before the backoff has passed.
        assert deliver_due(deliver).failed == []
        clock.advance(seconds=30)
        assert deliver_due(deliver).failed == [row.id]
        [row] = outbox_rows(uow)
        assert row.next_attempt_at == clock() + 2 * service.FIRST_RETRY  # doubled
        server.refuse = False
        clock.advance(seconds=59)
        assert deliver_due(deliver).sent == []
        clock.advance(seconds=1)
        assert deliver_due(deliver).sent == [row.id]
        assert len(server.messages) == 1
        assert deliver_due(deliver).sent == []  # delivered once
    [row] = outbox_rows(uow)
    assert (row.attempts, row.channel, row.delivered_at) == (3, "smtp", clock())
    with uow() as ctx:
        [note] = alerts.list_notifications(ctx, award_id=world.pooled)
    assert (note.channel, note.delivered_at) == ("smtp", clock())


def test_backoff_doubles_up_to_its_bound():
    waits = [service.backoff(n) for n in range(1, 12)]
    assert waits[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert waits[-1] == service.MAX_RETRY
    assert service.backoff(10**6) == service.MAX_RETRY


def test_the_default_channel_is_a_file_under_the_data_directory(tmp_path):
    mailer = Deployment.from_settings(Settings(data_dir=tmp_path)).mailer
    assert isinstance(mailer, FileMailer)
    assert mailer.path == tmp_path / "notifications.jsonl"
