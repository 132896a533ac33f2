import json
from datetime import date, timedelta

import pytest

from aisc.applications.service import TRANSITIONS
from tests.factories import World
from tests.helpers import audit_count, error_field, refused

API = "/api/v1/applications"


@pytest.fixture
def world(uow):
    return World(uow)


def test_create_read_update_a_draft(client, world):
    created = client.post(
        API,
        json=world.payload(
            attachments=[{"kind": "proposal", "filename": "p.pdf", "size_bytes": 1000}]
        ),
    )
    assert created.status_code == 201
    app = created.json()
    assert app["status"] == "draft"
    assert app["compute"]["gpu_cards"] == 16
    assert app["attachments"][0]["filename"] == "p.pdf"
    assert client.get(f"{API}/{app['id']}").json() == app

    updated = client.patch(
        f"{API}/{app['id']}",
        json={
            "title": "Cantonese speech model v2",
            "compute": {
                "kind": "pooled",
                "gpu_model": "H800-SXM5-80GB",
                "gpu_hours": 5000,
                "months": 3,
                "preferred_start": "2025-04-01",
            },
            "attachments": [],
        },
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["title"] == "Cantonese speech model v2"
    assert body["compute"]["kind"] == "pooled"
    assert body["compute"]["gpu_cards"] is None
    assert body["attachments"] == []
    assert body["local_rnd_staff"] == 6

    listed = client.get(API, params={"status": "draft", "q": "speech"}).json()
    assert [a["id"] for a in listed] == [app["id"]]
    assert client.get(API, params={"domain": "medical"}).json() == []
    assert client.get(API, params={"organisation_id": world.uni}).json()[0]["id"] == app["id"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"compute": {"gpu_cards": -1}}, "compute.gpu_cards"),
        ({"compute": {"kind": "pooled", "gpu_cards": 8}}, "compute"),
        ({"title": "ab"}, "title"),
        ({"domain": "astrology"}, "domain"),
        ({"local_rnd_staff": -2}, "local_rnd_staff"),
        ({"organisation_id": 0}, "organisation_id"),
        ({"extra_field": True}, "extra_field"),
    ],
)
def test_malformed_applications_get_422_naming_the_field(client, world, uow, override, field):
    before = audit_count(uow)
    response = client.post(API, json=world.payload(**override))
    assert response.status_code == 422
    assert error_field(response).startswith(field)
    assert client.get(API).json() == []
    assert audit_count(uow) == before


def test_only_members_with_the_applicant_role_may_apply_for_their_organisation(client, world):
    assert client.post(API, json=world.payload(created_by_id=world.startup_pi)).status_code == 403
    assert client.post(API, json=world.payload(created_by_id=world.reviewers[0])).status_code == 403
    assert client.post(API, json=world.payload(organisation_id=999)).status_code == 404
    assert client.get(API).json() == []


def test_screening_reports_every_failed_rule_at_once(client, world):
    app = client.post(
        API,
        json=world.payload(
            organisation_id=world.other,
            created_by_id=world.other_pi,
            local_rnd_staff=0,
            hk_relevance=" ",
            declarations={"information_true": True},
            compute={
                "gpu_model": "TPU-v9",
                "gpu_cards": 0,
                "preferred_start": "2027-09-01",
                "months": 6,
            },
        ),
    ).json()
    preview = client.get(f"{API}/{app['id']}/screening").json()
    assert client.post(f"{API}/{app['id']}/submit").json()["status"] == "submitted"
    screened = client.post(f"{API}/{app['id']}/screen").json()
    assert screened["status"] == "screening"
    codes = [f["code"] for f in screened["screening_findings"]]
    assert codes.count("declaration_missing") == 3
    assert set(codes) == {
        "category_ineligible",
        "no_local_rnd_staff",
        "hk_relevance_missing",
        "declaration_missing",
        "gpu_model_unknown",
        "request_zero",
        "period_outside_scheme",
    }
    assert preview == screened["screening_findings"]
    refused = client.post(f"{API}/{app['id']}/start-review")
    assert refused.status_code == 409
    assert "category_ineligible" in refused.json()["detail"]["message"]
    assert client.get(f"{API}/{app['id']}").json()["status"] == "screening"


def test_incomplete_requests_and_duplicates_are_screening_findings(client, world):
    first = world.to_review()
    dup = client.post(
        API, json=world.payload(title="  cantonese   SPEECH model ", compute={"months": None})
    ).json()
    client.post(f"{API}/{dup['id']}/submit")
    findings = client.post(f"{API}/{dup['id']}/screen").json()["screening_findings"]
    assert {f["code"] for f in findings} == {"duplicate_application", "request_incomplete"}
    duplicate = next(f for f in findings if f["code"] == "duplicate_application")
    assert duplicate["field"] == "title"
    assert duplicate["message"].endswith(f"for the same project ({first})")


