"""Sessions and passwords under attack, replayed (issue 15, item 7): each must now fail.

- a session or token survived a password change, and a deactivate -> reactivate cycle revived
  them: now both end for good;
- nobody could end another person's sessions: staff now can (API, CLI, portal);
- nobody could change their own password, and a locked-out owner had no way back in: a
  self-change (current password required) and a reset by e-mail (single-use, expiring,
  stored as a hash, same answer for unknown addresses) now exist;
- ``Password1234`` was accepted: the policy now refuses guessable passwords (zxcvbn);
- the portal's sign-in form token could be replayed: it now works once;
- staff could grant each other any role: a staff role now needs a second staff member.

Runs on SQLite and PostgreSQL (the ``engine`` fixture), through the real API and portal with
real credentials.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aisc.accounts import auth
from aisc.accounts.models import PasswordReset, Person, Role, RoleRequest, RoleRequestStatus
from aisc.audit.models import AuditEvent
from aisc.outbox.worker import deliver_due
from aisc.webshared import CSRF_HEADER, SESSION_COOKIE
from tests.factories import World
from tests.helpers import refused

API = "/api/v1"
PASSWORD = "Correct-Horse-42"
NEW_PASSWORD = "violet staple harbour lantern"
MAIL = "notifications.jsonl"


@pytest.fixture
def world(uow) -> World:
    built = World(uow)
    with uow() as ctx:
        for person_id in (built.applicant, built.secretariat, built.other_pi):
            auth.set_password(ctx, person_id=person_id, password=PASSWORD)
    return built


def sign_in(api: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """A fresh browser session: (cookie, CSRF token) as request headers."""
    response = api.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    cookie = response.cookies[SESSION_COOKIE]
    api.cookies.clear()  # each "browser" sends its own cookie explicitly
    return {"Cookie": f"{SESSION_COOKIE}={cookie}", CSRF_HEADER: response.json()["csrf_token"]}


def token_for(uow: Any, person_id: int) -> dict[str, str]:
    with uow() as ctx:
        secret, _ = auth.create_token(ctx, person_id=person_id, name="t", scopes=["read", "write"])
    return {"Authorization": f"Bearer {secret}"}


def who(api: TestClient, headers: dict[str, str]) -> int:
    """The status of ``GET /auth/me`` with these credentials (200: still signed in)."""
    return api.get(f"{API}/auth/me", headers=headers).status_code


def mails(api: TestClient, tmp_path: Path) -> list[dict[str, Any]]:
    """What the outbox has delivered to the mail file (delivering what is due first)."""
    api.app.state.worker.lead()  # type: ignore[attr-defined]
    deliver_due(api.app.state.worker.open_ctx)  # type: ignore[attr-defined]
    path = tmp_path / "var" / MAIL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def actions(uow: Any) -> list[str]:
    with uow() as ctx:
        return list(ctx.db.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars())


# --- a compromise ends every session and token ------------------------------------------------


def test_a_password_set_by_the_operator_ends_every_session_and_token(api, uow, world, cli):
    browser_a = sign_in(api, "pi@uni.example")
    browser_b = sign_in(api, "pi@uni.example")
    token = token_for(uow, world.applicant)
    assert {who(api, h) for h in (browser_a, browser_b, token)} == {200}
    cli("person", "set-password", str(world.applicant), input=NEW_PASSWORD + "\n")
    assert who(api, browser_a) == 401  # the cookie is anonymous now
    assert who(api, browser_b) == 401
    assert who(api, token) == 401  # the token is refused
    # The old password is gone too; the new one works.
    old = api.post(f"{API}/auth/login", json={"email": "pi@uni.example", "password": PASSWORD})
    assert old.status_code == 401
    assert who(api, sign_in(api, "pi@uni.example", NEW_PASSWORD)) == 200
    assert "person.sessions_end" in actions(uow)


def test_deactivation_ends_everything_and_reactivation_revives_nothing(api, uow, world):
    victim = sign_in(api, "pi@uni.example")
    victim_token = token_for(uow, world.applicant)
    staff = token_for(uow, world.secretariat)
    path = f"{API}/people/{world.applicant}"
    assert api.patch(path, json={"is_active": False}, headers=staff).status_code == 200
    assert who(api, victim) == 401
    assert who(api, victim_token) == 401
    assert api.patch(path, json={"is_active": True}, headers=staff).json()["is_active"] is True
    # The attack: the old session and token, replayed after reactivation, stay dead.
    assert who(api, victim) == 401
    assert who(api, victim_token) == 401
    assert api.get(f"{API}/jobs", headers=victim_token).status_code == 401
    # Signing in again works: a clean start.
    assert who(api, sign_in(api, "pi@uni.example")) == 200


def test_staff_end_a_persons_sessions_and_tokens(api, uow, world, cli):
    victim = sign_in(api, "pi@uni.example")
    victim_token = token_for(uow, world.applicant)
    # A tenant cannot sign another person out.
    other = token_for(uow, world.other_pi)
    path = f"{API}/people/{world.applicant}/sign-out"
    assert api.post(path, headers=other).status_code == 403
    assert who(api, victim) == 200
    staff = token_for(uow, world.secretariat)
    done = api.post(path, headers=staff)
    assert done.status_code == 200, done.text
    assert done.json() == {"person_id": world.applicant, "sessions": 1, "tokens": 1}
    assert who(api, victim) == 401
    assert who(api, victim_token) == 401
    # The staff member's own credentials are untouched.
    assert who(api, staff) == 200
    # The CLI does the same.
    again = sign_in(api, "pi@uni.example")
    shown = cli("person", "sign-out", str(world.applicant), "--json")
    assert json.loads(shown.output)["sessions"] == 1
    assert who(api, again) == 401
    refused(cli, "person", "sign-out", "99999", expect=3, says="person 99999 not found", uow=uow)
    with uow() as ctx:
        ended = ctx.db.execute(
            select(AuditEvent).where(AuditEvent.action == "person.sessions_end")
        ).scalars()
        by_staff = [e for e in ended if "signed out by staff" in e.after]
        assert [e.actor for e in by_staff][:1] == [f"person:{world.secretariat}"]


# --- people change their own password ---------------------------------------------------------


def test_a_self_change_keeps_this_session_and_ends_the_others(api, uow, world):
    here = sign_in(api, "pi@uni.example")
    elsewhere = sign_in(api, "pi@uni.example")
    token = token_for(uow, world.applicant)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    done = api.post(f"{API}/auth/password", json=body, headers=here)
    assert done.status_code == 200, done.text
    assert done.json() == {"person_id": world.applicant, "sessions": 1, "tokens": 1}
    assert who(api, here) == 200
    assert who(api, elsewhere) == 401
    assert who(api, token) == 401
    assert who(api, sign_in(api, "pi@uni.example", NEW_PASSWORD)) == 200


def test_a_self_change_needs_the_current_password_and_a_good_new_one(api, uow, world):
    stolen = sign_in(api, "pi@uni.example")
    weak = {"current_password": PASSWORD, "new_password": "Password1234"}
    refused = api.post(f"{API}/auth/password", json=weak, headers=stolen)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail["field"] == "new_password"
    assert "too easy to guess" in detail["message"]
    # A stolen session guessing the current password: refused, and it counts towards the lock.
    guess = {"current_password": "Guess-Number-0001", "new_password": NEW_PASSWORD}
    for _ in range(auth.MAX_FAILURES):
        wrong = api.post(f"{API}/auth/password", json=guess, headers=stolen)
        assert wrong.status_code == 403
        assert wrong.json()["detail"]["code"] == "wrong_password"
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert api.post(f"{API}/auth/password", json=right, headers=stolen).status_code == 403
    login = api.post(f"{API}/auth/login", json={"email": "pi@uni.example", "password": PASSWORD})
    assert login.status_code == 401  # locked
    # Without a CSRF token a session cannot change it at all.
    cookie_only = {"Cookie": stolen["Cookie"]}
    assert api.post(f"{API}/auth/password", json=right, headers=cookie_only).status_code == 403
    assert api.post(f"{API}/auth/password", json=right).status_code == 401


# --- password reset by e-mail ---------------------------------------------------------------


def reset_secret(api: TestClient, tmp_path: Path) -> str:
    found = re.search(r"token=([\w-]+)", mails(api, tmp_path)[-1]["message"])
    assert found is not None
    return found.group(1)


def test_a_locked_out_owner_gets_back_in_through_a_reset_email(api, uow, world, tmp_path):
    session = sign_in(api, "pi@uni.example")
    token = token_for(uow, world.applicant)
    for _ in range(auth.MAX_FAILURES):  # a stranger keeps the account locked
        api.post(f"{API}/auth/login", json={"email": "pi@uni.example", "password": "Nope-nope-1"})
    locked = api.post(f"{API}/auth/login", json={"email": "pi@uni.example", "password": PASSWORD})
    assert locked.status_code == 401
    known = api.post(f"{API}/auth/password-reset", json={"email": "PI@uni.example"})
    unknown = api.post(f"{API}/auth/password-reset", json={"email": "nobody@uni.example"})
    # The same answer either way: no account probing.
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    sent = mails(api, tmp_path)
    assert [m["to"] for m in sent] == [["pi@uni.example"]]
    secret = reset_secret(api, tmp_path)
    with uow() as ctx:  # only the hash is stored
        stored = ctx.db.execute(select(PasswordReset)).scalar_one()
        assert secret not in stored.secret_hash
        assert stored.secret_hash == auth._digest(secret)
    confirm = f"{API}/auth/password-reset/confirm"
    weak = api.post(confirm, json={"token": secret, "new_password": "Password1234"})
    assert weak.status_code == 422
    assert weak.json()["detail"]["field"] == "new_password"
    done = api.post(confirm, json={"token": secret, "new_password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    # The lock is lifted, and every old session and token ended.
    assert who(api, sign_in(api, "pi@uni.example", NEW_PASSWORD)) == 200
    assert who(api, session) == 401
    assert who(api, token) == 401
    # The link, replayed, is refused.
    replay = api.post(confirm, json={"token": secret, "new_password": "another fine passphrase"})
    assert replay.status_code == 422
    assert replay.json()["detail"]["field"] == "token"
    trail = actions(uow)
    assert "person.password_reset_requested" in trail
    assert "person.password_reset" in trail
    with uow() as ctx:
        events = " ".join(e.after for e in ctx.db.execute(select(AuditEvent)).scalars())
    assert secret not in events
    assert NEW_PASSWORD not in events


def test_a_reset_link_expires_and_requests_are_bounded(api, uow, world, tmp_path, clock):
    ask = {"email": "pi@uni.example"}
    assert api.post(f"{API}/auth/password-reset", json=ask).status_code == 202
    secret = reset_secret(api, tmp_path)
    clock.advance(seconds=auth.RESET_VALID.total_seconds() + 1)
    late = api.post(
        f"{API}/auth/password-reset/confirm", json={"token": secret, "new_password": NEW_PASSWORD}
    )
    assert late.status_code == 422
    for _ in range(auth.RESETS_PER_HOUR + 3):
        answer = api.post(f"{API}/auth/password-reset", json=ask)
        assert answer.status_code == 202
    # One within the first hour, then at most RESETS_PER_HOUR in the next.
    assert len(mails(api, tmp_path)) == 1 + auth.RESETS_PER_HOUR
    # A made-up token is refused without a trace of whether any account exists.
    made_up = api.post(
        f"{API}/auth/password-reset/confirm", json={"token": "x" * 43, "new_password": "x"}
    )
    assert made_up.status_code == 422
    assert made_up.json()["detail"]["field"] == "token"


def test_a_deactivated_person_gets_no_reset(api, uow, world, tmp_path, cli):
    cli("person", "update", str(world.applicant), "--inactive")
    assert (
        api.post(f"{API}/auth/password-reset", json={"email": "pi@uni.example"}).status_code == 202
    )
    assert mails(api, tmp_path) == []


# --- the portal: sign-in form token, own password, reset pages, staff page ----------------------


def login_token(html: str) -> str:
    found = re.search(r'name="login_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_the_sign_in_form_token_works_once(api, uow, world, clock):
    form = api.get("/login")
    token = login_token(form.text)
    body = {"email": "pi@uni.example", "password": PASSWORD, "login_token": token}
    first = api.post("/login", data=body, follow_redirects=False)
    assert first.status_code == 303
    api.cookies.delete(SESSION_COOKIE)
    # The attack: the same form (token and cookie) posted again.
    api.cookies.set("aisc_login", token)
    replay = api.post("/login", data=body, follow_redirects=False)
    assert replay.status_code == 403
    assert SESSION_COOKIE not in replay.cookies
    # A token older than its 30 minutes is refused too.
    stale = login_token(api.get("/login").text)
    clock.advance(minutes=31)
    body["login_token"] = stale
    api.cookies.set("aisc_login", stale)
    late = api.post("/login", data=body, follow_redirects=False)
    assert late.status_code == 403
    # A token with a forged issue time is no better.
    forged = f"{int(clock.now.timestamp())}.{token.partition('.')[2]}"
    body["login_token"] = forged
    api.cookies.set("aisc_login", forged)
    again = api.post("/login", data=body, follow_redirects=False)
    assert again.status_code == 403


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def portal_sign_in(api: TestClient, email: str, password: str = PASSWORD) -> None:
    token = login_token(api.get("/login").text)
    done = api.post(
        "/login",
        data={"email": email, "password": password, "login_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[-500:]


def test_the_portal_changes_and_resets_passwords(api, uow, world, tmp_path):
    portal_sign_in(api, "pi@uni.example")
    page = api.get("/account/password")
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    form = {"csrf_token": csrf, "current_password": "wrong-wrong-wrong",
            "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}  # fmt: skip
    assert api.post("/account/password", data=form).status_code == 403
    form["current_password"] = PASSWORD
    form["new_password"] = form["confirm_password"] = "Password1234"
    weak = api.post("/account/password", data=form)
    assert weak.status_code == 422
    assert "too easy to guess" in weak.text
    form["new_password"] = form["confirm_password"] = NEW_PASSWORD
    done = api.post("/account/password", data=form, follow_redirects=False)
    assert done.status_code == 303
    assert api.get("/account/password").status_code == 200  # still signed in here
    # Without the CSRF token nothing changes.
    form["csrf_token"] = "x"
    assert api.post("/account/password", data=form).status_code == 403
    # Forgotten: the reset pages.
    api.cookies.clear()
    assert api.get("/account/password", follow_redirects=False).status_code == 303
    asked = api.post("/password-reset", data={"email": "pi@uni.example"})
    nobody = api.post("/password-reset", data={"email": "nobody@uni.example"})
    assert asked.status_code == nobody.status_code == 200
    assert "on its way" in asked.text
    assert "on its way" in nobody.text
    secret = reset_secret(api, tmp_path)
    confirm = api.get("/password-reset/confirm", params={"token": secret})
    assert secret in confirm.text
    reset = {"token": secret, "new_password": "amber kettle monsoon ferry",
             "confirm_password": "amber kettle monsoon ferry"}  # fmt: skip
    assert (
        api.post("/password-reset/confirm", data=reset, follow_redirects=False).status_code == 303
    )
    assert api.post("/password-reset/confirm", data=reset).status_code == 422  # used
    portal_sign_in(api, "pi@uni.example", "amber kettle monsoon ferry")


def test_the_portal_staff_page_signs_people_out_and_decides_roles(api, uow, world):
    victim = token_for(uow, world.applicant)
    with uow() as ctx:
        from tests.accounts.centre import Centre

        ctx_request = Centre.ask_role(ctx, world.secretariat, world.other_pi, Role.FINANCE)
    portal_sign_in(api, "sec@scheme.example")
    page = api.get("/people")
    assert page.status_code == 200
    assert "pi@uni.example" in page.text
    csrf = csrf_of(page.text)
    # The one who asked has no approve button, and approving anyway is refused.
    assert f"/role-requests/{ctx_request}/approve" not in page.text
    refused = api.post(f"/role-requests/{ctx_request}/approve", data={"csrf_token": csrf})
    assert refused.status_code == 403
    out = api.post(
        f"/people/{world.applicant}/sign-out", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert out.status_code == 303
    assert who(api, victim) == 401
    withdrawn = api.post(
        f"/role-requests/{ctx_request}/reject", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert withdrawn.status_code == 303
    # A tenant has no such page.
    api.cookies.clear()
    portal_sign_in(api, "pi@other.example")
    assert api.get("/people").status_code == 403


# --- staff roles need a second staff member ---------------------------------------------------


def test_a_staff_role_needs_a_second_staff_members_approval(api, uow, world, cli):
    with uow() as ctx:
        from aisc.accounts import service as accounts
        from aisc.accounts.schemas import PersonCreate

        operator = accounts.create_person(
            ctx, data=PersonCreate(email="ops@centre.example", name="Ops", roles=[Role.OPERATOR])
        ).id
    secretary, ops = token_for(uow, world.secretariat), token_for(uow, operator)
    accomplice = token_for(uow, world.other_pi)
    # The attack: the secretary makes a tenant an auditor and a finance officer.
    path = f"{API}/people/{world.other_pi}"
    asked = api.patch(path, json={"roles": ["applicant", "auditor", "finance"]}, headers=secretary)
    assert asked.status_code == 200, asked.text
    assert asked.json()["roles"] == ["applicant"]
    assert asked.json()["pending_roles"] == ["auditor", "finance"]
    assert api.get(f"{API}/audit/events", headers=accomplice).status_code == 403
    listed = api.get(f"{API}/role-requests?status=pending", headers=ops).json()
    by_role = {r["role"]: r["id"] for r in listed}
    assert set(by_role) == {"auditor", "finance"}
    assert {r["requested_by_id"] for r in listed} == {world.secretariat}
    # The one who asked cannot approve; the tenant cannot either.
    mine = api.post(f"{API}/role-requests/{by_role['auditor']}/approve", headers=secretary)
    assert mine.status_code == 403
    assert (
        api.post(
            f"{API}/role-requests/{by_role['auditor']}/approve", headers=accomplice
        ).status_code
        == 403
    )
    assert api.get(f"{API}/role-requests", headers=accomplice).status_code == 403
    # A second staff member approves one and rejects the other.
    approved = api.post(
        f"{API}/role-requests/{by_role['auditor']}/approve",
        json={"note": "internal audit secondment"},
        headers=ops,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["decided_by_id"] == operator
    rejected = api.post(f"{API}/role-requests/{by_role['finance']}/reject", headers=ops)
    assert rejected.json()["status"] == "rejected"
    again = api.post(f"{API}/role-requests/{by_role['finance']}/approve", headers=ops)
    assert again.status_code == 409
    # Nor does anyone approve a role for themself, though another asked for it.
    for_ops = api.patch(
        f"{API}/people/{operator}", json={"roles": ["operator", "finance"]}, headers=secretary
    )
    assert for_ops.json()["pending_roles"] == ["finance"]
    own = next(
        r["id"]
        for r in api.get(f"{API}/role-requests?status=pending", headers=ops).json()
        if r["person_id"] == operator
    )
    assert api.post(f"{API}/role-requests/{own}/approve", headers=ops).status_code == 403
    assert api.post(f"{API}/role-requests/{own}/reject", headers=secretary).status_code == 200
    person = api.get(path, headers=ops).json()
    assert person["roles"] == ["applicant", "auditor"]
    assert person["pending_roles"] == []
    trail = actions(uow)
    assert trail.count("role.request") == 3
    assert "role.approve" in trail
    assert "role.reject" in trail
    # Creating a person with a staff role through the API is a request too.
    made = api.post(
        f"{API}/people",
        json={"email": "new@centre.example", "name": "New", "roles": ["operator"]},
        headers=secretary,
    )
    assert made.status_code == 201
    assert (made.json()["roles"], made.json()["pending_roles"]) == ([], ["operator"])
    # Removing a staff role needs nobody's approval; the reviewer role is not a staff role.
    cut = api.patch(path, json={"roles": ["applicant", "reviewer"]}, headers=secretary)
    assert (cut.json()["roles"], cut.json()["pending_roles"]) == (["applicant", "reviewer"], [])
    # The command line acts as the system: it grants directly (bootstrapping a centre), and
    # lists, approves and rejects requests.
    shown = cli("person", "update", str(world.other_pi), "--role", "finance", "--json")
    assert json.loads(shown.output)["roles"] == ["finance"]
    pending = json.loads(cli("person", "role-requests", "--status", "pending", "--json").output)
    assert [r["role"] for r in pending] == ["operator"]
    cli("person", "approve-role", str(pending[0]["id"]), "--note", "bootstrap")
    refused(
        cli,
        "person",
        "reject-role",
        str(pending[0]["id"]),
        expect=4,
        says="already approved",
        uow=uow,
    )
    with uow() as ctx:
        statuses = set(ctx.db.execute(select(RoleRequest.status)).scalars())
        assert statuses == {RoleRequestStatus.APPROVED, RoleRequestStatus.REJECTED}
        new = ctx.db.execute(select(Person).where(Person.email == "new@centre.example"))
        assert new.scalar_one().role_set == {Role.OPERATOR}
