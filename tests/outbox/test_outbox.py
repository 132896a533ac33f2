"""The outbox: written in the deciding transaction, delivered after commit, at least once.

Reproduced before it existed: a billing run from the finance page stored its burn alerts and
never sent them (only the API and CLI passed a notifier), and where alerts were sent they went
out before the run committed. Every edge now queues the same messages in the run's transaction,
and the worker delivers them once it has committed. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from aisc.access import SYSTEM
from aisc.accounts import auth
from aisc.accounts.models import Role
from aisc.app import create_app
from aisc.billing import charging
from aisc.billing.models import Notification
from aisc.deployment import Deployment
from aisc.errors import NotReady
from aisc.http import get_principal
from aisc.outbox import service
from aisc.outbox.channels import FileMailer
from aisc.outbox.worker import deliver_due
from aisc.settings import Settings
from tests.billing.test_billing import Billed
from tests.outbox.helpers import mail_lines, outbox_rows, worker_uow
from tests.portal.conftest import csrf_of, sign_in

PASSWORD = "Correct-Horse-42"


@pytest.fixture
def billed(uow, clock) -> Billed:
    """Two awards past March 2025, the pooled one 60% used (its 50% alert is due)."""
    clock.advance(days=120)
    world = Billed(uow, clock)
    world.usage(world.pooled, 600 * 3600, datetime(2025, 3, 5, tzinfo=UTC))
    return world


def _finance_browser(app, uow, world) -> TestClient:
    with uow() as ctx:
        person_id = world._person(ctx, "fin@centre.example", [Role.FINANCE], [])
        auth.set_password(ctx, person_id=person_id, password=PASSWORD)
    return sign_in(TestClient(app, base_url="https://testserver"), "fin@centre.example")


def _run_march(edge: str, app, uow, world, cli) -> None:
    if edge == "api":
        app.dependency_overrides[get_principal] = lambda: SYSTEM
        with TestClient(app) as client:
            ran = client.post("/api/v1/billing/runs", json={"month": "2025-03"})
        assert ran.status_code == 200, ran.text
        assert ran.json()["notifications"] == 1
    elif edge == "portal":
        with _finance_browser(app, uow, world) as browser:
            token = csrf_of(browser.get("/finance").text)
            done = browser.post(
                "/finance/billing",
                data={"month": "2025-03", "csrf_token": token},
                follow_redirects=False,
            )
        assert done.status_code == 303, done.text[-2000:]
    else:
        assert "1 burn alerts" in cli("billing", "run", "--month", "2025-03").output


@pytest.mark.parametrize("edge", ["api", "portal", "cli"])
def test_every_edge_queues_the_same_alerts_and_they_leave_once_after_commit(
    edge, billed, engine, clock, uow, cli, tmp_path
):
    app = create_app(engine=engine, clock=clock)
    mail = tmp_path / "var" / "notifications.jsonl"
    _run_march(edge, app, uow, billed, cli)
    assert mail_lines(mail) == []  # the run itself sends nothing
    queued = [(m.key.split(":")[0], m.kind, m.recipients, m.subject) for m in outbox_rows(uow)]
    assert queued == [
        ("notification", "burn_50", ["pi@uni.example"], f"[aisc] award {billed.pooled}: burn 50%")
    ]
    # The command line's worker (on the wall clock, which every test date precedes) sends it.
    assert cli("outbox", "deliver").output.strip() == "delivered 1, failed 0"
    assert cli("outbox", "deliver").output.strip() == "delivered 0, failed 0"
    app.state.worker.lead()
    assert deliver_due(app.state.worker.open_ctx).sent == []  # nor does the server's find more
    [line] = mail_lines(mail)
    [row] = outbox_rows(uow)
    assert (line["id"], line["kind"], line["to"]) == (row.id, "burn_50", ["pi@uni.example"])
    assert "60%" in line["message"]
    assert (row.channel, row.attempts) == ("file", 1)
    assert row.delivered_at is not None


def test_a_run_whose_transaction_fails_queues_nothing_and_sends_nothing(
    billed, engine, clock, uow, tmp_path
):
    deliver = worker_uow(engine, clock, Deployment.from_settings(Settings()))
    decided = []

    def run_then_fail() -> None:
        with uow() as ctx:
            decided.extend(
                n.kind for n in charging.run_month(ctx, month=date(2025, 3, 1)).notifications
            )
            raise RuntimeError("the commit fails after the alerts were decided")

    with pytest.raises(RuntimeError, match="commit fails"):
        run_then_fail()
    assert decided == ["burn_50"]
    assert outbox_rows(uow) == []
    assert deliver_due(deliver).sent == []
    assert mail_lines(tmp_path / "var" / "notifications.jsonl") == []
    with uow() as ctx:
        assert ctx.db.execute(select(func.count()).select_from(Notification)).scalar_one() == 0
        charging.run_month(ctx, month=date(2025, 3, 1))
    assert len(deliver_due(deliver).sent) == 1
    assert [line["kind"] for line in mail_lines(tmp_path / "var" / "notifications.jsonl")] == [
        "burn_50"
    ]


def test_a_claim_whose_worker_died_lapses_and_the_message_goes_again(
    billed, engine, clock, uow, tmp_path
):
    mail = tmp_path / "var" / "notifications.jsonl"
    deployment = Deployment.from_settings(Settings())
    deliver = worker_uow(engine, clock, deployment)
    with uow() as ctx:
        charging.run_month(ctx, month=date(2025, 3, 1))
    # A worker claims the message, sends it, and dies before recording that it did.
    with deliver() as ctx:
        [claimed] = service.claim_due(ctx)
    deployment.mailer.send(claimed)
    assert deliver_due(deliver).sent == []  # the claim holds: no second worker takes it
    clock.advance(seconds=service.CLAIM_LEASE.total_seconds() - 1)
    assert deliver_due(deliver).sent == []
    clock.advance(seconds=1)
    assert deliver_due(deliver).sent == [claimed.id]  # at least once...
    lines = mail_lines(mail)
    assert [line["id"] for line in lines] == [claimed.id, claimed.id]  # ...and recognisably so
    [row] = outbox_rows(uow)
    assert (row.attempts, row.delivered_at) == (2, clock())


def test_a_message_that_keeps_failing_is_given_up_visibly_and_can_be_retried(
    billed, engine, clock, uow, cli, tmp_path
):
    # A mail file that cannot be written (its path is a directory): a real, lasting failure.
    broken = Deployment(settings=Settings(), mailer=FileMailer(tmp_path))
    deliver = worker_uow(engine, clock, broken)
    with uow() as ctx:
        charging.run_month(ctx, month=date(2025, 3, 1))
    for attempt in range(1, service.MAX_ATTEMPTS + 1):
        [row] = outbox_rows(uow)
        assert deliver_due(deliver).failed == [row.id], attempt
        clock.advance(seconds=service.backoff(attempt).total_seconds())
    [row] = outbox_rows(uow)
    assert row.gave_up_at is not None
    assert "IsADirectoryError" in row.last_error
    assert deliver_due(deliver).failed == []  # given up: no more attempts
    listed = json.loads(cli("outbox", "list", "--undelivered", "--json").output)
    assert [(m["id"], m["attempts"], m["delivered_at"]) for m in listed] == [
        (row.id, service.MAX_ATTEMPTS, None)
    ]
    assert listed[0]["gave_up_at"] is not None
    retried = json.loads(cli("outbox", "retry", str(row.id), "--json").output)
    assert (retried["attempts"], retried["gave_up_at"]) == (0, None)
    assert cli("outbox", "deliver").output.strip() == "delivered 1, failed 0"
    assert json.loads(cli("outbox", "list", "--undelivered", "--json").output) == []
    assert [m["channel"] for m in json.loads(cli("outbox", "list", "--json").output)] == ["file"]
    again = cli("outbox", "retry", str(row.id), expect=4)
    assert "delivered already" in again.output
    assert "not found" in cli("outbox", "retry", "999", expect=3).output


def test_two_workers_at_once_never_send_a_message_twice(engine, clock, uow, tmp_path):
    mail = tmp_path / "mail.jsonl"
    with uow() as ctx:
        for n in range(60):
            service.enqueue(
                ctx, key=f"test:{n}", kind="test", to=["a@x.example"], subject="s", body=f"{n}"
            )
    deployment = Deployment(settings=Settings(), mailer=FileMailer(mail))
    start = threading.Barrier(2)
    sent: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        deliver = worker_uow(engine, clock, deployment)
        try:
            start.wait()
            while done := deliver_due(deliver, limit=7).sent:
                sent[slot] += done
        except BaseException as exc:  # reported below, with the thread's own failure
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    ids = [line["id"] for line in mail_lines(mail)]
    assert sorted(ids) == sorted(sent[0] + sent[1])
    assert len(ids) == len(set(ids)) == 60
    assert {m.attempts for m in outbox_rows(uow)} == {1}


def test_a_unit_of_work_without_the_deployment_is_refused_and_claims_nothing(
    billed, engine, clock, uow
):
    with uow() as ctx:
        charging.run_month(ctx, month=date(2025, 3, 1))
    with pytest.raises(NotReady, match="no deployment"):
        deliver_due(worker_uow(engine, clock, None))
    [row] = outbox_rows(uow)
    assert (row.attempts, row.delivered_at) == (0, None)


def test_the_same_key_is_never_queued_twice_and_a_message_needs_a_recipient(uow):
    from aisc.errors import ValidationFailed

    with uow() as ctx:
        first = service.enqueue(ctx, key="k", kind="t", to=["a@x.example"], subject="s", body="b")
        again = service.enqueue(ctx, key="k", kind="t", to=["b@x.example"], subject="s", body="c")
        assert first is not None
        assert again is None
        with pytest.raises(ValidationFailed, match="no recipients"):
            service.enqueue(ctx, key="k2", kind="t", to=[" "], subject="s", body="b")
    assert [(m.key, m.recipients, m.body) for m in outbox_rows(uow)] == [
        ("k", ["a@x.example"], "b")
    ]


def test_a_reset_link_is_queued_with_the_request_and_mailed_by_the_worker(api, uow, tmp_path, cli):
    from tests.factories import World

    world = World(uow)
    with uow() as ctx:
        auth.set_password(ctx, person_id=world.applicant, password=PASSWORD)
    mail = tmp_path / "var" / "notifications.jsonl"
    asked = api.post("/api/v1/auth/password-reset", json={"email": "pi@uni.example"})
    assert asked.status_code == 202
    assert mail_lines(mail) == []  # queued with the answer, not sent by it
    [row] = outbox_rows(uow)
    assert (row.kind, row.recipients, row.sensitive) == ("password_reset", ["pi@uni.example"], True)
    assert "token=" in row.body
    assert "token" not in cli("outbox", "list", "--json").output  # bodies are never listed
    api.app.state.worker.lead()
    assert deliver_due(api.app.state.worker.open_ctx).sent == [row.id]
    [line] = mail_lines(mail)
    assert line["to"] == ["pi@uni.example"]
    secret = line["message"].split("token=")[1].split()[0]
    [row] = outbox_rows(uow)
    assert row.body == service.REDACTED  # the link is not kept once it has left
    confirm = api.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": secret, "new_password": "violet staple harbour lantern"},
    )
    assert confirm.status_code == 200, confirm.text
    refused = cli("outbox", "retry", str(row.id), expect=4)
    assert "delivered already" in refused.output


def test_the_server_delivers_in_the_background(engine, clock, uow, tmp_path):
    with uow() as ctx:
        service.enqueue(ctx, key="k", kind="test", to=["a@x.example"], subject="s", body="hello")
    mail = tmp_path / "var" / "notifications.jsonl"
    with TestClient(create_app(engine=engine, clock=clock, with_worker=True)):
        for _ in range(100):
            if mail_lines(mail):
                break
            time.sleep(0.1)
    assert [line["message"] for line in mail_lines(mail)] == ["hello"]


def test_the_migration_keeps_every_notification_and_its_delivery(billed, engine, clock, uow):
    from alembic import command

    from aisc.billing import alerts
    from aisc.db.migrate import alembic_config, head_revision

    with uow() as ctx:
        charging.run_month(ctx, month=date(2025, 3, 1))
    deliver_due(worker_uow(engine, clock, Deployment.from_settings(Settings())))
    with uow() as ctx:
        before = [(n.id, n.kind, n.channel, n.delivered_at) for n in alerts.list_notifications(ctx)]
    assert [b[2] for b in before] == ["file"]
    command.downgrade(alembic_config(engine), "0016-1")
    with engine.connect() as connection:
        kept = connection.execute(
            text("SELECT id, kind, channel, delivered_at FROM notifications")
        ).all()
    assert [(r[0], r[1], r[2]) for r in kept] == [b[:3] for b in before]
    assert kept[0][3] is not None
    command.upgrade(alembic_config(engine), head_revision() or "head")
    with uow() as ctx:
        after = [(n.id, n.kind, n.channel, n.delivered_at) for n in alerts.list_notifications(ctx)]
    assert after == before
    [row] = outbox_rows(uow)
    assert (row.key, row.recipients) == (f"notification:{before[0][0]}", [])
