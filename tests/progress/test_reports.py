"""Progress reports: the schedule, reminders, submission, review, and the hold on a late one."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from aisc.awards.service import open_holds
from aisc.housekeeping import run_pass
from aisc.outbox.models import OutboxMessage
from aisc.progress import duties
from aisc.progress.models import ReportKind
from aisc.progress.service import outcome_totals, schedule_dates
from tests.helpers import audit_count, error_field
from tests.progress.conftest import approved

API = "/api/v1"
DOI = "10.1234/cantonese.2025"
GOOD = {
    "narrative": "The Cantonese speech model reached 9% word error rate on the test set.",
    "milestones": [{"title": "Corpus collected", "planned": "2025-03-31", "status": "done"}],
    "outputs": {
        "papers": [{"title": "Cantonese ASR at scale", "doi": DOI}],
        "models": [{"name": "cantonese-asr-1"}],
        "datasets": [{"name": "HK radio corpus"}],
        "users_reached": 1200,
        "people_hired": 3,
        "people_trained": 10,
        "hk_relevance": "Used by public service hotlines.",
    },
    "attachments": [{"filename": "report.pdf", "size_bytes": 20480, "sha256": "ab" * 32}],
}


def reports(client, award: int) -> list[dict]:
    return client.get(f"{API}/progress-reports", params={"award_id": award}).json()


def outbox_keys(uow) -> list[str]:
    with uow() as ctx:
        return list(ctx.db.scalars(select(OutboxMessage.key).order_by(OutboxMessage.id)))


def status(client, award: int) -> str:
    return client.get(f"{API}/awards/{award}").json()["status"]


def test_the_default_schedule_skips_reports_after_the_end_and_adds_a_final_one():
    rows = schedule_dates(
        start=date(2025, 3, 1), end=date(2025, 9, 1), months=[1, 3, 9], final_days=60
    )
    assert rows == [
        (ReportKind.PROGRESS, 1, date(2025, 4, 1)),
        (ReportKind.PROGRESS, 2, date(2025, 6, 1)),
        (ReportKind.FINAL, 1, date(2025, 10, 31)),
    ]


def test_accepting_an_award_makes_its_schedule_once(client, uow, world, clock):
    award = approved(world)
    assert reports(client, award) == []  # offered: nothing owed yet
    clock.advance(days=50)
    client.post(f"{API}/awards/{award}/accept").raise_for_status()
    due = [(r["kind"], r["due_date"], r["status"]) for r in reports(client, award)]
    assert due == [
        ("progress", "2025-04-01", "due"),
        ("progress", "2025-06-01", "due"),
        ("final", "2025-10-31", "due"),
    ]
    with uow() as ctx:
        assert duties.run(ctx)["schedules"] == 0  # already made
    assert len(reports(client, award)) == 3


def test_the_committee_sets_its_own_cadence(client, world, clock):
    award = approved(world, report_months=[2, 4])
    clock.advance(days=50)
    client.post(f"{API}/awards/{award}/accept").raise_for_status()
    assert [r["due_date"] for r in reports(client, award)] == [
        "2025-05-01",
        "2025-07-01",
        "2025-10-31",
    ]


def test_reminders_go_once_before_and_on_the_due_date(client, uow, world, clock):
    award = approved(world)
    clock.advance(days=50)  # 2025-03-01
    client.post(f"{API}/awards/{award}/accept").raise_for_status()
    first = reports(client, award)[0]["id"]
    with uow() as ctx:
        assert duties.run(ctx)["reminders"] == 0
    clock.advance(days=25)  # 2025-03-26: within 7 days of 2025-04-01
    for _ in range(2):  # the second pass at the same moment changes nothing
        with uow() as ctx:
            duties.run(ctx)
    assert outbox_keys(uow) == [f"progress-report:{first}:before"]
    clock.advance(days=6)  # the due date
    with uow() as ctx:
        duties.run(ctx)
    assert outbox_keys(uow)[-1] == f"progress-report:{first}:due"
    with uow() as ctx:
        message = ctx.db.scalars(select(OutboxMessage)).first()
        assert message is not None
        assert message.recipients == ["pi@uni.example"]


def test_submission_refuses_bad_input_by_field_and_changes_nothing(client, uow, world, clock):
    award = approved(world)
    clock.advance(days=50)
    client.post(f"{API}/awards/{award}/accept").raise_for_status()
    report = reports(client, award)[0]["id"]
    url = f"{API}/progress-reports/{report}/submit"
    before = audit_count(uow)
    cases = [
        ({**GOOD, "narrative": ""}, "narrative"),
        ({**GOOD, "narrative": "   "}, "narrative"),
        ({**GOOD, "outputs": {"papers": [{"title": "x", "doi": "not-a-doi"}]}}, "doi"),
        ({**GOOD, "outputs": {"users_reached": -1}}, "users_reached"),
        ({**GOOD, "attachments": [{"filename": "a", "size_bytes": 1, "sha256": "zz"}]}, "sha256"),
        ({**GOOD, "milestones": [{"title": "x", "status": "finished"}]}, "status"),
        ({**GOOD, "submitted_by_id": world.secretariat}, "submitted_by_id"),
    ]
    for body, field in cases:
        body.setdefault("submitted_by_id", world.applicant)
        response = client.post(url, json=body)
        assert response.status_code == 422, (field, response.text)
        assert field in error_field(response), (field, response.json())
    assert audit_count(uow) == before
    assert reports(client, award)[0]["status"] == "due"


def test_changes_then_acceptance_and_the_outcome_totals(client, uow, world, clock):
    award = approved(world)
    clock.advance(days=50)
    client.post(f"{API}/awards/{award}/accept").raise_for_status()
    report = reports(client, award)[0]["id"]
    url = f"{API}/progress-reports/{report}"
    body = {**GOOD, "submitted_by_id": world.applicant}
    clock.advance(days=30)  # 2025-03-31, on time
    submitted = client.post(f"{url}/submit", json=body).json()
    assert (submitted["status"], submitted["late"]) == ("submitted", False)
    assert client.post(f"{url}/accept", json={}).status_code == 200  # first a review...
    assert client.post(f"{url}/submit", json=body).status_code == 409  # ...then it is done
    with uow() as ctx:
        assert outcome_totals(ctx)["papers"] == 1

    second = reports(client, award)[1]["id"]
    url = f"{API}/progress-reports/{second}"
    assert client.post(f"{url}/request-changes", json={"note": "x"}).status_code == 409  # due
    client.post(f"{url}/submit", json=body).raise_for_status()
    assert error_field(client.post(f"{url}/request-changes", json={"note": ""})) == "note"
    sent_back = client.post(f"{url}/request-changes", json={"note": "Add the DOI of paper 2."})
    assert sent_back.json()["status"] == "changes_requested"
    assert sent_back.json()["review_note"] == "Add the DOI of paper 2."
    assert any(k.startswith(f"progress-report:{second}:changes") for k in outbox_keys(uow))
    clock.advance(days=2)
    client.post(f"{url}/submit", json=body).raise_for_status()
    client.post(f"{url}/accept", json={"note": "Thank you."}).raise_for_status()
    totals = client.get(f"{API}/progress-outcomes").json()
    assert totals["papers"] == 2
    assert totals["users_reached"] == 2400
    assert set(totals) >= {"models", "datasets", "patents", "products", "people_trained"}
    early = client.get(f"{API}/progress-outcomes", params={"as_of": "2025-03-31"}).json()
    assert early["papers"] == 1
    assert client.get(f"{API}/progress-outcomes", params={"as_of": "1900-01-01"}).status_code == 422
    actions = [
        e["action"]
        for e in client.get(f"{API}/audit/events", params={"object_type": "progress_report"}).json()
    ]
    assert actions.count("progress.submit") == 3
    assert "progress.request_changes" in actions
    assert actions.count("progress.accept") == 2


def test_an_overdue_report_suspends_the_award_until_it_is_accepted(client, uow, world, clock):
    award = approved(world)
    clock.advance(days=50)
    client.post(f"{API}/awards/{award}/accept").raise_for_status()
    report = reports(client, award)[0]["id"]
    clock.advance(days=31 + 14)  # due 2025-04-01, 14 days' grace: still no hold on the 15th
    with uow() as ctx:
        assert duties.run(ctx)["holds"] == 0
    assert status(client, award) == "active"
    clock.advance(days=1)
    done = run_pass(uow)  # the worker's pass, as it runs every minute
    assert done.failed == {}
    assert done.results["progress reports"]["holds"] == 1
    assert status(client, award) == "suspended"
    with uow() as ctx:
        assert [(h.kind.value, h.ref) for h in open_holds(ctx, award_id=award)] == [
            ("report_overdue", str(report))
        ]
        assert duties.run(ctx)["holds"] == 0  # idempotent
    assert f"progress-report:{report}:hold" in outbox_keys(uow)
    job = {"award_id": award, "partition": "training", "walltime_s": 60, "command": ["true"],
           "submitted_by_id": world.applicant}  # fmt: skip
    assert client.post(f"{API}/jobs", json=job).status_code == 409  # jobs refused
    listed = reports(client, award)[0]
    assert listed["overdue"] is True
    client.post(
        f"{API}/progress-reports/{report}/submit", json={**GOOD, "submitted_by_id": world.applicant}
    ).raise_for_status()
    assert status(client, award) == "suspended"  # submitted is not accepted
    accepted = client.post(f"{API}/progress-reports/{report}/accept", json={}).json()
    assert accepted["late"] is True
    assert accepted["overdue"] is False
    assert status(client, award) == "active"
    with uow() as ctx:
        assert duties.run(ctx)["holds"] == 0  # accepted: never held again
    assert status(client, award) == "active"


def test_the_scheme_settings_shape_the_schedule(client, world, clock):
    assert client.patch(f"{API}/scheme", json={"report_months": "0"}).status_code == 422
    assert error_field(client.patch(f"{API}/scheme", json={"report_months": "1;3"})) == (
        "report_months"
    )
    changed = client.patch(
        f"{API}/scheme", json={"report_months": "4, 2", "final_report_days": 30}
    ).json()
    assert (changed["report_months"], changed["final_report_days"]) == ("2,4", 30)
    award = approved(world)
    clock.advance(days=50)
    client.post(f"{API}/awards/{award}/accept").raise_for_status()
    assert [r["due_date"] for r in reports(client, award)] == [
        "2025-05-01",
        "2025-07-01",
        "2025-10-01",
    ]