def test_a_clean_application_passes_screening_to_review(client, world):
    app = client.post(API, json=world.payload()).json()
    client.post(f"{API}/{app['id']}/submit")
    screened = client.post(f"{API}/{app['id']}/screen").json()
    assert screened["screening_findings"] == []
    assert client.post(f"{API}/{app['id']}/start-review").json()["status"] == "under_review"


def test_incomplete_round_trip_keeps_first_submission_time(client, world, clock):
    app = client.post(API, json=world.payload(local_rnd_staff=0)).json()
    submitted = client.post(f"{API}/{app['id']}/submit").json()["submitted_at"]
    client.post(f"{API}/{app['id']}/screen")
    returned = client.post(f"{API}/{app['id']}/return", json={"note": "add local staff"}).json()
    assert returned["status"] == "incomplete"
    fixed = client.patch(f"{API}/{app['id']}", json={"local_rnd_staff": 3})
    assert fixed.status_code == 200
    clock.advance(days=3)
    again = client.post(f"{API}/{app['id']}/submit").json()
    assert again["status"] == "submitted"
    assert again["submitted_at"] == submitted
    assert client.post(f"{API}/{app['id']}/screen").json()["screening_findings"] == []


# Every action, tried from every state: legal ones move, illegal ones are 409 and change nothing.
ACTIONS = {
    "submit": "submit",
    "screen": "screen",
    "return": "return",
    "start_review": "start-review",
    "reopen": "reopen",
    "withdraw": "withdraw",
}


def _drive(client, world, state):
    """An application in ``state`` (one of the non-terminal states or a terminal one)."""
    app_id = client.post(API, json=world.payload(title=f"Project in {state}")).json()["id"]
    path = {
        "draft": [],
        "submitted": ["submit"],
        "screening": ["submit", "screen"],
        "incomplete": ["submit", "screen", "return"],
        "under_review": ["submit", "screen", "start-review"],
        "withdrawn": ["withdraw"],
    }[state]
    for step in path:
        assert client.post(f"{API}/{app_id}/{step}").status_code == 200
    return app_id


@pytest.mark.parametrize(
    "state", ["draft", "submitted", "screening", "incomplete", "under_review", "withdrawn"]
)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_state_machine(client, world, uow, state, action):
    app_id = _drive(client, world, state)
    allowed, target = TRANSITIONS[action]
    before = audit_count(uow)
    response = client.post(f"{API}/{app_id}/{ACTIONS[action]}")
    if state in {s.value for s in allowed}:
        assert response.status_code == 200
        assert response.json()["status"] == target.value
    else:
        assert response.status_code == 409
        assert response.json()["detail"]["code"] == "invalid_transition"
        assert client.get(f"{API}/{app_id}").json()["status"] == state
        assert audit_count(uow) == before


def test_editing_is_refused_once_submitted(client, world):
    app_id = _drive(client, world, "submitted")
    response = client.patch(f"{API}/{app_id}", json={"title": "Changed title"})
    assert response.status_code == 409
    assert client.get(f"{API}/{app_id}").json()["title"] == "Project in submitted"


def test_resubmission_links_to_a_rejected_or_withdrawn_application(client, world):
    live = _drive(client, world, "submitted")
    refused = client.post(API, json=world.payload(previous_application_id=live))
    assert refused.status_code == 422
    assert error_field(refused) == "previous_application_id"
    old = _drive(client, world, "withdrawn")
    new = client.post(
        API, json=world.payload(title="Project in withdrawn", previous_application_id=old)
    )
    assert new.status_code == 201
    assert new.json()["previous_application_id"] == old
    other_org = client.post(
        API,
        json=world.payload(
            organisation_id=world.startup,
            created_by_id=world.startup_pi,
            previous_application_id=old,
        ),
    )
    assert other_org.status_code == 422


def test_unknown_applications_are_404(client, world):
    for path in ("", "/submit", "/screen", "/withdraw", "/screening"):
        method = client.get if path in ("", "/screening") else client.post
        assert method(f"{API}/999{path}").status_code == 404


