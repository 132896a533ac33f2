"""Input that once made the platform answer 500, replayed: each is now a clear 4xx (or a CLI exit
2) naming the field at fault, and changes nothing.

Every test runs on SQLite and on PostgreSQL (the ``engine`` fixture). "Nothing changed" is the
row count of every table, audit trail included, before and after.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from aisc.db.base import Base
from tests.factories import World
from tests.portal.conftest import browsers, centre, csrf_of  # noqa: F401 (fixtures)
from tests.portal.test_pages import under_review

H800 = "H800-SXM5-80GB"


def rows(engine: Engine) -> dict[str, int]:
    """Rows per table: what "nothing changed" compares."""
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def problem(response: Any) -> dict[str, Any]:
    """The error body of an API answer."""
    detail: dict[str, Any] = response.json()["detail"]
    return detail


def page_message(html: str) -> str:
    """The text of a portal error page, tags dropped."""
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture
def world(uow) -> World:
    return World(uow)


# --- the cost estimate, asked anonymously ---------------------------------------------------


@pytest.mark.parametrize("digits", ["²", "٣", "\uff18", "1²"])  # superscript, Arabic, full-width
def test_estimate_with_a_digit_int_cannot_read_is_refused(api, world, engine, digits):
    before = rows(engine)
    answer = api.get("/estimate", params={"gpu_model": H800, "gpu_cards": digits, "months": "6"})
    assert answer.status_code == 422
    assert answer.json()["detail"]["field"] == "gpu_cards"
    assert "gpu_cards" in answer.json()["note"]  # what the form's script shows
    assert rows(engine) == before


def test_estimate_with_a_number_of_4400_digits_is_refused(api, world, engine):
    before = rows(engine)
    answer = api.get(
        "/estimate", params={"gpu_model": H800, "gpu_cards": "8", "months": "9" * 4400}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"]["field"] == "months"
    assert rows(engine) == before


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("gpu_cards", {"kind": "dedicated", "gpu_cards": str(10**20), "months": "6"}),
        ("gpu_hours", {"kind": "pooled", "gpu_hours": str(10**20), "months": "6"}),
        ("months", {"kind": "dedicated", "gpu_cards": "8", "months": "121"}),
        ("preferred_start", {"gpu_cards": "8", "months": "6", "preferred_start": "9999-12-31"}),
    ],
)
def test_estimate_beyond_what_an_application_may_ask_is_refused(api, world, engine, field, params):
    before = rows(engine)
    answer = api.get("/estimate", params={"gpu_model": H800, **params})
    assert answer.status_code == 422
    assert answer.json()["detail"]["field"] == field
    assert rows(engine) == before
    fine = api.get("/estimate", params={"gpu_model": H800, "gpu_cards": "8", "months": "6"})
    assert fine.status_code == 200
    assert fine.json()["list_value"] == "HK$1,440,000.00"


# --- dates far in the future ----------------------------------------------------------------


def test_an_application_starting_in_9999_is_refused(client, world, engine, cli, tmp_path):
    before = rows(engine)
    body = world.payload(compute={"preferred_start": "9999-12-31"})
    refused = client.post("/api/v1/applications", json=body)
    assert refused.status_code == 422
    assert problem(refused)["field"] == "compute.preferred_start"
    assert "2100-12-31" in problem(refused)["message"]
    spec = tmp_path / "app.json"
    spec.write_text(json.dumps(body))
    out = cli("app", "create", "--file", str(spec), expect=2).output
    assert "compute.preferred_start" in out
    assert "Traceback" not in out
    assert rows(engine) == before
    # An application already in the system cannot be moved there either.
    app_id = world.create()
    before = rows(engine)
    compute = {**body["compute"], "preferred_start": "9999-12-31"}
    moved = client.patch(f"/api/v1/applications/{app_id}", json={"compute": compute})
    assert moved.status_code == 422
    assert problem(moved)["field"] == "compute.preferred_start"
    assert rows(engine) == before
    shown = client.get(f"/api/v1/applications/{app_id}").json()
    assert shown["compute"]["preferred_start"] == "2025-03-01"
    # ... so it can still be screened and checked for capacity.
    assert client.post(f"/api/v1/applications/{app_id}/submit").status_code == 200
    assert client.post(f"/api/v1/applications/{app_id}/screen").status_code == 200
    assert client.get(f"/api/v1/applications/{app_id}/capacity-check").status_code == 200
    assert cli("app", "screen", str(app_id), expect=None).exit_code in (0, 4)


def test_a_decision_granting_a_start_in_9999_is_refused(client, world, engine, cli, tmp_path):
    app_id = world.reviewed()
    before = rows(engine)
    body = {"outcome": "approve", "grant": {"start": "9999-12-01"}}
    refused = client.post(f"/api/v1/applications/{app_id}/decision", json=body)
    assert refused.status_code == 422
    assert problem(refused)["field"] == "grant.start"
    out = cli("review", "decide", str(app_id), "--outcome", "approve", "--start", "9999-12-01",
              expect=2).output  # fmt: skip
    assert "grant.start" in out
    assert rows(engine) == before
    assert client.get(f"/api/v1/applications/{app_id}").json()["status"] == "under_review"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cluster/capacity?as_of=9999-12-31",
        "/api/v1/cluster/utilisation?as_of=9999-12-31",
        "/api/v1/scheme/stats?as_of=0001-01-01",
        "/api/v1/price-lists/in-force?on=9999-12-31",
        "/api/v1/billing/busy?as_of=9999-12-31",
        "/api/v1/billing/reconciliation?month=9999-12",
        "/api/v1/audit/events?since=9999-12-31T00:00:00",
    ],
)
def test_a_date_outside_the_calendar_in_a_query_is_refused(client, world, engine, path):
    before = rows(engine)
    answer = client.get(path)
    assert answer.status_code == 422, answer.text
    name = path.split("?")[1].split("=")[0]
    assert problem(answer)["field"] == name
    assert rows(engine) == before


@pytest.mark.parametrize(
    "args",
    [
        ["cluster", "capacity", "--as-of", "9999-12-31"],
        ["scheme", "stats", "--as-of", "9999-12-31"],
        ["billing", "busy", "--as-of", "1900-01-01"],
        ["billing", "reconcile", "--month", "9999-12"],
    ],
)
def test_a_date_outside_the_calendar_on_the_command_line_exits_2(cli, world, engine, args):
    before = rows(engine)
    out = cli(*args, expect=2).output
    assert "Traceback" not in out
    assert ("as-of" in out or "as_of" in out) or "month" in out
    assert rows(engine) == before


def test_an_id_beyond_the_database_on_the_command_line_exits_2(cli, world, engine):
    before = rows(engine)
    for args in (["app", "show", str(10**20)], ["app", "show", str(2**40)],
                 ["jobs", "list", "--limit", str(10**20)]):  # fmt: skip
        result = cli(*args, expect=None)
        assert result.exit_code in (2, 3), (args, result.output)  # 3: no such id (SQLite)
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert "out of range" in result.output
    assert rows(engine) == before


# --- NUL and other control characters in portal forms ----------------------------------------


def _post(client: Any, form_page: str, action: str, data: dict[str, str]) -> Any:
    token = csrf_of(client.get(form_page).text)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False)


def test_a_nul_in_a_declaration_note_is_refused(browsers, centre, engine, uow):  # noqa: F811
    app_id = centre.to_review(title="Typhoon nowcasting")
    from aisc.review import service as review

    with uow() as ctx:
        review.assign_reviewer(ctx, application_id=app_id, reviewer_id=centre.reviewers[0])
    reviewer = browsers("reviewer")  # signed in before the count
    before = rows(engine)
    refused = _post(reviewer, f"/reviews/{app_id}", f"/reviews/{app_id}/declaration",
                    {"conflict": "no", "note": "free of\x00 conflicts"})  # fmt: skip
    assert refused.status_code == 422
    assert "note" in page_message(refused.text)
    assert "NUL" in page_message(refused.text)
    assert rows(engine) == before


def test_a_nul_in_the_sign_in_e_mail_is_refused(browsers, centre, engine):  # noqa: F811
    anonymous = browsers("anonymous")
    token = re.search(r'name="login_token" value="([^"]+)"', anonymous.get("/login").text)
    assert token is not None
    before = rows(engine)
    refused = anonymous.post("/login", data={"email": "pi@uni.example\x00", "password": "x",
                                             "login_token": token.group(1)})  # fmt: skip
    assert refused.status_code == 422
    assert "email" in page_message(refused.text)
    assert rows(engine) == before


def test_a_nul_in_a_member_e_mail_is_refused(browsers, centre, engine):  # noqa: F811
    pi = browsers("pi")
    before = rows(engine)
    app_page = f"/applications/{centre.app_a}"
    refused = _post(pi, app_page, f"{app_page}/members",
                    {"email": "member@uni.example\x00"})  # fmt: skip
    assert refused.status_code == 422
    assert "email" in page_message(refused.text)
    assert rows(engine) == before


def test_a_nul_in_a_credit_note_reason_is_refused(browsers, centre, engine):  # noqa: F811
    finance = browsers("finance")
    before = rows(engine)
    invoice = f"/invoices/{centre.invoice_a}"
    refused = _post(finance, invoice, f"/finance/invoices/{centre.invoice_a}/credit",
                    {"amount_hkd": "100", "reason": "goodwill\x00"})  # fmt: skip
    assert refused.status_code == 422
    assert "reason" in page_message(refused.text)
    assert rows(engine) == before


def test_other_control_characters_in_forms_and_bodies_are_refused(
    browsers,  # noqa: F811
    centre,  # noqa: F811
    engine,
    api,
):
    finance = browsers("finance")
    before = rows(engine)
    invoice = f"/invoices/{centre.invoice_a}"
    refused = _post(finance, invoice, f"/finance/invoices/{centre.invoice_a}/credit",
                    {"amount_hkd": "100", "reason": "goodwill\x1b[2J"})  # fmt: skip
    assert refused.status_code == 422
    assert "U+001B" in page_message(refused.text)
    body = {"name": "Bell\x07 Labs", "category": "university"}
    headers = centre.personas["pi"].headers
    answer = api.post("/api/v1/organisations", json=body, headers=headers)
    assert answer.status_code == 422
    assert problem(answer)["field"] == "name" or "name" in problem(answer)["message"]
    assert rows(engine) == before
    # Tabs and line breaks are text, not controls.
    fine = _post(browsers("finance"), invoice, f"/finance/invoices/{centre.invoice_a}/credit",
                 {"amount_hkd": "1", "reason": "two\r\nlines\tand a tab"})  # fmt: skip
    assert fine.status_code == 303


def test_a_body_nested_beyond_reason_is_refused(api, centre, engine):  # noqa: F811
    before = rows(engine)
    deep: Any = "x"
    for _ in range(200):
        deep = {"a": deep}
    body = {"award_id": centre.award_a, "partition": "training", "walltime_s": 60,
            "command": ["true"], "environment": deep}  # fmt: skip
    answer = api.post("/api/v1/jobs", json=body, headers=centre.personas["pi"].headers)
    assert answer.status_code == 422
    assert "nested more than 32 levels" in problem(answer)["message"]
    assert rows(engine) == before


# --- numbers in the portal's paths, pages and forms -------------------------------------------


@pytest.mark.parametrize(
    ("persona", "path", "field"),
    [
        ("secretariat", "/secretariat/applications/99999999999999999999", "application_id"),
        ("pi", "/applications/99999999999999999999", "application_id"),
        ("pi", "/projects/99999999999999999999", "award_id"),
        ("pi", "/jobs/99999999999999999999", "job_id"),
        ("finance", "/invoices/99999999999999999999", "invoice_id"),
        ("secretariat", "/secretariat?page=99999999999999999999", "page"),
        ("secretariat", "/secretariat?page=²", "page"),
        ("finance", "/finance?ledger=" + "9" * 4400, "ledger"),
        ("pi", "/applications?page=٣", "page"),
    ],
)
def test_numbers_no_database_can_hold_are_refused_in_portal_urls(
    browsers,  # noqa: F811
    centre,  # noqa: F811
    engine,
    persona,
    path,
    field,
):
    client = browsers(persona)
    before = rows(engine)
    answer = client.get(path)
    assert answer.status_code == 422
    assert field in page_message(answer.text)
    assert rows(engine) == before


def test_a_credit_of_infinity_and_a_reviewer_of_digits_int_cannot_read_are_refused(
    browsers,  # noqa: F811
    centre,  # noqa: F811
    engine,
):
    pending = under_review(centre)
    browsers("finance"), browsers("secretariat")  # signed in before the count
    before = rows(engine)
    invoice = f"/invoices/{centre.invoice_a}"
    for amount in ("Infinity", "1e400", "NaN"):
        refused = _post(browsers("finance"), invoice,
                        f"/finance/invoices/{centre.invoice_a}/credit",
                        {"amount_hkd": amount, "reason": "x"})  # fmt: skip
        assert refused.status_code == 422
        assert 'id="e-amount_hkd"' in refused.text
    case = f"/secretariat/applications/{pending}"
    for reviewer in ("²", "9" * 30):
        refused = _post(browsers("secretariat"), case, f"{case}/assign", {"reviewer_id": reviewer})
        assert refused.status_code == 422
        assert 'id="e-reviewer_id"' in refused.text
    assert rows(engine) == before


# --- the inventory import ---------------------------------------------------------------------


def test_an_inventory_nested_5000_deep_is_refused(client, world, engine, cli, tmp_path):
    before = rows(engine)
    for content in ("nodes: " + "[" * 5000 + "]" * 5000,
                    "nodes:\n" + "".join(" " * i + "- \n" for i in range(1, 5000))):  # fmt: skip
        refused = client.post("/api/v1/cluster/import", json={"format": "yaml", "content": content})
        assert refused.status_code == 422
        assert problem(refused)["field"] == "file"
        assert "nested" in problem(refused)["message"]
        deep = tmp_path / "deep.yaml"
        deep.write_text(content)
        out = cli("cluster", "import", str(deep), expect=2).output
        assert "nested" in out
    assert rows(engine) == before


def test_an_inventory_of_aliases_expanding_without_end_is_refused(client, world, engine):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(
            f"l{i}: &l{i} [" + ", ".join([f"*{'a' if i == 1 else f'l{i - 1}'}"] * 10) + "]"
        )
    lines.append("nodes: [{name: n1, extra: *l8}]")
    before = rows(engine)
    refused = client.post(
        "/api/v1/cluster/import", json={"format": "yaml", "content": "\n".join(lines)}
    )
    assert refused.status_code == 422
    assert problem(refused)["field"] == "file"
    assert "expands" in problem(refused)["message"]
    assert rows(engine) == before
