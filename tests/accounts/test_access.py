"""Who may do what, through real API tokens and browser sessions (no test principal here).

- Every route of the application names one action of the permission matrix, and for every
  role (and anonymous) the response agrees with the matrix: denied is 401/403/404, allowed is
  anything but those.
- Cross-tenant probes: a member of project A reads, lists, searches, changes and deletes
  project B's things by id and by filter: always 403/404 or empty, and nothing changes.
- Sessions: cookie flags, CSRF on every change, logout; tokens: scopes, expiry, revocation.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.routing import Mount, Route

from aisc.access import MATRIX, READ_ACTIONS, SYSTEM_ONLY, Audience
from aisc.accounts import auth
from aisc.accounts.models import Role
from aisc.app import create_app
from aisc.applications.models import Application
from aisc.audit.models import AuditEvent
from aisc.db.engine import make_engine
from aisc.http import Requires
from aisc.jobs.models import Job
from aisc.portal.web import action_of
from aisc.webshared import CSRF_HEADER, SESSION_COOKIE
from tests.accounts.centre import Centre
from tests.helpers import error_field

A = Audience
PREFIX = "/api/v1"
# Routes outside the matrix, on purpose: they show nothing of any tenant.
PUBLIC_PATHS = {"/", "/healthz", "/readyz", f"{PREFIX}/docs", f"{PREFIX}/openapi.json"}
PUBLIC_MOUNTS = {f"{PREFIX}/docs-assets", "/static"}
PASSWORD = "Correct-Horse-42"


def app_routes(app: Any) -> list[tuple[str, str, Any]]:
    """(method, full path, route) for every route, through included routers."""
    found: list[tuple[str, str, Any]] = []

    def walk(routes: Any, prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes, prefix + route.include_context.prefix)
            elif isinstance(route, Mount):
                found.append(("MOUNT", prefix + route.path, route))
            elif isinstance(route, APIRoute | Route):
                for method in sorted(route.methods or ()):
                    if method != "HEAD":
                        found.append((method, prefix + route.path, route))

    walk(app.routes, "")
    return found


def is_portal(path: str, route: Any) -> bool:
    """A page of the browser portal: outside the API, not in its OpenAPI document."""
    return not path.startswith(PREFIX) and getattr(route, "include_in_schema", True) is False


def route_action(route: Any) -> str | None:
    if not isinstance(route, APIRoute):
        return None
    names = [d.call.action for d in route.dependant.dependencies if isinstance(d.call, Requires)]
    assert len(names) <= 1, f"{route.path} names several actions: {names}"
    return names[0] if names else None


def test_every_route_names_an_action_of_the_matrix() -> None:
    app = create_app(engine=make_engine("sqlite://"))
    unnamed, used = [], set()
    for method, path, route in app_routes(app):
        action = route_action(route)
        if path in PUBLIC_PATHS or (method == "MOUNT" and path in PUBLIC_MOUNTS):
            assert action is None
            continue
        if is_portal(path, route):
            used.add(action)  # /metrics names its action through the API's ``requires``
            used.add(action_of(getattr(route, "endpoint", None)))  # pages: ``page_action``
            continue  # pages: checked per role in tests/portal (the services check again)
        if action is None:
            unnamed.append(f"{method} {path}")
        used.add(action)
    assert not unnamed, "routes without a matrix entry:\n" + "\n".join(unnamed)
    unused = set(MATRIX) - SYSTEM_ONLY - used
    assert used - {None} == set(MATRIX) - SYSTEM_ONLY, f"matrix actions no route uses: {unused}"


def test_the_auditor_reads_everything_and_changes_nothing() -> None:
    assert not set(Role) & set(Audience)  # a relation never passes for a role of the same name
    for action, grants in MATRIX.items():
        if action in READ_ACTIONS and action != "session.read":
            assert Role.AUDITOR in grants or A.SIGNED_IN in grants or A.ANYONE in grants, action
        elif action not in READ_ACTIONS:
            assert Role.AUDITOR not in grants, action


@pytest.fixture
def centre(uow, clock):
    built = Centre(uow, clock)
    with uow() as ctx:  # a QOS grant and a look-alike flag, for the routes that act on one
        from aisc.accounts import service as accounts
        from aisc.accounts import vetting
        from aisc.accounts.schemas import OrganisationCreate
        from aisc.qos import service as qos
        from aisc.qos.schemas import QosGrantCreate

        grant = qos.grant(ctx, award_id=built.award_a, data=QosGrantCreate(qos="hero"))
        built.grant_a = grant.id  # type: ignore[attr-defined]
        accounts.create_organisation(
            ctx, data=OrganisationCreate(name="Harbour Un\u0456versity", category="university")
        )
        built.flag_a = vetting.list_flags(ctx)[0].id  # type: ignore[attr-defined]
        from aisc.progress import conditions
        from aisc.progress import service as progress
        from aisc.progress.schemas import ConditionIn

        built.report_a = progress.list_reports(ctx, award_id=built.award_a)[0].id  # type: ignore[attr-defined]
        built.condition_a = conditions.record_conditions(  # type: ignore[attr-defined]
            ctx, award_id=built.award_a, decision_id=None, items=[ConditionIn(text="Ethics")]
        )[0].id
    return built


def expected_allowed(persona: Any, action: str) -> bool:
    grants = MATRIX[action]
    if A.ANYONE in grants:
        return True
    if persona.person_id is None:
        return False
    if A.SIGNED_IN in grants or persona.roles & grants:
        return True
    return bool(persona.relations & grants)


def is_scoped_list(method: str, path: str, action: str) -> bool:
    related = {A.MEMBER, A.PI, A.ORG_MEMBER, A.REVIEWER, A.SELF}
    return method == "GET" and "{" not in path and bool(MATRIX[action] & related)


def fill(path: str, centre: Centre, persona: Any) -> str:
    if path.endswith("/sign-out"):  # sign out someone no persona needs later
        path = path.replace("{person_id}", str(centre.spare))
    values = {
        "application_id": centre.app_a,
        "award_id": centre.award_a,
        "allocation_id": centre.alloc_a,
        "job_id": centre.job_a,
        "invoice_id": centre.invoice_a,
        "organisation_id": centre.uni,
        "person_id": centre.applicant,
        "reviewer_id": centre.reviewers[0],
        "token_id": persona.spare_token_id or 1,
        "request_id": centre.role_request,
        "grant_id": centre.grant_a,  # type: ignore[attr-defined]
        "flag_id": centre.flag_a,  # type: ignore[attr-defined]
        "report_id": centre.report_a,  # type: ignore[attr-defined]
        "condition_id": centre.condition_a,  # type: ignore[attr-defined]
        "name": "h800-000",
        "code": "H800-SXM5-80GB",
        "version": "v1",
        "year": 2025,
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def bodies(centre: Centre) -> dict[tuple[str, str], Any]:
    """Valid bodies for routes whose answer depends on the object, not only on the role:
    without one, a 422 would hide whether the caller was let through."""
    scores = {
        c: {"score": 7} for c in ("alignment", "compute_reasonableness", "capability", "impact")
    }
    return {
        ("POST", f"{PREFIX}/auth/login"): {"email": "nobody@example.org", "password": "x"},
        ("POST", f"{PREFIX}/auth/tokens"): {"name": "matrix", "scopes": ["read"]},
        # A wrong current password: refused for what it is (403 wrong_password), not the role.
        ("POST", f"{PREFIX}/auth/password"): {
            "current_password": "not-the-password",
            "new_password": "violet staple harbour",
        },
        ("POST", f"{PREFIX}/auth/password-reset"): {"email": "nobody@example.org"},
        ("POST", f"{PREFIX}/applications/{{application_id}}/members"): {"person_id": centre.member},
        ("PUT", f"{PREFIX}/applications/{{application_id}}/reviews/{{reviewer_id}}/declaration"): {
            "conflict": False
        },
        ("PUT", f"{PREFIX}/applications/{{application_id}}/reviews/{{reviewer_id}}/scores"): {
            "scores": scores
        },
        ("POST", f"{PREFIX}/progress-reports/{{report_id}}/submit"): {"narrative": "Trained."},
        ("POST", f"{PREFIX}/progress-reports/{{report_id}}/request-changes"): {"note": "More."},
        ("POST", f"{PREFIX}/conditions/{{condition_id}}/resolve"): {
            "outcome": "met",
            "text": "Approved by the ethics board.",
        },
        ("POST", f"{PREFIX}/jobs"): {
            "award_id": centre.award_a,
            "partition": "training",
            "gpus_per_node": 1,
            "walltime_s": 60,
            "command": ["true"],
        },
    }


def test_every_route_answers_every_role_as_the_matrix_says(centre, api) -> None:
    body_for = bodies(centre)
    routes = [
        (m, p, route_action(r)) for m, p, r in app_routes(api.app) if route_action(r) is not None
    ]
    assert len(routes) > 60
    wrong = []
    for persona in centre.personas.values():
        for method, path, action in routes:
            assert action is not None
            url = fill(path, centre, persona)
            body = body_for.get((method, path), {} if method in ("POST", "PUT", "PATCH") else None)
            response = api.request(method, url, json=body, headers=persona.headers)
            status = response.status_code
            code = response.json()["detail"]["code"] if status >= 400 else None
            allowed = expected_allowed(persona, action)
            scoped = is_scoped_list(method, path, action)
            if scoped and persona.person_id is not None:
                # A list of tenant data answers everyone signed in, with only what they
                # reach (what that is, is checked by the outsider and cross-tenant tests).
                allowed = True
            if action == "session.start":  # sign-in: refusals are about the credentials
                message = response.json()["detail"]["message"] if code else ""
                ok = code != "access_denied" and "sign in first" not in message
            elif persona.person_id is None and not allowed:
                ok = status == 401
            elif allowed:
                ok = status not in (401, 404) and code != "access_denied"
                if status == 422 and A.ANYONE not in MATRIX[action]:
                    ok = ok and not (MATRIX[action] - set(Role))  # role-only: 422 is telling
            elif not any(isinstance(g, A) for g in MATRIX[action]):
                ok = (status, code) == (403, "access_denied")  # no role the action names
            else:  # by relation: 404 for an object out of sight, 403 for one seen, not allowed
                ok = (status, code) in ((403, "access_denied"), (404, "not_found"))
            if status == 422 and not allowed and persona.person_id is not None:
                ok = False  # input was read before access was refused: give it a valid body
            if not ok:
                wrong.append(
                    f"{persona.name:11} {method:6} {path} [{action}] -> {status} {code} "
                    f"(expected {'allow' if allowed else 'deny'})"
                )
    assert not wrong, f"{len(wrong)} answers disagree with the matrix:\n" + "\n".join(wrong)


def test_an_outsider_lists_nothing_of_anyone_else(centre, api) -> None:
    outsider = centre.personas["outsider"]
    for path in (
        "/applications",
        "/awards",
        "/allocations",
        "/jobs",
        "/usage",
        "/invoices",
        "/notifications",
    ):
        response = api.get(PREFIX + path, headers=outsider.headers)
        assert response.status_code == 200
        assert response.json() == [], path
    orgs = api.get(f"{PREFIX}/organisations", headers=outsider.headers).json()
    assert [o["id"] for o in orgs] == [centre.other]
    people = api.get(f"{PREFIX}/people", headers=outsider.headers).json()
    assert [p["id"] for p in people] == [centre.other_pi]
    # Staff without a reading role for a kind of data see none of it either.
    secretariat = centre.personas["secretariat"]
    assert api.get(f"{PREFIX}/jobs", headers=secretariat.headers).json() == []
    operator = centre.personas["operator"]
    assert api.get(f"{PREFIX}/applications", headers=operator.headers).json() == []


def counts(uow) -> tuple[int, ...]:
    with uow() as ctx:
        db = ctx.db
        return (
            db.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
            *db.execute(select(Job.state).order_by(Job.id)).scalars(),
            *db.execute(select(Application.status).order_by(Application.id)).scalars(),
        )


def test_a_member_of_project_a_cannot_reach_project_b(centre, api, uow) -> None:
    me = centre.personas["member"].headers
    before = counts(uow)
    b_app, b_award, b_job, b_alloc = centre.app_b, centre.award_b, centre.job_b, centre.alloc_b
    probes = [
        ("GET", f"/applications/{b_app}"),
        ("PATCH", f"/applications/{b_app}", {"title": "mine now"}),
        ("GET", f"/applications/{b_app}/screening"),
        ("GET", f"/applications/{b_app}/members"),
        ("POST", f"/applications/{b_app}/members", {"person_id": centre.member}),
        ("DELETE", f"/applications/{b_app}/members/{centre.startup_pi}"),
        ("POST", f"/applications/{b_app}/submit"),
        ("POST", f"/applications/{b_app}/withdraw", {"note": "x"}),
        ("GET", f"/applications/{b_app}/decisions"),
        ("GET", f"/applications/{b_app}/reviews"),
        ("GET", f"/awards/{b_award}"),
        ("POST", f"/awards/{b_award}/accept"),
        ("GET", f"/allocations/{b_alloc}"),
        ("GET", f"/jobs/{b_job}"),
        ("GET", f"/jobs/{b_job}/logs"),
        ("POST", f"/jobs/{b_job}/cancel"),
        (
            "POST",
            "/jobs",
            {"award_id": b_award, "partition": "training", "walltime_s": 60, "command": ["true"]},
        ),
        ("GET", f"/invoices/{centre.invoice_b}"),
        ("GET", f"/invoices/{centre.invoice_b}/statement.csv"),
        ("GET", f"/invoices/{centre.invoice_b}/statement.pdf"),
        ("POST", f"/invoices/{centre.invoice_b}/credit-notes", {"amount_hkd": "1", "reason": "x"}),
        ("GET", f"/organisations/{centre.startup}"),
        ("PATCH", f"/organisations/{centre.startup}", {"description": "x"}),
        ("GET", f"/people/{centre.startup_pi}"),
    ]
    for method, path, *body in probes:
        response = api.request(method, PREFIX + path, json=body[0] if body else None, headers=me)
        expected = 403 if path.endswith("/credit-notes") else 404  # role-only: refused first
        assert response.status_code == expected, (method, path, response.text)
        # The refusal says nothing about B: the same words as for an id that does not exist.
        assert "Legal document" not in response.text
        assert "Lantau" not in response.text
    missing = api.get(f"{PREFIX}/applications/999999", headers=me).json()["detail"]["message"]
    hidden = api.get(f"{PREFIX}/applications/{b_app}", headers=me).json()["detail"]["message"]
    assert missing.replace("999999", str(b_app)) == hidden

    # Lists, filters and search show only A's things.
    def ids(path: str) -> set[int]:
        response = api.get(PREFIX + path, headers=me)
        assert response.status_code == 200, response.text
        return {row["id"] for row in response.json()}

    assert ids("/applications") == {centre.app_a}
    assert ids("/applications?q=legal") == set()
    assert ids(f"/applications?organisation_id={centre.startup}") == set()
    assert ids("/awards") == {centre.award_a}
    assert ids(f"/awards?organisation_id={centre.startup}") == set()
    assert ids("/allocations") == {centre.alloc_a}
    assert ids(f"/allocations?award_id={b_award}") == set()
    assert ids("/jobs") == {centre.job_a}
    assert ids(f"/jobs?award_id={b_award}") == set()
    assert {u["award_id"] for u in api.get(f"{PREFIX}/usage", headers=me).json()} == {
        centre.award_a
    }
    assert api.get(f"{PREFIX}/usage?award_id={b_award}", headers=me).json() == []
    assert ids("/invoices") == {centre.invoice_a}
    assert ids(f"/invoices?award_id={b_award}") == set()
    assert ids(f"/notifications?award_id={b_award}") == set()
    assert ids("/organisations") == {centre.uni}
    assert ids("/people") == {centre.member}
    assert counts(uow) == before


def test_a_conflicted_reviewer_sees_no_scores(centre, api) -> None:
    reviewer = centre.personas["reviewer"]
    ok = api.get(f"{PREFIX}/applications/{centre.app_a}/reviews", headers=reviewer.headers)
    assert ok.status_code == 200
    # The third reviewer is not assigned to B: B's reviews and B itself are out of reach.
    with centre.uow() as ctx:
        third = centre.reviewers[2]
        token, _ = auth.create_token(ctx, person_id=third, name="t", scopes=["read", "write"])
    headers = {"Authorization": f"Bearer {token}"}
    hidden = api.get(f"{PREFIX}/applications/{centre.app_b}/reviews", headers=headers)
    assert hidden.status_code == 404, hidden.text
    app_id = centre.to_review(title="Another speech model")
    with centre.uow() as ctx:
        from aisc.review import service as review
        from aisc.review.schemas import DeclarationIn

        review.assign_reviewer(ctx, application_id=app_id, reviewer_id=third)
        review.declare(
            ctx, application_id=app_id, reviewer_id=third, data=DeclarationIn(conflict=True)
        )
    seen = api.get(f"{PREFIX}/applications/{app_id}/reviews", headers=headers)
    assert seen.status_code == 403
    assert "conflict" in seen.json()["detail"]["message"]
    # Nor can the reviewer act in another reviewer's name.
    other = api.put(
        f"{PREFIX}/applications/{app_id}/reviews/{centre.reviewers[0]}/declaration",
        json={"conflict": False},
        headers=headers,
    )
    assert (other.status_code, error_field(other)) == (403, "reviewer_id")


def test_people_act_only_in_their_own_name(centre, api) -> None:
    pi = centre.personas["pi"]
    body = centre.payload(created_by_id=centre.member, title="Impersonated")
    response = api.post(f"{PREFIX}/applications", json=body, headers=pi.headers)
    assert response.status_code == 403
    assert response.json()["detail"]["field"] == "created_by_id"
    body = centre.payload(title="My own")
    del body["created_by_id"]
    mine = api.post(f"{PREFIX}/applications", json=body, headers=pi.headers)
    assert mine.status_code == 201
    assert mine.json()["created_by_id"] == centre.applicant
    team = api.get(f"{PREFIX}/applications/{mine.json()['id']}/members", headers=pi.headers)
    assert [(m["person_id"], m["role"]) for m in team.json()] == [(centre.applicant, "pi")]
    # A plain member may edit the draft but only the PI submits it.
    member = centre.personas["member"]
    assert (
        api.post(f"{PREFIX}/applications/{centre.app_a}/withdraw", headers=member.headers)
    ).status_code == 403


def test_tokens_scope_expiry_and_revocation(centre, api, clock) -> None:
    pi = centre.personas["pi"]
    made = api.post(
        f"{PREFIX}/auth/tokens",
        json={"name": "ci", "scopes": ["read"], "days": 1},
        headers=pi.headers,
    )
    assert made.status_code == 201
    secret, token_id = made.json()["secret"], made.json()["id"]
    reader = {"Authorization": f"Bearer {secret}"}
    assert api.get(f"{PREFIX}/jobs", headers=reader).status_code == 200
    write = api.post(f"{PREFIX}/jobs/{centre.job_a}/cancel", headers=reader)
    assert write.status_code == 403
    assert "read scope" in write.json()["detail"]["message"]
    listed = api.get(f"{PREFIX}/auth/tokens", headers=pi.headers).json()
    assert {t["person_id"] for t in listed} == {centre.applicant}
    assert all("secret" not in t for t in listed)
    # Someone else's token is "not found", not revocable.
    other = centre.personas["member"]
    assert api.delete(f"{PREFIX}/auth/tokens/{token_id}", headers=other.headers).status_code == 404
    clock.advance(days=2)
    expired = api.get(f"{PREFIX}/jobs", headers=reader)
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"] == "Bearer"
    assert api.delete(f"{PREFIX}/auth/tokens/{token_id}", headers=pi.headers).status_code == 200
    assert (
        api.get(f"{PREFIX}/jobs", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    )
    assert api.get(f"{PREFIX}/jobs", headers={"Authorization": "Basic abc"}).status_code == 401
    # A revoked token fails at once, even on public routes.
    assert api.get(f"{PREFIX}/scheme", headers=reader).status_code == 401


def test_sessions_cookie_flags_csrf_and_logout(centre, api, uow) -> None:
    with uow() as ctx:
        auth.set_password(ctx, person_id=centre.applicant, password=PASSWORD)
    bad = api.post(f"{PREFIX}/auth/login", json={"email": "pi@uni.example", "password": "wrong"})
    assert bad.status_code == 401
    assert bad.json()["detail"]["message"] == "invalid e-mail or password"
    login = api.post(f"{PREFIX}/auth/login", json={"email": "pi@uni.example", "password": PASSWORD})
    assert login.status_code == 200, login.text
    cookie = login.headers["set-cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert flag.lower() in cookie.lower(), cookie
    csrf = login.json()["csrf_token"]
    assert login.json()["person"]["id"] == centre.applicant
    me = api.get(f"{PREFIX}/auth/me")
    assert me.status_code == 200
    assert me.json()["via"] == "session"
    assert me.json()["csrf_token"] == csrf
    # A change without the CSRF token is refused and changes nothing.
    before = counts(uow)
    refused = api.post(f"{PREFIX}/jobs/{centre.job_a}/cancel")
    assert refused.status_code == 403
    assert CSRF_HEADER in refused.json()["detail"]["message"]
    wrong = api.post(f"{PREFIX}/jobs/{centre.job_a}/cancel", headers={CSRF_HEADER: "x" * 43})
    assert wrong.status_code == 403
    assert counts(uow) == before
    done = api.post(f"{PREFIX}/jobs/{centre.job_a}/cancel", headers={CSRF_HEADER: csrf})
    assert done.status_code == 200
    old = login.cookies[SESSION_COOKIE]
    out = api.post(f"{PREFIX}/auth/logout", headers={CSRF_HEADER: csrf})
    assert out.status_code == 204
    assert SESSION_COOKIE not in api.cookies
    # The old cookie, replayed, no longer signs anyone in.
    replay = api.get(f"{PREFIX}/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={old}"})
    assert replay.status_code == 401


def test_lockout_applies_to_the_login_route(centre, api, uow, clock) -> None:
    with uow() as ctx:
        auth.set_password(ctx, person_id=centre.member, password=PASSWORD)
    for _ in range(auth.MAX_FAILURES):
        body = {"email": "member@uni.example", "password": "Wrong-password-1"}
        assert api.post(f"{PREFIX}/auth/login", json=body).status_code == 401
    right = {"email": "member@uni.example", "password": PASSWORD}
    assert api.post(f"{PREFIX}/auth/login", json=right).status_code == 401
    clock.advance(seconds=auth.LOCKOUT.total_seconds() + 1)
    assert api.post(f"{PREFIX}/auth/login", json=right).status_code == 200


def test_no_secret_reaches_the_audit_trail(centre, api, uow) -> None:
    with uow() as ctx:
        auth.set_password(ctx, person_id=centre.applicant, password=PASSWORD)
    login = api.post(f"{PREFIX}/auth/login", json={"email": "pi@uni.example", "password": PASSWORD})
    made = api.post(
        f"{PREFIX}/auth/tokens",
        json={"name": "x", "scopes": ["read"]},
        headers={CSRF_HEADER: login.json()["csrf_token"]},
    )
    assert made.status_code == 201, made.text
    secrets = [
        PASSWORD,
        login.cookies[SESSION_COOKIE],
        login.json()["csrf_token"],
        made.json()["secret"],
        *(p.token for p in centre.personas.values() if p.token),
    ]
    with uow() as ctx:
        trail = " ".join(
            f"{e.before} {e.after}" for e in ctx.db.execute(select(AuditEvent)).scalars()
        )
    assert not [s for s in secrets if s in trail]


def test_actions_are_attributed_to_the_signed_in_person(centre, api, uow) -> None:
    pi = centre.personas["pi"]
    api.post(f"{PREFIX}/jobs/{centre.job_a}/cancel", headers=pi.headers)
    with uow() as ctx:
        last = ctx.db.execute(
            select(AuditEvent).where(AuditEvent.action == "job.cancel")
        ).scalar_one()
    assert last.actor == f"person:{centre.applicant}"


def test_the_documented_matrix_is_the_matrix() -> None:
    from pathlib import Path

    from aisc.access import matrix_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "accounts.md"
    assert matrix_markdown() in docs.read_text(), "regenerate the table in docs/accounts.md"