def test_applications_cli(cli, world, tmp_path):
    spec = tmp_path / "app.json"
    # The command line screens on today's date: a start still ahead, so none is in the past.
    start = (date.today() + timedelta(days=14)).isoformat()
    spec.write_text(json.dumps(world.payload(compute={"preferred_start": start, "months": 1})))
    app = json.loads(cli("app", "create", "--file", str(spec), "--json").output)
    app_id = str(app["id"])
    assert app["status"] == "draft"
    patch = tmp_path / "patch.yaml"
    patch.write_text("summary: Now with more detail\n")
    assert (
        json.loads(cli("app", "update", app_id, "--file", str(patch), "--json").output)["summary"]
        == "Now with more detail"
    )
    assert json.loads(cli("app", "screening", app_id, "--json").output) == []
    assert "(none)" in cli("app", "screening", app_id).output
    assert json.loads(cli("app", "submit", app_id, "--json").output)["status"] == "submitted"
    assert cli("app", "submit", app_id, expect=4).output.startswith("error: cannot submit")
    assert json.loads(cli("app", "screen", app_id, "--json").output)["status"] == "screening"
    assert (
        json.loads(cli("app", "return", app_id, "--note", "x", "--json").output)["status"]
        == "incomplete"
    )
    cli("app", "submit", app_id)
    cli("app", "screen", app_id)
    assert (
        json.loads(cli("app", "start-review", app_id, "--json").output)["status"] == "under_review"
    )
    refused(cli, "app", "reopen", app_id, expect=4, says="cannot reopen", uow=world.uow)
    listed = json.loads(cli("app", "list", "--status", "under_review", "--json").output)
    assert [a["id"] for a in listed] == [app["id"]]
    assert "Cantonese" in cli("app", "list").output
    assert json.loads(cli("app", "show", app_id, "--json").output)["id"] == app["id"]
    assert (
        json.loads(cli("app", "withdraw", app_id, "--reason", "done", "--json").output)["status"]
        == "withdrawn"
    )
    refused(cli, "app", "show", "999", expect=3, says="application 999 not found")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(world.payload(compute={"gpu_cards": -5})))
    refused(
        cli, "app", "create", "--file", str(bad), expect=2, says="compute.gpu_cards", uow=world.uow
    )
    assert [a["id"] for a in json.loads(cli("app", "list", "--json").output)] == [app["id"]]


def test_the_project_team(client, world, uow, cli):
    app_id = world.create()
    team = client.get(f"{API}/{app_id}/members").json()
    assert [(m["person_id"], m["role"]) for m in team] == [(world.applicant, "pi")]
    # Only people of the applicant organisation join; the insider reviewer belongs to it.
    outsider = client.post(f"{API}/{app_id}/members", json={"person_id": world.startup_pi})
    assert outsider.status_code == 409
    assert error_field(outsider) == "person_id"
    before = audit_count(uow)
    added = client.post(f"{API}/{app_id}/members", json={"person_id": world.insider})
    assert added.status_code == 201
    assert added.json()["role"] == "member"
    assert audit_count(uow) == before + 1
    again = client.post(f"{API}/{app_id}/members", json={"person_id": world.insider})
    assert again.status_code == 409
    # The last PI stays; a member can be removed.
    last = client.delete(f"{API}/{app_id}/members/{world.applicant}")
    assert last.status_code == 409
    assert "only PI" in last.json()["detail"]["message"]
    assert client.delete(f"{API}/{app_id}/members/{world.insider}").status_code == 204
    assert client.delete(f"{API}/{app_id}/members/{world.insider}").status_code == 404
    assert client.post(f"{API}/{app_id}/members", json={}).status_code == 422
    # The same from the command line.
    shown = cli("app", "add-member", str(app_id), str(world.insider), "--pi", "--json")
    assert json.loads(shown.stdout)["role"] == "pi"
    listed = json.loads(cli("app", "members", str(app_id), "--json").stdout)
    assert {m["person_id"] for m in listed} == {world.applicant, world.insider}
    cli("app", "remove-member", str(app_id), str(world.applicant))
    refused(
        cli,
        "app",
        "remove-member",
        str(app_id),
        str(world.insider),
        expect=4,
        says="only PI",
        uow=uow,
    )
    refused(cli, "app", "add-member", str(app_id), "99999", expect=3, says="person 99999", uow=uow)
    listed = json.loads(cli("app", "members", str(app_id), "--json").stdout)
    assert [(m["person_id"], m["role"]) for m in listed] == [(world.insider, "pi")]


def test_a_member_is_added_by_e_mail_without_telling_whose_address_it_is(world, uow):
    import dataclasses

    from aisc.access import Principal
    from aisc.accounts.models import Role
    from aisc.applications import service
    from aisc.errors import NotFound, ValidationFailed

    app_id = world.create()
    with uow() as ctx:
        pi = dataclasses.replace(
            ctx,
            principal=Principal.for_person(
                person_id=world.applicant, roles={Role.APPLICANT},
                organisation_ids={world.uni}, via="session",
            ),
        )  # fmt: skip
        words = set()
        for email in ("nobody@nowhere.example", "pi@startup.example"):  # unknown; another tenant
            with pytest.raises(ValidationFailed) as refused:
                service.add_member_by_email(pi, application_id=app_id, email=email)
            assert refused.value.field == "email"
            words.add(refused.value.message.replace(email, "ADDRESS"))
        assert len(words) == 1
        insider = service.add_member_by_email(
            pi, application_id=app_id, email="insider@uni.example"
        )
        assert insider.person_id == world.insider
        outsider = dataclasses.replace(
            ctx,
            principal=Principal.for_person(
                person_id=world.startup_pi, roles={Role.APPLICANT},
                organisation_ids={world.startup}, via="session",
            ),
        )  # fmt: skip
        with pytest.raises(NotFound):  # another tenant's project: as if there were none
            service.add_member_by_email(outsider, application_id=app_id, email="x@uni.example")
