"""The route x role test at object level: what each role sees of two tenants, on every GET.

Two tenants, A (Harbour University) and B (Lantau Models), each hold data in every table that
holds tenant data: an application with its attachments, team, reviews and a decision, an award
with its ledger commitment, an allocation, jobs with logs, usage, an invoice with a credit note,
a burn notification, API tokens and browser sessions (tests/security/tenants.py). Every text a
tenant wrote carries its marker (``zza-`` / ``zzb-``, beside the organisation's name and e-mail
domain), and every row's id is known per kind.

For every GET route of the OpenAPI document and every page of the portal (the list is read from
the application, so a new route is covered without editing this file, and the test fails if it
cannot fill a route's parameters), every persona calls it with A's ids, with B's ids, with B's
ids as filters and with ids that do not exist, and:

- a body never carries the markers or ids of a tenant the persona is not related to, unless
  one of the persona's staff roles holds the route's action (the matrix says it sees all);
- another tenant's object answers exactly as a missing one: the same status, the same words
  with the id swapped (no existence oracle).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aisc.access import MATRIX, Audience
from aisc.accounts.models import ApiToken, Person, Role
from aisc.app import create_app
from tests.accounts.test_access import app_routes, is_portal
from tests.portal.conftest import sign_in
from tests.security.tenants import ID_PARAMS, MISSING, SHARED_PATH, Persona, Tenants

A = Audience
PREFIX = "/api/v1"
# Values for required query parameters.
REQUIRED_QUERY = {"month": "2025-03", "code": "x", "state": "x", "from": "2025-01"}
# Optional query parameters that filter by a tenant's object (by its id; ``q`` by its words).
ID_FILTERS = {
    "award_id": "award",
    "job_id": "job",
    "organisation_id": "organisation",
    "viewer_id": "person",
    "object_id": "application",
    "q": "title",
}
# Keys in a body that hold an id of a kind (an ``id`` key: the kind its path names).
ID_KEYS = {
    "application_id": "application",
    "previous_application_id": "application",
    "award_id": "award",
    "allocation_id": "allocation",
    "job_id": "job",
    "invoice_id": "invoice",
    "organisation_id": "organisation",
    "organisation_ids": "organisation",
    "person_id": "person",
    "created_by_id": "person",
    "submitted_by_id": "person",
    "reviewer_id": "person",
}
ID_OF_PATH = {
    "applications": "application",
    "{application_id}": "application",
    "members": "member",
    "decisions": "decision",
    "awards": "award",
    "{award_id}": "award",
    "allocations": "allocation",
    "{allocation_id}": "allocation",
    "jobs": "job",
    "{job_id}": "job",
    "usage": "usage",
    "invoices": "invoice",
    "{invoice_id}": "invoice",
    "notifications": "notification",
    "organisations": "organisation",
    "{organisation_id}": "organisation",
    "people": "person",
    "{person_id}": "person",
    "tokens": "token",
    "entries": "ledger",
}
# The action that shows the object a path parameter names.
READ_OF_PARAM = {
    "application_id": "application.read",
    "award_id": "award.read",
    "allocation_id": "allocation.read",
    "job_id": "job.read",
    "invoice_id": "billing.read",
    "organisation_id": "organisation.read",
    "person_id": "person.read",
    "reviewer_id": "person.read",
    "report_id": "progress.read",
    "condition_id": "condition.read",
}
TEXT_TYPES = ("application/json", "text/", "image/svg")


def sees_all(persona: Persona, action: str | None) -> bool:
    """One of the persona's staff roles holds ``action``: it sees every tenant's objects."""
    if action is None:
        return False
    return bool(persona.roles & MATRIX[action] - {Role.APPLICANT, Role.REVIEWER})


def related(persona: Persona, tenant: str, action: str | None) -> bool:
    """The persona may see this tenant's objects through its relations to them."""
    if persona.tenant != tenant:
        return False
    if action is None or MATRIX[action] & {A.ANYONE, A.SIGNED_IN}:
        return True  # a page, or what every signed-in person reads of their own
    return bool(persona.relations & MATRIX[action])


