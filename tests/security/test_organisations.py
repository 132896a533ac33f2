"""Attacks on who an organisation is, replayed: each must fail.

- A member relabels its organisation's category (``category_ineligible`` -> ``university``)
  and resubmits: refused, nothing changes, and screening still finds the category.
- Look-alike names (a double space, a zero-width space, case, a Cyrillic ``\u0456``) are
  refused as duplicates or flagged for the secretariat, never silently accepted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from aisc.accounts import auth
from aisc.accounts.models import Organisation, OrganisationFlag
from aisc.audit.models import AuditEvent
from tests.factories import World
from tests.helpers import audit_count, error_field

API = "/api/v1"
CYRILLIC_I = "\u0456"


@pytest.fixture
def world(uow: Any) -> World:
    return World(uow)


def bearer(uow: Any, person_id: int) -> dict[str, str]:
    with uow() as ctx:
        secret, _ = auth.create_token(ctx, person_id=person_id, name="t", scopes=["read", "write"])
    return {"Authorization": f"Bearer {secret}"}


def codes(app: dict[str, Any]) -> set[str]:
    return {f["code"] for f in app["screening_findings"] or []}


def organisation(uow: Any, org_id: int) -> Organisation:
    with uow() as ctx:
        org = ctx.db.get(Organisation, org_id)
        assert org is not None
        ctx.db.expunge(org)
        return org


def test_a_member_cannot_relabel_its_category_and_resubmit(api, uow, world):
    pi = bearer(uow, world.other_pi)
    secretariat = bearer(uow, world.secretariat)
    app = api.post(
        f"{API}/applications",
        json=world.payload(organisation_id=world.other, created_by_id=world.other_pi),
        headers=pi,
    ).json()
    api.post(f"{API}/applications/{app['id']}/submit", headers=pi)
    screened = api.post(f"{API}/applications/{app['id']}/screen", headers=secretariat).json()
    assert "category_ineligible" in codes(screened)
    returned = api.post(f"{API}/applications/{app['id']}/return", json={}, headers=secretariat)
    assert returned.json()["status"] == "incomplete"

    before = audit_count(uow)
    for body in ({"category": "university"}, {"category": "university", "description": "x"}):
        relabel = api.patch(f"{API}/organisations/{world.other}", json=body, headers=pi)
        assert relabel.status_code == 403, relabel.text
        assert error_field(relabel) == "category"
        assert "secretariat" in relabel.json()["detail"]["message"]
    assert organisation(uow, world.other).category.value == "other"
    assert organisation(uow, world.other).description == ""
    assert audit_count(uow) == before
    # Nor through the secretariat's own route.
    direct = api.put(
        f"{API}/organisations/{world.other}/category", json={"category": "university"}, headers=pi
    )
    assert direct.status_code == 403
    # Sending the category it already has is no change, and the rest of the profile saves.
    same = api.patch(
        f"{API}/organisations/{world.other}",
        json={"category": "other", "description": "brokers"},
        headers=pi,
    )
    assert same.status_code == 200, same.text

    api.post(f"{API}/applications/{app['id']}/submit", headers=pi)
    again = api.post(f"{API}/applications/{app['id']}/screen", headers=secretariat).json()
    assert "category_ineligible" in codes(again)


def test_the_secretariat_sets_the_category_and_open_applications_are_rescreened(
    api, uow, world, cli
):
    pi = bearer(uow, world.other_pi)
    secretariat = bearer(uow, world.secretariat)
    app = api.post(
        f"{API}/applications",
        json=world.payload(organisation_id=world.other, created_by_id=world.other_pi),
        headers=pi,
    ).json()
    api.post(f"{API}/applications/{app['id']}/submit", headers=pi)
    api.post(f"{API}/applications/{app['id']}/screen", headers=secretariat)

    changed = api.put(
        f"{API}/organisations/{world.other}/category",
        json={"category": "enterprise", "note": "registry extract checked"},
        headers=secretariat,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["category"] == "enterprise"
    assert changed.json()["category_verified_at"] is not None
    rescreened = api.get(f"{API}/applications/{app['id']}", headers=secretariat).json()
    assert codes(rescreened) == set()
    with uow() as ctx:
        actions = [
            e.action for e in ctx.db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        ][-2:]
    assert actions == ["organisation.category", "application.rescreen"]
    ready = api.post(f"{API}/applications/{app['id']}/start-review", headers=secretariat)
    assert ready.json()["status"] == "under_review"

    # And back: the CLI (the operator's tool) sets it too, and review sees the new finding.
    shown = json.loads(cli("org", "set-category", str(world.other), "other", "--json").output)
    assert shown["category"] == "other"
    rescreened = api.get(f"{API}/applications/{app['id']}", headers=secretariat).json()
    assert "category_ineligible" in codes(rescreened)
    bad = cli("org", "set-category", str(world.other), "pirates", expect=2)
    assert "Invalid value for 'category'" in bad.output
    assert json.loads(cli("org", "show", str(world.other), "--json").output)["category"] == "other"


def test_a_category_an_applicant_declares_is_unverified_until_the_secretariat_confirms(
    api, uow, world
):
    pi = bearer(uow, world.applicant)
    secretariat = bearer(uow, world.secretariat)
    org = api.post(
        f"{API}/organisations",
        json={"name": "Tai Po Robotics", "category": "university"},
        headers=pi,
    ).json()
    assert org["category_verified_at"] is None
    app = api.post(
        f"{API}/applications",
        json=world.payload(organisation_id=org["id"], created_by_id=world.applicant),
        headers=pi,
    ).json()
    api.post(f"{API}/applications/{app['id']}/submit", headers=pi)
    screened = api.post(f"{API}/applications/{app['id']}/screen", headers=secretariat).json()
    assert codes(screened) == {"category_unverified"}
    confirmed = api.put(
        f"{API}/organisations/{org['id']}/category",
        json={"category": "research_institute"},
        headers=secretariat,
    ).json()
    assert confirmed["category"] == "research_institute"
    assert codes(api.get(f"{API}/applications/{app['id']}", headers=pi).json()) == set()
    # What the secretariat creates is confirmed as it is made.
    made = api.post(
        f"{API}/organisations",
        json={"name": "Sha Tin Labs", "category": "enterprise"},
        headers=secretariat,
    ).json()
    assert made["category_verified_at"] is not None


def test_look_alike_names_are_refused_or_flagged(api, uow, world, cli):
    pi = bearer(uow, world.applicant)
    secretariat = bearer(uow, world.secretariat)
    before = audit_count(uow)
    for twin in (
        "Harbour  University",
        "Harbour Uni\u200bversity",
        " harbour university ",
        "HARBOUR UNIVERSITY",
        "\uff28arbour University",  # a fullwidth H: NFKC makes it plain
        "Harbour\u00a0University",
    ):
        refused = api.post(
            f"{API}/organisations", json={"name": twin, "category": "university"}, headers=pi
        )
        assert refused.status_code == 409, (twin, refused.text)
        assert error_field(refused) == "name"
    for empty in ("\u200b", " \u200d\u2060 "):
        blank = api.post(
            f"{API}/organisations", json={"name": empty, "category": "university"}, headers=pi
        )
        assert (blank.status_code, error_field(blank)) == (422, "name")
    assert audit_count(uow) == before

    lookalike = api.post(
        f"{API}/organisations",
        json={"name": f"Harbour Un{CYRILLIC_I}versity", "category": "university"},
        headers=pi,
    )
    assert lookalike.status_code == 201
    new_id = lookalike.json()["id"]
    flags = api.get(f"{API}/organisation-flags", headers=secretariat).json()
    assert [(f["organisation_id"], f["resembles_id"]) for f in flags] == [(new_id, world.uni)]
    assert "Harbour University" in flags[0]["reason"]
    # The applicant does not see the flags (they name another tenant).
    assert api.get(f"{API}/organisation-flags", headers=pi).status_code == 403
    listed = json.loads(cli("org", "flags", "--json").output)
    assert [f["id"] for f in listed] == [flags[0]["id"]]

    # Screening shows the open flag; clearing it re-screens.
    app = api.post(
        f"{API}/applications",
        json=world.payload(organisation_id=new_id, created_by_id=world.applicant),
        headers=pi,
    ).json()
    api.post(f"{API}/applications/{app['id']}/submit", headers=pi)
    screened = api.post(f"{API}/applications/{app['id']}/screen", headers=secretariat).json()
    assert codes(screened) == {"category_unverified", "organisation_lookalike"}
    message = next(
        f["message"]
        for f in screened["screening_findings"]
        if f["code"] == "organisation_lookalike"
    )
    assert "Harbour University" in message
    assert (
        api.post(
            f"{API}/organisation-flags/{flags[0]['id']}/clear", json={}, headers=pi
        ).status_code
        == 403
    )
    cleared = api.post(
        f"{API}/organisation-flags/{flags[0]['id']}/clear",
        json={"note": "a different university, checked"},
        headers=secretariat,
    )
    assert cleared.status_code == 200
    assert cleared.json()["cleared_at"] is not None
    assert codes(api.get(f"{API}/applications/{app['id']}", headers=pi).json()) == {
        "category_unverified"
    }
    assert api.get(f"{API}/organisation-flags", headers=secretariat).json() == []
    everything = api.get(
        f"{API}/organisation-flags", params={"include_cleared": True}, headers=secretariat
    ).json()
    assert len(everything) == 1
    assert "already cleared" in cli("org", "clear-flag", str(flags[0]["id"]), expect=4).output


def test_names_are_stored_normalised_and_renames_are_checked_too(api, uow, world, cli):
    pi = bearer(uow, world.applicant)
    made = api.post(
        f"{API}/organisations",
        json={"name": " Kowloon\u200b   Labs\t", "category": "ai_startup"},
        headers=pi,
    ).json()
    assert made["name"] == "Kowloon Labs"
    taken = api.patch(
        f"{API}/organisations/{made['id']}", json={"name": "harbour   UNIVERSITY"}, headers=pi
    )
    assert (taken.status_code, error_field(taken)) == (409, "name")
    renamed = api.patch(
        f"{API}/organisations/{made['id']}",
        json={"name": f"Lantau Models Lt{chr(0x217E)}"},  # SMALL ROMAN NUMERAL FIVE HUNDRED: 'd'
        headers=pi,
    )
    # NFKC turns the numeral into a plain d: the same name as an existing organisation.
    assert (renamed.status_code, error_field(renamed)) == (409, "name")
    renamed = api.patch(
        f"{API}/organisations/{made['id']}",
        json={"name": f"Lantau M{chr(0x043E)}dels Ltd"},  # Cyrillic o
        headers=pi,
    )
    assert renamed.status_code == 200
    with uow() as ctx:
        flagged = (
            ctx.db.execute(
                select(OrganisationFlag.resembles_id).where(
                    OrganisationFlag.organisation_id == made["id"]
                )
            )
            .scalars()
            .all()
        )
    assert flagged == [world.startup]
    # The CLI creates through the same rules.
    refused = cli(
        "org", "create", "--name", " LANTAU\u200b MODELS  LTD", "--category", "other", expect=4
    )
    assert "already exists" in refused.output


def test_the_migration_gives_existing_names_keys_and_flags_their_look_alikes(tmp_path):
    """Upgrading a database with look-alikes already in it keeps every row and member."""
    from alembic import command
    from sqlalchemy import text

    from aisc.db.engine import make_engine
    from aisc.db.migrate import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(engine)
    command.upgrade(config, "0008")
    names = [
        "Harbour University",
        "Harbour\u200b University",
        f"Harbour Un{CYRILLIC_I}versity",
        "Lab",
    ]
    with engine.begin() as db:
        for org_id, name in enumerate(names, 1):
            db.execute(
                text(
                    "INSERT INTO organisations (id, name, category, description, created_at) "
                    "VALUES (:id, :name, 'other', '', '2025-01-01 00:00:00')"
                ),
                {"id": org_id, "name": name},
            )
        db.execute(
            text(
                "INSERT INTO people (id, email, name, created_at, failed_logins, is_active) "
                "VALUES (1, 'a@uni.example', 'A', '2025-01-01 00:00:00', 0, 1)"
            )
        )
        db.execute(text("INSERT INTO memberships (person_id, organisation_id) VALUES (1, 1)"))
    command.upgrade(config, "head")
    with engine.begin() as db:
        keys = db.execute(text("SELECT name_key FROM organisations ORDER BY id")).scalars().all()
        flags = db.execute(
            text("SELECT organisation_id, resembles_id FROM organisation_flags ORDER BY id")
        ).all()
        members = db.execute(text("SELECT person_id, organisation_id FROM memberships")).all()
        verified = db.execute(
            text("SELECT count(*) FROM organisations WHERE category_verified_at IS NULL")
        ).scalar_one()
    assert keys == [
        "harbour university",
        "harbour university [2]",
        f"harbour un{CYRILLIC_I}versity",
        "lab",
    ]
    assert [tuple(f) for f in flags] == [(2, 1), (3, 1)]
    assert [tuple(m) for m in members] == [(1, 1)]
    assert verified == 0
    engine.dispose()
