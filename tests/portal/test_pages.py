"""The portal without a browser: who sees which page, bad input on every form, CSRF, languages,
the translation catalogue. (The whole journey in Chromium is test_browser.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from aisc.access import ANONYMOUS, MATRIX, AccessDenied, Principal, check
from aisc.app import create_app
from aisc.applications import service as applications
from aisc.db.engine import make_engine
from aisc.errors import Unauthenticated
from aisc.portal.web import action_of, page_action
from aisc.review import decisions
from aisc.review import service as review
from aisc.review.schemas import DeclarationIn
from tests.accounts.test_access import app_routes
from tests.portal.conftest import audit_count, csrf_of

ROOT = Path(__file__).resolve().parents[2]
ALL = ("anonymous", "pi", "member", "outsider", "reviewer", "secretariat", "operator",
       "finance", "auditor")  # fmt: skip
STAFF_PAGES = {
    "/reviews": {"reviewer"},
    "/secretariat": {"secretariat", "auditor"},
    "/operator": {"operator", "auditor"},
    "/finance": {"finance", "auditor"},
    "/applications/new": {"pi", "member", "outsider"},
    "/charts/utilisation.svg": {"operator", "secretariat", "auditor"},
}


def test_role_pages_open_for_their_roles_only(browsers):
    wrong = []
    for path, allowed in STAFF_PAGES.items():
        for persona in ALL:
            response = browsers(persona).get(path, follow_redirects=False)
            if persona == "anonymous":
                ok = response.status_code == 303 and response.headers["location"].startswith(
                    f"/login?next={path}"
                )
            elif persona in allowed:
                ok = response.status_code == 200
            else:
                ok = response.status_code == 403 and "Not for your role" in response.text
            if not ok:
                wrong.append(f"{persona} {path} -> {response.status_code}")
    assert not wrong, "\n".join(wrong)


def portal_pages(app: Any) -> list[tuple[str, str, Any]]:
    """(method, path, route) for every route whose view is a module of the portal."""
    return [
        (method, path, route)
        for method, path, route in app_routes(app)
        if getattr(getattr(route, "endpoint", None), "__module__", "").startswith("aisc.portal.")
    ]


def test_every_portal_page_names_one_action_of_the_matrix():
    app = create_app(engine=make_engine("sqlite://"))
    pages = portal_pages(app)
    assert len(pages) > 40  # the walk found the portal's routes
    unmarked = {f"{method} {path}" for method, path, r in pages if action_of(r.endpoint) is None}
    assert not unmarked, "mark these pages with page_action(...)"
    for method, path, route in pages:
        action = action_of(route.endpoint)
        assert action is None or action in MATRIX, f"{method} {path}: {action}"
    with pytest.raises(KeyError):
        page_action("nothing.such")
    with pytest.raises(RuntimeError):
        page_action("scheme.read")(page_action("scheme.read")(lambda: None))


def _principal(persona: Any) -> Principal:
    if persona.person_id is None:
        return ANONYMOUS
    return Principal.for_person(
        person_id=persona.person_id, roles=persona.roles, organisation_ids=(), via="session"
    )


def _needs_query(route: Any) -> bool:
    """A page that cannot open without a query parameter (the language switch)."""
    return any(q.field_info.is_required() for q in route.dependant.query_params)


def test_every_page_opens_for_exactly_the_roles_the_matrix_names(browsers):
    pages = [
        (path, route.endpoint)
        for method, path, route in portal_pages(browsers.app)
        if method == "GET" and "{" not in path and action_of(route.endpoint)
        if not _needs_query(route)
    ]
    assert len(pages) >= 12
    wrong = []
    for persona in ALL:
        client = browsers(persona)
        principal = _principal(browsers.centre.personas[persona])
        for path, view in pages:
            try:
                check(principal, action_of(view))
                expected = "200"
            except Unauthenticated:
                expected = "sign in"
            except AccessDenied:
                expected = "403"
            response = client.get(path, follow_redirects=False)
            if response.status_code == 303 and response.headers["location"].startswith(
                f"/login?next={path}"
            ):
                got = "sign in"
            elif response.status_code == 403 and "Not for your role" in response.text:
                got = "403"
            else:
                got = str(response.status_code)
            if got != expected:
                wrong.append(f"{persona} {path} ({action_of(view)}): {got}, not {expected}")
    assert not wrong, "\n".join(wrong)


def test_tenant_pages_show_a_project_only_to_its_team_and_the_staff_who_read_it(browsers, centre):
    pages = {
        f"/applications/{centre.app_a}": {
            "pi",
            "member",
            "reviewer",
            "secretariat",
            "finance",
            "auditor",
        },
        f"/projects/{centre.award_a}": {
            "pi",
            "member",
            "secretariat",
            "operator",
            "finance",
            "auditor",
        },
        f"/jobs/{centre.job_a}": {"pi", "member", "operator", "auditor"},
        f"/invoices/{centre.invoice_a}": {"pi", "member", "secretariat", "finance", "auditor"},
        f"/organisations/{centre.uni}": {
            "pi",
            "member",
            "secretariat",
            "operator",
            "finance",
            "auditor",
        },
    }
    wrong = []
    for path, allowed in pages.items():
        for persona in ALL[1:]:
            response = browsers(persona).get(path)
            if persona in allowed:
                ok = response.status_code == 200
            else:  # never a page of project A for anyone else; a 404 names nothing of it
                ok = response.status_code == 404 and "Cantonese" not in response.text
            if not ok:
                wrong.append(f"{persona} {path} -> {response.status_code}")
    assert not wrong, "\n".join(wrong)
    outsider = browsers("outsider")
    assert "Cantonese" not in outsider.get("/applications").text
    assert "Cantonese" not in outsider.get("/projects").text
    assert "Legal document retrieval" not in browsers("member").get("/projects").text
    own = browsers("member").get("/projects").text
    assert "Cantonese speech model" in own


def under_review(centre) -> int:
    """A fresh application under review, with reviewer 0 assigned and declared free."""
    app_id = centre.to_review(title="Typhoon nowcasting")
    with centre.uow() as ctx:
        review.assign_reviewer(ctx, application_id=app_id, reviewer_id=centre.reviewers[0])
        review.declare(
            ctx,
            application_id=app_id,
            reviewer_id=centre.reviewers[0],
            data=DeclarationIn(conflict=False),
        )
    return app_id


def test_bad_input_on_every_form_is_named_next_to_its_field_and_saves_nothing(
    browsers, centre, uow, clock
):
    pending = under_review(centre)
    draft = centre.create(title="A draft")
    cases = [
        ("pi", "/applications/new", "/applications/new",
         {"organisation_id": str(centre.uni), "title": "", "domain": "llm",
          "compute.kind": "dedicated", "compute.gpu_model": "H800-SXM5-80GB",
          "compute.gpu_cards": "-2", "compute.months": "6"},
         ["title", "compute.gpu_cards"]),
        ("pi", f"/applications/{draft}/edit", f"/applications/{draft}/edit",
         {"title": "x" * 400, "domain": "llm", "compute.kind": "pooled",
          "compute.gpu_model": "H800-SXM5-80GB", "compute.gpu_cards": "8"},
         ["title", "compute"]),
        ("pi", f"/applications/{centre.app_a}", f"/applications/{centre.app_a}/members",
         {"email": "nobody@nowhere.example"}, ["email"]),
        ("pi", f"/organisations/{centre.uni}", f"/organisations/{centre.uni}",
         {"category": "pirates"}, ["category"]),
        ("reviewer", f"/reviews/{pending}", f"/reviews/{pending}/scores",
         {"scores.alignment.score": "11", "scores.capability.score": "x"},
         ["scores.alignment.score", "scores.capability.score"]),
        ("secretariat", f"/secretariat/applications/{pending}",
         f"/secretariat/applications/{pending}/decide",
         {"outcome": "approve", "subsidy_rate": "abc"}, ["subsidy_rate"]),
        ("secretariat", f"/secretariat/applications/{pending}",
         f"/secretariat/applications/{pending}/assign", {"reviewer_id": ""}, ["reviewer_id"]),
        ("member", f"/projects/{centre.award_a}", f"/projects/{centre.award_a}/jobs",
         {"command": "", "partition": "training", "walltime": "soon"}, ["command"]),
        ("member", f"/projects/{centre.award_a}", f"/projects/{centre.award_a}/jobs",
         {"command": "python3 -c 'print(1)'", "partition": "training", "walltime": "soon"},
         ["walltime"]),
        ("operator", "/operator", "/operator/nodes/h800-000/state", {"state": "melted"},
         ["h800-000"]),
        ("finance", "/finance", "/finance/billing", {"month": "2025-13"}, ["month"]),
        ("finance", f"/invoices/{centre.invoice_a}", f"/finance/invoices/{centre.invoice_a}/credit",
         {"amount_hkd": "lots", "reason": "x"}, ["amount_hkd"]),
    ]  # fmt: skip
    for persona, form_page, action, data, fields in cases:
        client = browsers(persona)
        token = csrf_of(client.get(form_page).text)
        before = audit_count(uow)
        response = client.post(action, data={**data, "csrf_token": token})
        assert response.status_code == 422, (action, response.status_code)
        for name in fields:
            assert f'id="e-{name}"' in response.text, (action, name)
            assert 'aria-invalid="true"' in response.text or name == "compute"
        assert audit_count(uow) == before, f"{action} saved something"


def test_a_decision_rate_is_read_exactly_as_typed(browsers, centre, uow):
    app_id = centre.reviewed(title="Exact rate")
    client = browsers("secretariat")
    case = f"/secretariat/applications/{app_id}"
    base = {"outcome": "approve", "exceptional_justification": "A national priority",
            "csrf_token": csrf_of(client.get(case).text)}  # fmt: skip
    before = audit_count(uow)
    for typed in ("70.001", "0.7e2", "12,5", "100.01"):  # refused, never rounded
        refused = client.post(f"{case}/decide", data={**base, "subsidy_rate": typed})
        assert refused.status_code == 422, typed
        assert 'id="e-subsidy_rate"' in refused.text, typed
        assert "subsidy_rate" in refused.text
    assert audit_count(uow) == before
    done = client.post(
        f"{case}/decide", data={**base, "subsidy_rate": "70.01"}, follow_redirects=False
    )
    assert done.status_code == 303, done.text[-2000:]
    with uow() as ctx:
        [decision] = decisions.list_decisions(ctx, application_id=app_id)
    assert decision.subsidy_rate_bp == 7001  # not refused through 0.7001000000000001


def test_a_conflict_is_shown_above_the_form_and_changes_nothing(browsers, centre, uow):
    client = browsers("finance")
    token = csrf_of(client.get("/finance").text)
    before = audit_count(uow)
    this_month = client.post("/finance/billing", data={"month": "2025-04", "csrf_token": token})
    assert this_month.status_code == 409
    assert "has not ended yet" in this_month.text
    assert audit_count(uow) == before
    app = browsers("pi")
    token = csrf_of(app.get(f"/applications/{centre.app_a}").text)
    again = app.post(f"/applications/{centre.app_a}/submit", data={"csrf_token": token})
    assert again.status_code == 409
    assert "Not done:" in again.text


def test_a_form_without_the_session_csrf_token_is_refused(browsers, centre, uow):
    client = browsers("pi")
    before = audit_count(uow)
    body = {"title": "Stolen", "domain": "llm", "organisation_id": str(centre.uni),
            "compute.kind": "dedicated", "compute.gpu_model": "H800-SXM5-80GB"}  # fmt: skip
    for sent in ({}, {"csrf_token": "forged"}):
        refused = client.post("/applications/new", data={**body, **sent})
        assert refused.status_code == 403
    assert audit_count(uow) == before
    assert browsers("member").post("/logout", data={}).status_code == 403


def test_the_whole_applicant_path_through_forms(browsers, centre, uow):
    client = browsers("pi")
    token = csrf_of(client.get("/applications/new").text)
    created = client.post(
        "/applications/new",
        data={
            "csrf_token": token, "organisation_id": str(centre.uni), "title": "Flood models",
            "domain": "climate", "summary": "Rain.", "hk_relevance": "Typhoons hit Hong Kong.",
            "local_rnd_staff": "4", "nonlocal_rnd_staff": "1", "compute.kind": "dedicated",
            "compute.gpu_model": "H800-SXM5-80GB", "compute.gpu_cards": "8",
            "compute.months": "3", "compute.preferred_start": "2025-07-01",
            "declarations.no_double_funding": "true", "declarations.information_true": "true",
            "declarations.consent_disclosure": "true", "declarations.legal_compliance": "true",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert created.status_code == 303
    detail = client.get(created.headers["location"])
    assert "Flood models" in detail.text
    assert "Draft saved" in detail.text
    app_id = int(created.headers["location"].split("?")[0].rsplit("/", 1)[1])
    submitted = client.post(f"/applications/{app_id}/submit",
                            data={"csrf_token": csrf_of(detail.text)})  # fmt: skip
    assert "Submitted" in submitted.text
    with uow() as ctx:
        assert applications.get_application(ctx, application_id=app_id).status.value == (
            "submitted"
        )
    estimate = client.get(
        "/estimate",
        params={"kind": "dedicated", "gpu_model": "H800-SXM5-80GB", "gpu_cards": "8",
                "months": "3", "preferred_start": "2025-07-01"},
    ).json()  # fmt: skip
    assert estimate["list_value"] == "HK$720,000.00"  # 8 x 3 x HK$30,000
    assert estimate["subsidy"] == "HK$504,000.00"
    assert estimate["own_share"] == "HK$216,000.00"
    unknown = client.get("/estimate", params={"gpu_model": "TPU", "gpu_cards": "1"}).json()
    assert unknown["list_value"] == "\u2013"
    assert "TPU" in unknown["note"]


def test_signing_in_and_out(browsers, centre, uow):
    anonymous = browsers("anonymous")
    form = anonymous.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
    empty = anonymous.post("/login", data={"email": "", "password": "", "login_token": token})
    assert empty.status_code == 422
    assert 'id="e-email"' in empty.text
    assert 'id="e-password"' in empty.text
    token = re.search(r'name="login_token" value="([^"]+)"', empty.text).group(1)
    wrong = anonymous.post(
        "/login", data={"email": "pi@uni.example", "password": "nope", "login_token": token}
    )
    assert wrong.status_code == 401
    assert "not right" in wrong.text
    stale = anonymous.post("/login", data={"email": "pi@uni.example", "password": "x",
                                           "login_token": "old"})  # fmt: skip
    assert stale.status_code == 403
    member = browsers("member")
    home = member.get("/projects")
    out = member.post("/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert member.get("/projects", follow_redirects=False).status_code == 303


def test_pages_speak_traditional_chinese_when_asked(browsers, centre):
    client = browsers("pi")
    switched = client.get("/lang", params={"to": "zh_Hant", "next": "/projects"},
                          follow_redirects=False)  # fmt: skip
    assert switched.status_code == 303
    assert switched.headers["location"] == "/projects"
    client.cookies.set("aisc_lang", "zh_Hant")
    page = client.get("/projects").text
    assert '<html lang="zh-Hant">' in page
    assert "我的項目" in page
    assert "資助餘額" in page
    assert "進行中" in page  # the award's status, translated
    assert client.get("/lang", params={"to": "klingon"}).status_code == 422
    assert client.get("/lang", params={"to": "en", "next": "https://evil.example"},
                      follow_redirects=False).headers["location"] == "/"  # fmt: skip
    client.cookies.set("aisc_lang", "en")
    anonymous = browsers("anonymous")
    hk = anonymous.get("/", headers={"Accept-Language": "zh-HK,zh;q=0.9"}).text
    assert "計劃概覽" in hk


def test_every_string_of_the_portal_is_in_the_chinese_catalogue():
    sources = ROOT / "src" / "aisc" / "portal"
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(sources), method_map, keywords=keywords
        )
    }
    catalogue_path = sources / "translations" / "zh_Hant" / "LC_MESSAGES" / "messages.po"
    with catalogue_path.open("rb") as handle:
        catalogue = {m.id: m.string for m in read_po(handle) if m.id}
    missing = sorted(m for m in found if not catalogue.get(m))
    assert not missing, "translate these in messages.po:\n" + "\n".join(missing)
    placeholders = re.compile(r"%\((\w+)\)s")
    for msgid, text in catalogue.items():
        assert sorted(placeholders.findall(str(msgid))) == sorted(
            placeholders.findall(str(text))
        ), msgid


def test_the_dashboard_shows_the_figures_officials_quote(browsers, centre):
    page = browsers("anonymous").get("/").text
    for words in ("Applications received", "Subsidy committed", "Available to commit",
                  "Average subsidy rate", "GPUs allocated"):  # fmt: skip
        assert words in page
    assert "HK$" in page


@pytest.mark.parametrize("persona", ["operator", "secretariat"])
def test_the_charts_are_svg(browsers, persona):
    chart = browsers(persona).get("/charts/utilisation.svg")
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert b"allocated %" in chart.content
    assert browsers("operator").get("/charts/capacity.svg").status_code == 200


def test_lists_are_paged(browsers, centre):
    for index in range(27):
        centre.create(title=f"Idea {index:02d}")
    first = browsers("secretariat").get("/secretariat").text
    assert 'rel="next"' in first
    second = browsers("secretariat").get("/secretariat?page=2").text
    assert 'rel="prev"' in second
    assert "Idea 26" in second