def may_know(persona: Persona, tenant: str, params: list[str]) -> bool:
    """The persona may see the object the path names (then a refusal need not look like a
    missing id: it confirms nothing the persona does not know)."""
    for name in params:
        if name in READ_OF_PARAM:
            action = READ_OF_PARAM[name]
            return sees_all(persona, action) or related(persona, tenant, action)
    return False


def leaks(body: Any, text: str, markers: tuple[str, ...], ids: dict[str, set[int]], path: str):
    """What of a tenant ``text`` (and ``body``, its JSON) shows: markers and ids by kind."""
    found = [m for m in markers if m in text]
    segments = [s for s in path.split("/") if s]
    id_kind = ID_OF_PATH.get(segments[-1]) if segments else None

    def walk(node: Any, top: bool) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, top)
        elif isinstance(node, dict):
            for key, value in node.items():
                kind = ID_KEYS.get(key) or (id_kind if key == "id" and top else None)
                values = value if isinstance(value, list) else [value]
                if kind is not None:
                    hit = {v for v in values if isinstance(v, int)} & ids.get(kind, set())
                    found.extend(f"{key}={v}" for v in sorted(hit))
                elif isinstance(value, dict | list):
                    walk(value, False)

    walk(body, True)
    return found


def text_of(response: Any) -> str:
    kind = response.headers.get("content-type", "")
    return response.text if kind.startswith(TEXT_TYPES) else ""


def detail_of(response: Any, ids_used: list[int], swap: tuple[str, str] = ("", "")) -> str:
    """The refusal with the ids swapped for the missing one (to compare with a missing id):
    in an API error, each id; in a page, its address."""
    try:
        detail = json.dumps(response.json().get("detail"), sort_keys=True)
    except ValueError:
        text = response.text.replace(*swap) if swap[0] else response.text
        for value in ids_used:  # "award 2 not found" in a page
            text = re.sub(rf"\b{value} not found\b", f"{MISSING} not found", text)
        return text
    for value in ids_used:
        detail = re.sub(rf"\b{value}\b", str(MISSING), detail)
    return detail


@pytest.fixture
def tenants(uow, clock, tmp_path) -> Tenants:
    return Tenants(uow, clock, tmp_path)


