import json
from datetime import UTC, datetime

import pytest

from aisc.accounts.models import Organisation, OrgCategory
from aisc.db.engine import make_sessionmaker, transaction
from aisc.errors import Conflict
from tests.helpers import audit_count, error_field, refused


def test_organisations_are_created_listed_and_updated(client):
    created = client.post(
        "/api/v1/organisations",
        json={"name": "Harbour University", "name_zh": "海港大學", "category": "university"},
    )
    assert created.status_code == 201
    org = created.json()
    assert client.get(f"/api/v1/organisations/{org['id']}").json() == org
    assert [o["name"] for o in client.get("/api/v1/organisations").json()] == ["Harbour University"]
    updated = client.patch(
        f"/api/v1/organisations/{org['id']}", json={"category": "research_institute"}
    )
    assert updated.json()["category"] == "research_institute"
    assert updated.json()["name_zh"] == "海港大學"


def test_bad_organisations_are_refused_and_change_nothing(client, uow):
    client.post(
        "/api/v1/organisations", json={"name": "Harbour University", "category": "university"}
    )
    # Beyond ASCII, which SQLite's lower() does not fold: the exact name is still a duplicate.
    client.post("/api/v1/organisations", json={"name": "Äsia Lab 亞洲", "category": "enterprise"})
    before = audit_count(uow)
    twice = client.post(
        "/api/v1/organisations", json={"name": "Äsia Lab 亞洲", "category": "other"}
    )
    assert (twice.status_code, error_field(twice)) == (409, "name")
    duplicate = client.post(
        "/api/v1/organisations", json={"name": "harbour university", "category": "enterprise"}
    )
    assert duplicate.status_code == 409
    assert error_field(duplicate) == "name"
    bad = client.post("/api/v1/organisations", json={"name": "X", "category": "pirates"})
    assert bad.status_code == 422
    assert error_field(bad) == "category"
    blank = client.post("/api/v1/organisations", json={"name": "  ", "category": "university"})
    assert blank.status_code == 422
    assert client.get("/api/v1/organisations/99").status_code == 404
    assert client.patch("/api/v1/organisations/99", json={"name": "Y"}).status_code == 404
    assert client.get("/api/v1/organisations/99999999999").status_code == 422
    assert len(client.get("/api/v1/organisations").json()) == 2
    assert audit_count(uow) == before


def test_people_hold_roles_and_memberships(client):
    org = client.post(
        "/api/v1/organisations", json={"name": "Lab", "category": "ai_startup"}
    ).json()
    person = client.post(
        "/api/v1/people",
        json={
            "email": "PI@Lab.example",
            "name": "Pat",
            "roles": ["applicant", "reviewer"],
            "organisation_ids": [org["id"]],
        },
    ).json()
    assert person["email"] == "pi@lab.example"
    assert person["roles"] == ["applicant", "reviewer"]
    assert person["organisation_ids"] == [org["id"]]
    assert client.get(f"/api/v1/people/{person['id']}").json() == person
    reviewers = client.get("/api/v1/people", params={"role": "reviewer"}).json()
    assert [p["id"] for p in reviewers] == [person["id"]]
    assert client.get("/api/v1/people", params={"role": "finance"}).json() == []


def test_bad_people_are_refused(client, uow):
    client.post("/api/v1/people", json={"email": "a@b.example", "name": "A"})
    before = audit_count(uow)
    assert (
        client.post("/api/v1/people", json={"email": "a@b.example", "name": "B"}).status_code == 409
    )
    bad = client.post("/api/v1/people", json={"email": "not-an-email", "name": "B"})
    assert error_field(bad) == "email"
    missing_org = client.post(
        "/api/v1/people", json={"email": "c@b.example", "name": "C", "organisation_ids": [42]}
    )
    assert missing_org.status_code == 404
    assert error_field(missing_org) == "organisation_id"
    assert (
        client.post(
            "/api/v1/people", json={"email": "d@b.example", "name": "D", "roles": ["king"]}
        ).status_code
        == 422
    )
    assert client.get("/api/v1/people/77").status_code == 404
    assert audit_count(uow) == before


