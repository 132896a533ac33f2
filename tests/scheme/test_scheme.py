import json

import pytest

from tests.factories import World
from tests.helpers import audit_count, error_field


def test_scheme_init_defaults_reproduce_the_published_scheme(client):
    assert client.get("/api/v1/scheme").status_code == 404
    body = client.post("/api/v1/scheme", json={}).json()
    assert body["total_fund_hkd"] == "3000000000.00"
    assert body["earmarked_hkd"] == "100000000.00"
    assert body["default_rate"] == "0.7000"
    assert body["exceptional_max_rate"] == "0.9000"
    assert {c["code"]: c["weight"] for c in body["criteria"]} == {
        "alignment": 25,
        "compute_reasonableness": 20,
        "capability": 30,
        "impact": 25,
    }
    assert sorted(body["eligible_categories"]) == [
        "ai_startup",
        "enterprise",
        "public_body",
        "research_institute",
        "university",
    ]
    assert client.get("/api/v1/scheme").json() == body
    assert client.get("/api/v1/ledger/balance").json()["available_hkd"] == "2900000000.00"


def test_a_second_scheme_is_refused(client):
    client.post("/api/v1/scheme", json={})
    response = client.post("/api/v1/scheme", json={"name": "Another"})
    assert response.status_code == 409
    assert client.get("/api/v1/scheme").json()["name"] == "AI Subsidy Scheme"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"criteria": [{"code": "alignment", "name": "Alignment", "weight": 60}]}, 422, "criteria"),
        ({"default_rate": "0.8", "exceptional_max_rate": "0.75"}, 422, "exceptional_max_rate"),
        ({"start_date": "2025-01-01", "end_date": "2024-01-01"}, 422, "end_date"),
        ({"default_rate": "1.5"}, 422, "default_rate"),
        ({"total_fund_hkd": "-5"}, 422, "total_fund_hkd"),
        ({"earmarks": [{"label": "security", "amount_hkd": "4000000000"}]}, 409, "amount"),
        ({"review_quorum": 0}, 422, "review_quorum"),
        ({"unknown": 1}, 422, "unknown"),
    ],
)
def test_bad_scheme_definitions_are_refused_and_create_nothing(client, uow, body, status, field):
    response = client.post("/api/v1/scheme", json=body)
    assert response.status_code == status
    detail = response.json()["detail"]
    # A rule across fields has no field of its own today; its message starts with the field.
    assert (detail["field"] or detail["message"].removeprefix("input: Value error, ")).startswith(
        field
    )
    assert client.get("/api/v1/scheme").status_code == 404
    assert audit_count(uow) == 0


def test_update_changes_only_valid_fields_and_is_audited(client, uow):
    client.post("/api/v1/scheme", json={})
    before = audit_count(uow)
    response = client.patch("/api/v1/scheme", json={"default_rate": "0.65", "review_quorum": 3})
    assert response.status_code == 200
    assert response.json()["default_rate"] == "0.6500"
    assert audit_count(uow) == before + 1

    bad = client.patch("/api/v1/scheme", json={"exceptional_max_rate": "0.5"})
    assert bad.status_code == 422
    assert error_field(bad) == "exceptional_max_rate"
    bad = client.patch("/api/v1/scheme", json={"end_date": "2020-01-01"})
    assert bad.status_code == 422
    assert error_field(bad) == "end_date"
    assert client.get("/api/v1/scheme").json()["exceptional_max_rate"] == "0.9000"
    assert audit_count(uow) == before + 1


def test_criteria_must_sum_to_100_and_replace_as_a_whole(client):
    client.post("/api/v1/scheme", json={})
    bad = client.put(
        "/api/v1/scheme/criteria",
        json={
            "criteria": [
                {"code": "impact", "name": "Impact", "weight": 50},
                {"code": "impact", "name": "Impact again", "weight": 50},
            ]
        },
    )
    assert bad.status_code == 422
    assert "unique" in json.dumps(bad.json())
    good = client.put(
        "/api/v1/scheme/criteria",
        json={
            "criteria": [
                {"code": "impact", "name": "Impact on Hong Kong", "weight": 60},
                {"code": "feasibility", "name": "Feasibility", "weight": 40},
            ]
        },
    )
    assert good.status_code == 200
    assert [c["code"] for c in good.json()["criteria"]] == ["impact", "feasibility"]


def test_eligible_categories_can_be_narrowed(client):
    client.post("/api/v1/scheme", json={})
    response = client.put(
        "/api/v1/scheme/categories", json={"eligible_categories": ["university", "ai_startup"]}
    )
    assert response.json()["eligible_categories"] == ["ai_startup", "university"]
    assert (
        client.put(
            "/api/v1/scheme/categories", json={"eligible_categories": ["pirates"]}
        ).status_code
        == 422
    )


def test_scheme_cli(cli, tmp_path):
    assert cli("scheme", "show", expect=3).output.startswith("error: no scheme")
    spec = tmp_path / "scheme.yaml"
    spec.write_text("name: Test Scheme\ntotal_fund_hkd: 1000000\nearmarks: []\n")
    shown = json.loads(cli("scheme", "init", "--file", str(spec), "--json").output)
    assert shown["name"] == "Test Scheme"
    assert shown["total_fund_hkd"] == "1000000.00"
    assert json.loads(cli("scheme", "show", "--json").output)["name"] == "Test Scheme"

    updated = json.loads(cli("scheme", "update", "--default-rate", "0.6", "--json").output)
    assert updated["default_rate"] == "0.6000"
    refused = cli("scheme", "update", "--default-rate", "0.95", expect=2)
    assert "exceptional_max_rate" in refused.output

    rows = json.loads(cli("scheme", "criteria", "--json").output)
    assert sum(r["weight"] for r in rows) == 100
    refused = cli("scheme", "criteria", "--set", "a_b=50:Half", expect=2)
    assert "sum to 100" in refused.output
    rows = json.loads(
        cli(
            "scheme", "criteria", "--set", "impact=70:Impact", "--set", "team=30:Team", "--json"
        ).output
    )
    assert [r["code"] for r in rows] == ["impact", "team"]

    cats = json.loads(cli("scheme", "categories", "--json").output)
    assert cats["other"] is False
    assert cats["university"] is True
    cats = json.loads(cli("scheme", "categories", "--eligible", "university", "--json").output)
    assert cats["ai_startup"] is False


def test_scheme_init_cli_with_a_malformed_file_exits_2(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"default_rate": "2"}')
    assert "default_rate" in cli("scheme", "init", "--file", str(bad), expect=2).output
    bad.write_text("{not json")
    assert "not valid JSON" in cli("scheme", "init", "--file", str(bad), expect=2).output
    assert "no scheme is set up yet" in cli("scheme", "show", expect=3).output


def test_world_fixture_scheme(uow, client):
    World(uow)
    assert client.get("/api/v1/scheme").json()["review_quorum"] == 2


def test_a_scheme_runs_for_at_most_twenty_years(client, uow):
    from tests.factories import World

    World(uow)
    far = client.patch("/api/v1/scheme", json={"end_date": "9999-12-31"})
    assert far.status_code == 422
    assert far.json()["detail"]["field"] == "end_date"
    assert client.get("/api/v1/scheme").json()["end_date"] == "2027-10-06"
    assert (
        client.patch("/api/v1/scheme", json={"over_award_policy": "full_price"}).json()[
            "over_award_policy"
        ]
        == "full_price"
    )
    assert client.patch("/api/v1/scheme", json={"over_award_policy": "free"}).status_code == 422