def api_get_routes(app: Any) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(path, action, operation) for every GET of the OpenAPI document."""
    actions = {
        path: action
        for method, path, route in app_routes(app)
        if method == "GET"
        for action in [_action(route)]
    }
    return [
        (path, actions.get(path), operations["get"])
        for path, operations in app.openapi()["paths"].items()
        if "get" in operations
    ]


def _action(route: Any) -> str | None:
    from tests.accounts.test_access import route_action

    return route_action(route)


def check_route(
    tenants: Tenants,
    call: Any,
    persona: Persona,
    path: str,
    action: str | None,
    params: list[str],
    query: dict[str, Any],
    filters: dict[str, str],
) -> list[str]:
    """Every way of calling ``path`` as ``persona``, and what it wrongly showed."""
    wrong: list[str] = []
    unrelated = [t for t in ("A", "B") if not related(persona, t, action)]
    if sees_all(persona, action):
        unrelated = []

    def url(values: dict[str, Any]) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)

    missing_values = tenants.fill(None, dict.fromkeys(params, ""))
    missing = call(url(missing_values), query) if params else None
    for tenant in ("A", "B"):
        values = tenants.fill(tenant, dict.fromkeys(params, ""))
        calls = [(url(values), query)]
        for name, kind in filters.items():
            given = (
                f"zz{tenant.lower()}-title" if kind == "title" else min(tenants.ids[tenant][kind])
            )
            calls.append((url(values), {**query, name: given}))
        for target, q in calls:
            response = call(target, q)
            if response.status_code >= 500:
                wrong.append(f"{persona.name}: GET {target} {q} -> {response.status_code}")
                continue
            body: Any = None
            if response.headers.get("content-type", "").startswith("application/json"):
                body = response.json()
            for other in unrelated:
                shown = leaks(
                    body,
                    text_of(response),
                    tenants.markers[other],
                    tenants.ids[other],
                    path,
                )
                if shown:
                    wrong.append(
                        f"{persona.name}: GET {target} {q} shows tenant {other}: {shown[:5]}"
                    )
        if missing is not None and tenant in unrelated and not may_know(persona, tenant, params):
            response = call(url(values), query)
            used = [v for k, v in values.items() if k in ID_PARAMS]
            swap = (url(values), url(missing_values))
            same = response.status_code == missing.status_code and detail_of(
                response, used, swap
            ) == detail_of(missing, [])
            if not same:
                wrong.append(
                    f"{persona.name}: GET {url(values)} -> {response.status_code} "
                    f"{detail_of(response, [])[:120]} but a missing id -> "
                    f"{missing.status_code} {detail_of(missing, [])[:120]}"
                )
    return wrong


def test_every_get_route_shows_each_role_only_what_it_may_see(tenants, api) -> None:
    routes = api_get_routes(api.app)
    assert len(routes) > 40
    wrong: list[str] = []
    for path, action, operation in routes:
        parameters = operation.get("parameters", [])
        params = [p["name"] for p in parameters if p["in"] == "path"]
        unfilled = [p for p in params if p not in ID_PARAMS and p not in SHARED_PATH]
        assert not unfilled, f"GET {path}: no value for {unfilled}: add it to this test"
        query = {}
        for p in parameters:
            if p["in"] == "query" and p.get("required"):
                assert p["name"] in REQUIRED_QUERY, f"GET {path}: no value for {p['name']}"
                query[p["name"]] = REQUIRED_QUERY[p["name"]]
        filters = {
            p["name"]: ID_FILTERS[p["name"]]
            for p in parameters
            if p["in"] == "query" and p["name"] in ID_FILTERS
        }
        for persona in tenants.personas.values():

            def call(target: str, q: dict[str, Any], headers: Any = persona.headers) -> Any:
                return api.get(target, params=q, headers=headers, follow_redirects=False)

            wrong += check_route(tenants, call, persona, path, action, params, query, filters)
    wrong = list(dict.fromkeys(wrong))
    assert not wrong, f"{len(wrong)} answers show too much:\n" + "\n".join(wrong)


def test_every_portal_page_shows_each_tenant_only_its_own(tenants, engine, clock) -> None:
    app = create_app(engine=engine, clock=clock)
    pages = [
        path
        for method, path, route in app_routes(app)
        if method == "GET" and is_portal(path, route) and path not in ("/metrics", "/readyz")
    ]
    assert len(pages) > 15
    wrong: list[str] = []
    for persona in tenants.personas.values():
        if not persona.portal:
            continue
        # Pages name no action. People without a staff role never see a tenant they are not
        # related to; staff see what their dashboards are for, and a page of one object as
        # the action that reads it says (an operator opening a project's job, not its invoice).
        staff = bool(persona.roles - {Role.APPLICANT, Role.REVIEWER})
        with tenants.uow() as ctx:
            person = ctx.db.get(Person, persona.person_id)
            assert person is not None
            email = person.email
        with TestClient(app, base_url="https://testserver") as browser:
            sign_in(browser, email)
            for path in pages:
                params = re.findall(r"\{(\w+)\}", path)
                unfilled = [p for p in params if p not in ID_PARAMS and p not in SHARED_PATH]
                assert not unfilled, f"GET {path}: no value for {unfilled}: add it to this test"
                if staff and not params:
                    continue
                action = READ_OF_PARAM[params[0]] if staff else None

                def call(target: str, q: dict[str, Any], client: Any = browser) -> Any:
                    return client.get(target, params=q, follow_redirects=False)

                wrong += check_route(tenants, call, persona, path, action, params, {}, {})
    wrong = list(dict.fromkeys(wrong))
    assert not wrong, f"{len(wrong)} pages show too much:\n" + "\n".join(wrong)


def audit_count(uow: Any) -> int:
    from sqlalchemy import func

    from aisc.audit.models import AuditEvent

    with uow() as ctx:
        return int(ctx.db.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def test_every_change_to_another_tenants_object_answers_like_a_missing_one(tenants, api, uow):
    """Writes too: another tenant's object, named in the path or in the body, is "not found"
    exactly as a missing id is, and nothing changes."""
    from tests.accounts.test_access import bodies

    body_for = bodies(tenants)
    app_b, pi_b = tenants.app_b, tenants.startup_pi
    with uow() as ctx:
        b_token = (
            ctx.db.execute(select(ApiToken.id).where(ApiToken.person_id == pi_b)).scalars().first()
        )
    # (method, path, body) with B's object in the body, then with a missing id in its place.
    by_body = [
        ("POST", "/applications", "organisation_id", tenants.startup, {}),
        (
            "POST",
            "/applications",
            "previous_application_id",
            app_b,
            {"organisation_id": tenants.uni},
        ),
        ("POST", f"/applications/{tenants.app_a}/members", "person_id", pi_b, {}),
        (
            "POST",
            "/jobs",
            "award_id",
            tenants.award_b,
            {"partition": "training", "walltime_s": 60, "command": ["true"]},
        ),
    ]
    before = audit_count(uow)
    wrong: list[str] = []
    routes = [
        (m, p, r)
        for m, p, r in app_routes(api.app)
        if p.startswith(PREFIX) and m in ("POST", "PUT", "PATCH", "DELETE") and "{" in p
    ]
    assert len(routes) > 20
    for persona in tenants.personas.values():
        for method, path, route in routes:
            action = _action(route)
            params = re.findall(r"\{(\w+)\}", path)
            if "token_id" in params:
                params.remove("token_id")
                values_b = {"token_id": b_token}
                values_missing = {"token_id": MISSING}
            else:
                values_b, values_missing = {}, {}
            unfilled = [p for p in params if p not in ID_PARAMS and p not in SHARED_PATH]
            assert not unfilled, f"{method} {path}: no value for {unfilled}: add it to this test"
            if sees_all(persona, action):
                continue
            pairs = []
            if not may_know(persona, "B", params):
                pairs.append(
                    (
                        {**values_b, **tenants.fill("B", dict.fromkeys(params, ""))},
                        {**values_missing, **tenants.fill(None, dict.fromkeys(params, ""))},
                        params,
                    )
                )
            ids_in_path = [p for p in params if p in ID_PARAMS]
            if persona.tenant == "A" and len(ids_in_path) > 1:
                # A's own object, and B's in the rest of the path (B's person on A's team).
                first, rest = ids_in_path[0], ids_in_path[1:]
                own = tenants.fill("A", {first: ""})
                pairs.append(
                    (
                        {**own, **tenants.fill("B", dict.fromkeys(rest, ""))},
                        {**own, **tenants.fill(None, dict.fromkeys(rest, ""))},
                        rest,
                    )
                )
            body = body_for.get((method, path), {} if method != "DELETE" else None)
            for values_b_, values_missing_, swapped in pairs:
                answers = []
                for values in (values_b_, values_missing_):
                    target = re.sub(r"\{(\w+)\}", lambda m, v=values: str(v[m.group(1)]), path)
                    response = api.request(method, target, json=body, headers=persona.headers)
                    ids = [v for k, v in values.items() if k in swapped or k == "token_id"]
                    answers.append((response.status_code, detail_of(response, ids), target))
                if answers[0][:2] != answers[1][:2]:
                    wrong.append(
                        f"{persona.name}: {method} {answers[0][2]} -> {answers[0][:2]} "
                        f"but {answers[1][2]} -> {answers[1][:2]}"
                    )
        for method, path, key, value, extra in by_body:
            if persona.tenant != "A":
                continue
            got: list[tuple[int, str]] = []
            for given in (value, MISSING):
                body = {**body_for.get((method, PREFIX + path), {}), **extra, key: given}
                if path == "/applications":
                    body = {**tenants.payload(**extra), key: given}
                    body.pop("created_by_id")
                response = api.request(method, PREFIX + path, json=body, headers=persona.headers)
                got.append((response.status_code, detail_of(response, [given])))
            if got[0] != got[1]:
                wrong.append(
                    f"{persona.name}: {method} {path} with {key}={value} -> {got[0]} but "
                    f"with a missing id -> {got[1]}"
                )
    assert audit_count(uow) == before, "a refused change was recorded (or made)"
    wrong = list(dict.fromkeys(wrong))
    assert not wrong, f"{len(wrong)} answers tell another tenant's object exists:\n" + "\n".join(
        wrong
    )


def test_portal_forms_on_another_tenants_object_answer_like_a_missing_one(
    tenants, engine, clock, uow
):
    from tests.portal.conftest import csrf_of

    app = create_app(engine=engine, clock=clock)
    forms = [
        path
        for method, path, route in app_routes(app)
        if method == "POST" and is_portal(path, route) and "{" in path
    ]
    assert len(forms) > 8
    wrong: list[str] = []
    for persona in tenants.personas.values():
        if not persona.portal or persona.roles - {Role.APPLICANT, Role.REVIEWER}:
            continue
        with tenants.uow() as ctx:
            person = ctx.db.get(Person, persona.person_id)
            assert person is not None
            email = person.email
        with TestClient(app, base_url="https://testserver") as browser:
            sign_in(browser, email)
            csrf = csrf_of(browser.get("/").text)
            before = audit_count(uow)  # signing in is recorded; nothing after it may be
            for path in forms:
                params = re.findall(r"\{(\w+)\}", path)
                extra = {"action": "screen"} if "action" in params else {}
                names = [p for p in params if p != "action"]
                unfilled = [p for p in names if p not in ID_PARAMS and p not in SHARED_PATH]
                assert not unfilled, f"POST {path}: no value for {unfilled}: add it to this test"
                if may_know(persona, "B", names):
                    continue
                answers, targets, used = [], [], []
                for tenant in ("B", None):
                    values = {**tenants.fill(tenant, dict.fromkeys(names, "")), **extra}
                    target = re.sub(r"\{(\w+)\}", lambda m, v=values: str(v[m.group(1)]), path)
                    targets.append(target)
                    used += [v for k, v in values.items() if k in ID_PARAMS and tenant]
                    response = browser.post(
                        target, data={"csrf_token": csrf}, follow_redirects=False
                    )
                    answers.append(response)
                swap = (targets[0], targets[1])
                if answers[0].status_code != answers[1].status_code or detail_of(
                    answers[0], used, swap
                ) != detail_of(answers[1], []):
                    wrong.append(
                        f"{persona.name}: POST {targets[0]} -> {answers[0].status_code} but "
                        f"{targets[1]} -> {answers[1].status_code}"
                    )
            assert audit_count(uow) == before, f"{persona.name}: a refused change was made"
    assert not wrong, f"{len(wrong)} forms tell another tenant's object exists:\n" + "\n".join(
        wrong
    )


def test_busy_against_reserved_shows_each_caller_only_its_awards(tenants, api) -> None:
    """The report that showed every dedicated award to anyone signed in."""

    def report(persona: str) -> dict[str, Any]:
        headers = tenants.personas[persona].headers
        response = api.get(f"{PREFIX}/billing/busy", headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    everything = report("finance")
    assert {a["award_id"] for a in everything["awards"]} == {tenants.award_a, tenants.award_b}
    assert report("operator") == report("auditor") == everything
    own = report("pi")
    assert [a["award_id"] for a in own["awards"]] == [tenants.award_a]
    assert report("read_token") == report("member") == own
    [row_a] = [a for a in everything["awards"] if a["award_id"] == tenants.award_a]
    # The totals and the months are the caller's awards only, not the centre's.
    assert own["reserved_gpu_hours"] == row_a["reserved_gpu_hours"]
    assert own["reserved_gpu_hours"] < everything["reserved_gpu_hours"]
    assert sum(m["reserved_gpu_hours"] for m in own["months"]) <= own["reserved_gpu_hours"]
    for nobody in ("reviewer", "idle_reviewer", "outsider"):
        seen = report(nobody)
        assert seen["awards"] == [], nobody
        assert seen["months"] == [], nobody
        assert seen["reserved_gpu_hours"] == seen["busy_gpu_hours"] == 0, nobody
    # The secretariat reads usage too (its dashboard charts busy % by month).
    assert report("secretariat") == everything