def test_accounts_cli(cli, uow):
    org = json.loads(
        cli(
            "org",
            "create",
            "--name",
            "Harbour University",
            "--category",
            "university",
            "--name-zh",
            "海港大學",
            "--json",
        ).output
    )
    assert cli(
        "org", "create", "--name", "Harbour University", "--category", "university", expect=4
    ).output.startswith("error: an organisation named 'Harbour University' already exists")
    refused(
        cli, "org", "create", "--name", "X", "--category", "pirates", expect=2,
        says="Invalid value for '--category'", uow=uow,
    )  # fmt: skip
    assert [o["name"] for o in json.loads(cli("org", "list", "--json").output)] == [
        "Harbour University"
    ]
    assert "Harbour University" in cli("org", "list").output
    assert json.loads(cli("org", "show", str(org["id"]), "--json").output)["name_zh"] == "海港大學"
    refused(cli, "org", "show", "42", expect=3, says="organisation 42 not found")
    shown = json.loads(
        cli("org", "update", str(org["id"]), "--description", "A university", "--json").output
    )
    assert shown["description"] == "A university"

    person = json.loads(
        cli(
            "person",
            "create",
            "--email",
            "pi@hu.example",
            "--name",
            "Pat",
            "--role",
            "applicant",
            "--org",
            str(org["id"]),
            "--json",
        ).output
    )
    assert person["roles"] == ["applicant"]
    assert json.loads(cli("person", "show", str(person["id"]), "--json").output) == person
    assert json.loads(cli("person", "list", "--role", "applicant", "--json").output) == [person]
    refused(
        cli, "person", "create", "--email", "bad", "--name", "X", expect=2, says="email:", uow=uow
    )


def test_people_are_updated_and_deactivated(client, api, uow, cli):
    from aisc.accounts import auth

    org = client.post(
        "/api/v1/organisations", json={"name": "Kowloon AI", "category": "ai_startup"}
    ).json()
    other = client.post(
        "/api/v1/organisations", json={"name": "Tsuen Wan Labs", "category": "ai_startup"}
    ).json()
    person = client.post(
        "/api/v1/people",
        json={
            "email": "kim@kowloon.example",
            "name": "Kim",
            "roles": ["applicant"],
            "organisation_ids": [org["id"]],
        },
    ).json()
    pid = person["id"]
    before = audit_count(uow)
    changed = client.patch(
        f"/api/v1/people/{pid}",
        json={"roles": ["applicant", "reviewer"], "organisation_ids": [org["id"], other["id"]]},
    )
    assert changed.status_code == 200
    assert changed.json()["roles"] == ["applicant", "reviewer"]
    assert changed.json()["organisation_ids"] == [org["id"], other["id"]]
    assert audit_count(uow) == before + 1
    same = client.patch(f"/api/v1/people/{pid}", json={"roles": ["reviewer", "applicant"]})
    assert same.json()["roles"] == ["applicant", "reviewer"]
    assert (
        client.patch(f"/api/v1/people/{pid}", json={"organisation_ids": [99999]}).status_code == 404
    )
    assert client.patch(f"/api/v1/people/{pid}", json={"roles": ["king"]}).status_code == 422
    assert client.get(f"/api/v1/people/{pid}").json()["organisation_ids"] == [
        org["id"],
        other["id"],
    ]
    # Deactivation stops the person's token at once.
    with uow() as ctx:
        secret, _ = auth.create_token(ctx, person_id=pid, name="t", scopes=["read"])
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert (
        client.patch(f"/api/v1/people/{pid}", json={"is_active": False}).json()["is_active"]
        is False
    )
    assert api.get("/api/v1/auth/me", headers=headers).status_code == 401
    # Reactivated (here by the CLI), the person starts clean: the old token stays dead.
    shown = cli("person", "update", str(pid), "--active", "--role", "auditor", "--json")
    assert '"auditor"' in shown.output
    assert api.get("/api/v1/auth/me", headers=headers).status_code == 401
    refused(
        cli, "person", "update", str(pid), "--role", "wizard", expect=2, says="'--role'", uow=uow
    )
    refused(
        cli, "person", "update", "99999", "--name", "x", expect=3, says="person 99999 not found"
    )
    assert json.loads(cli("person", "show", str(pid), "--json").output)["roles"] == ["auditor"]


def test_nobody_changes_their_own_roles(api, uow, clock):
    from tests.accounts.centre import Centre

    centre = Centre(uow, clock)
    sec = centre.personas["secretariat"]
    mine = api.patch(
        f"/api/v1/people/{centre.secretariat}",
        json={"roles": ["secretariat", "operator"]},
        headers=sec.headers,
    )
    assert mine.status_code == 409
    other = api.patch(
        f"/api/v1/people/{centre.member}", json={"name": "Renamed"}, headers=sec.headers
    )
    assert other.status_code == 200


def test_a_duplicate_the_database_refuses_is_a_conflict_and_saves_nothing(engine):
    # Two writers that both passed the services' checks: the second one's commit is refused.
    factory = make_sessionmaker(engine)
    with transaction(factory) as db:
        db.add(
            Organisation(
                name="Kowloon Lab", category=OrgCategory.ENTERPRISE, created_at=datetime.now(UTC)
            )
        )
    with pytest.raises(Conflict, match="nothing was saved"), transaction(factory) as db:
        db.add(
            Organisation(
                name="Kowloon Lab", category=OrgCategory.OTHER, created_at=datetime.now(UTC)
            )
        )
    with transaction(factory) as db:
        assert db.query(Organisation).filter_by(name="Kowloon Lab").count() == 1
