import json

import pytest

from tests.factories import World
from tests.helpers import audit_count, error_field

API = "/api/v1/applications"
CODES = ["alignment", "compute_reasonableness", "capability", "impact"]


def scores(*values, comment=""):
    return {
        "scores": {c: {"score": v} for c, v in zip(CODES, values, strict=True)},
        "comment": comment,
    }


@pytest.fixture
def world(uow):
    return World(uow)


def assign(client, app_id, reviewer):
    return client.post(f"{API}/{app_id}/reviewers", json={"reviewer_id": reviewer})


def declare(client, app_id, reviewer, conflict=False):
    return client.put(
        f"{API}/{app_id}/reviews/{reviewer}/declaration",
        json={"conflict": conflict, "note": "x" if conflict else ""},
    )


def score(client, app_id, reviewer, *values):
    return client.put(f"{API}/{app_id}/reviews/{reviewer}/scores", json=scores(*values))


def decide(client, app_id, world, **body):
    return client.post(
        f"{API}/{app_id}/decision", json={"decided_by_id": world.secretariat, **body}
    )


def test_weighted_totals_per_review_and_per_application(client, world):
    app_id = world.to_review()
    r1, r2, r3 = world.reviewers
    for r in (r1, r2, r3):
        assert assign(client, app_id, r).status_code == 201
    declare(client, app_id, r1)
    declare(client, app_id, r2)
    declare(client, app_id, r3, conflict=True)
    # (8*25 + 6*20 + 7*30 + 9*25) / 10 = 75.5 ; (6*25 + 6*20 + 6*30 + 6*25) / 10 = 60
    assert score(client, app_id, r1, 8, 6, 7, 9).json()["weighted_total"] == "75.50"
    assert score(client, app_id, r2, 6, 6, 6, 6).json()["weighted_total"] == "60.00"
    summary = client.get(f"{API}/{app_id}/reviews", params={"viewer_id": world.secretariat}).json()
    assert summary["completed_reviews"] == 2
    assert summary["weighted_total"] == "67.75"
    assert summary["quorum"] == 2
    queue = client.get(f"/api/v1/reviewers/{r1}/queue").json()
    assert [q["application_id"] for q in queue] == [app_id]


def test_conflicts_block_scoring_and_seeing_scores(client, world, uow):
    app_id = world.to_review()
    r1, r2, _ = world.reviewers
    assign(client, app_id, r1)
    assign(client, app_id, r2)
    undeclared = score(client, app_id, r1, 5, 5, 5, 5)
    assert undeclared.status_code == 409
    assert error_field(undeclared) == "conflict"
    peek = client.get(f"{API}/{app_id}/reviews", params={"viewer_id": r1})
    assert peek.status_code == 403
    declare(client, app_id, r1, conflict=True)
    assert score(client, app_id, r1, 5, 5, 5, 5).status_code == 403
    assert client.get(f"{API}/{app_id}/reviews", params={"viewer_id": r1}).status_code == 403
    assert declare(client, app_id, r1, conflict=False).status_code == 409
    declare(client, app_id, r2)
    score(client, app_id, r2, 7, 7, 7, 7)
    seen = client.get(f"{API}/{app_id}/reviews", params={"viewer_id": r2}).json()
    assert seen["completed_reviews"] == 1
    outsider = client.get(f"{API}/{app_id}/reviews", params={"viewer_id": world.applicant})
    assert outsider.status_code == 403
    before = audit_count(uow)
    # A conflict found after scoring withdraws the scores.
    declare(client, app_id, r2, conflict=True)
    summary = client.get(f"{API}/{app_id}/reviews", params={"viewer_id": world.secretariat})
    assert summary.json()["completed_reviews"] == 0
    assert audit_count(uow) == before + 1


def test_assignment_rules(client, world):
    app_id = world.to_review()
    assert assign(client, app_id, world.applicant).status_code == 403  # not a reviewer
    assert assign(client, app_id, world.insider).status_code == 409  # member of the applicant
    assert assign(client, app_id, world.reviewers[0]).status_code == 201
    assert assign(client, app_id, world.reviewers[0]).status_code == 409
    assert assign(client, app_id, 999).status_code == 404
    draft = world.create(title="Still a draft")
    assert assign(client, draft, world.reviewers[1]).status_code == 409
    assert declare(client, app_id, world.reviewers[2]).status_code == 404


def test_scores_must_cover_exactly_the_criteria_in_range(client, world, uow):
    app_id = world.to_review()
    r1 = world.reviewers[0]
    assign(client, app_id, r1)
    declare(client, app_id, r1)
    before = audit_count(uow)
    partial = client.put(
        f"{API}/{app_id}/reviews/{r1}/scores", json={"scores": {"alignment": {"score": 5}}}
    )
    assert partial.status_code == 422
    assert error_field(partial) == "scores.compute_reasonableness"
    extra = scores(5, 5, 5, 5)
    extra["scores"]["vibes"] = {"score": 3}
    assert (
        error_field(client.put(f"{API}/{app_id}/reviews/{r1}/scores", json=extra)) == "scores.vibes"
    )
    out_of_range = client.put(f"{API}/{app_id}/reviews/{r1}/scores", json=scores(11, 5, 5, 5))
    assert out_of_range.status_code == 422
    assert audit_count(uow) == before


def test_approval_prices_the_grant_and_commits_the_cap(client, world):
    app_id = world.reviewed()
    response = decide(client, app_id, world, outcome="approve")
    assert response.status_code == 201
    decision = response.json()
    assert decision["list_value_hkd"] == "2880000.00"  # 16 cards x 6 months x 30,000
    assert decision["subsidy_rate"] == "0.7000"
    assert decision["subsidy_cap_hkd"] == "2016000.00"
    assert decision["price_list_version"] == "v1"
    award = client.get(f"/api/v1/awards/{decision['award_id']}").json()
    assert award["status"] == "offered"
    assert award["committed_hkd"] == "2016000.00"
    assert award["end_date"] == "2025-09-01"
    assert client.get(f"{API}/{app_id}").json()["status"] == "approved"
    entries = client.get("/api/v1/ledger/entries", params={"kind": "commitment"}).json()
    assert [(e["award_id"], e["amount_hkd"]) for e in entries] == [(award["id"], "2016000.00")]
    assert client.get(f"{API}/{app_id}/decisions").json() == [decision]


def test_the_committee_may_grant_less_than_requested_but_not_more(client, world):
    app_id = world.reviewed()
    more = decide(client, app_id, world, outcome="approve", grant={"gpu_cards": 32})
    assert more.status_code == 422
    assert error_field(more) == "grant.gpu_cards"
    less = decide(client, app_id, world, outcome="approve", grant={"gpu_cards": 8, "months": 3})
    assert less.json()["list_value_hkd"] == "720000.00"
    assert less.json()["subsidy_cap_hkd"] == "504000.00"


def test_pooled_requests_are_priced_per_gpu_hour(client, world):
    app_id = world.reviewed(compute={"kind": "pooled", "gpu_cards": None, "gpu_hours": 5000})
    decision = decide(client, app_id, world, outcome="approve").json()
    assert decision["list_value_hkd"] == "225000.00"  # 5,000 GPU-hours x 45
    assert decision["subsidy_cap_hkd"] == "157500.00"
    assert decision["granted_gpu_hours"] == 5000


def test_rates_above_70_percent_need_a_justification_and_never_exceed_90(client, world, uow):
    app_id = world.reviewed()
    before = audit_count(uow)
    no_reason = decide(client, app_id, world, outcome="approve", subsidy_rate="0.85")
    assert no_reason.status_code == 422
    assert error_field(no_reason) == "exceptional_justification"
    too_high = decide(
        client,
        app_id,
        world,
        outcome="approve",
        subsidy_rate="0.95",
        exceptional_justification="unique",
    )
    assert too_high.status_code == 422
    assert error_field(too_high) == "subsidy_rate"
    assert audit_count(uow) == before
    assert client.get(f"{API}/{app_id}").json()["status"] == "under_review"
    ok = decide(
        client,
        app_id,
        world,
        outcome="approve",
        subsidy_rate="0.85",
        exceptional_justification="First local model of its kind.",
    ).json()
    assert ok["subsidy_cap_hkd"] == "2448000.00"
    assert ok["exceptional_justification"] == "First local model of its kind."


def test_a_decision_needs_the_quorum_and_a_secretariat_officer(client, world):
    app_id = world.to_review()
    r1 = world.reviewers[0]
    assign(client, app_id, r1)
    declare(client, app_id, r1)
    score(client, app_id, r1, 8, 8, 8, 8)
    short = decide(client, app_id, world, outcome="approve")
    assert short.status_code == 409
    assert "2 completed reviews" in short.json()["detail"]["message"]
    by_reviewer = client.post(
        f"{API}/{app_id}/decision", json={"outcome": "approve", "decided_by_id": r1}
    )
    assert by_reviewer.status_code == 403
    assert client.get("/api/v1/awards").json() == []


def test_rejections_and_deferrals_need_reasons_tied_to_criteria_or_rules(client, world):
    app_id = world.reviewed(scores=3)
    assert error_field(decide(client, app_id, world, outcome="reject")) == "reasons"
    bad_code = decide(
        client, app_id, world, outcome="reject", reasons=[{"code": "mood", "text": "no"}]
    )
    assert error_field(bad_code) == "reasons[0].code"
    deferred = decide(
        client,
        app_id,
        world,
        outcome="defer",
        reasons=[{"code": "capability", "text": "await evidence"}],
    )
    assert deferred.status_code == 201
    assert client.get(f"{API}/{app_id}").json()["status"] == "deferred"
    assert client.post(f"{API}/{app_id}/reopen").json()["status"] == "under_review"
    rejected = decide(
        client,
        app_id,
        world,
        outcome="reject",
        reasons=[{"code": "alignment", "text": "little HK relevance"}],
    )
    assert rejected.json()["reasons"] == [{"code": "alignment", "text": "little HK relevance"}]
    assert rejected.json()["award_id"] is None
    assert len(client.get(f"{API}/{app_id}/decisions").json()) == 2
    again = decide(client, app_id, world, outcome="approve")
    assert again.status_code == 409


def test_rejection_at_screening_needs_no_reviews(client, world):
    app_id = world.create(local_rnd_staff=0)
    client.post(f"{API}/{app_id}/submit")
    client.post(f"{API}/{app_id}/screen")
    approve = decide(client, app_id, world, outcome="approve")
    assert approve.status_code == 409
    rejected = decide(
        client,
        app_id,
        world,
        outcome="reject",
        reasons=[{"code": "no_local_rnd_staff", "text": "No local team."}],
    )
    assert rejected.status_code == 201
    assert client.get(f"{API}/{app_id}").json()["status"] == "rejected"


def test_approval_with_conditions_records_them(client, world):
    app_id = world.reviewed()
    assert (
        error_field(decide(client, app_id, world, outcome="approve_with_conditions"))
        == "conditions"
    )
    decision = decide(
        client,
        app_id,
        world,
        outcome="approve_with_conditions",
        conditions=["Quarterly progress reports"],
    ).json()
    assert decision["conditions"] == ["Quarterly progress reports"]
    assert client.get(f"{API}/{app_id}").json()["status"] == "approved_with_conditions"


def test_approval_is_refused_when_the_fund_is_short_and_nothing_changes(client, uow):
    world = World(uow, total_fund_hkd="3000000", earmarks=[])
    first = world.reviewed()
    second = world.reviewed(title="Another project")
    assert decide(client, first, world, outcome="approve").status_code == 201
    before = audit_count(uow)
    refused = decide(client, second, world, outcome="approve")
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "insufficient_funds"
    assert "HK$984,000.00" in refused.json()["detail"]["message"]
    assert client.get(f"{API}/{second}").json()["status"] == "under_review"
    assert len(client.get("/api/v1/awards").json()) == 1
    assert client.get(f"{API}/{second}/decisions").json() == []
    assert audit_count(uow) == before
    smaller = decide(client, second, world, outcome="approve", grant={"gpu_cards": 7})
    assert smaller.status_code == 201  # 7 x 6 x 30,000 x 0.7 = 882,000 fits in 984,000


def test_review_cli(cli, world, tmp_path):
    app_id = str(world.to_review())
    r1, r2, _ = (str(r) for r in world.reviewers)
    for r in (r1, r2):
        cli("review", "assign", app_id, "--reviewer", r)
        cli("review", "declare", app_id, "--reviewer", r, "--no-conflict")
    assert cli(
        "review", "score", app_id, "--reviewer", r1, "--score", "alignment=8", expect=2
    ).output.startswith("error: scores: criterion")
    bare = cli("review", "score", app_id, "--reviewer", r1, "--score", "alignment", expect=2)
    assert "--score 'alignment': expected CRITERION=N" in bare.output
    assert json.loads(cli("review", "queue", r1, "--json").output)[0]["scores"] == []
    for r in (r1, r2):
        done = json.loads(
            cli(
                "review",
                "score",
                app_id,
                "--reviewer",
                r,
                *[f"--score={c}=9" for c in CODES],
                "--json",
            ).output
        )
        assert done["weighted_total"] == "90.00"
    summary = json.loads(
        cli("review", "show", app_id, "--viewer", str(world.secretariat), "--json").output
    )
    assert summary["completed_reviews"] == 2
    assert "weighted total 90.00" in cli("review", "show", app_id, "--viewer", r1).output
    hidden = cli("review", "show", app_id, "--viewer", str(world.applicant), expect=5)
    assert "only the secretariat, the auditor and assigned reviewers" in hidden.output
    assert len(json.loads(cli("review", "queue", r1, "--json").output)) == 1

    refused = cli(
        "review",
        "decide",
        app_id,
        "--outcome",
        "approve",
        "--by",
        str(world.secretariat),
        "--rate",
        "0.9",
        expect=2,
    )
    assert "exceptional_justification" in refused.output
    bad_start = cli(
        "review", "decide", app_id, "--outcome", "approve", "--by", str(world.secretariat),
        "--start", "next week", expect=2,
    )  # fmt: skip
    assert "start" in bad_start.output
    decision = json.loads(
        cli(
            "review",
            "decide",
            app_id,
            "--outcome",
            "approve",
            "--by",
            str(world.secretariat),
            "--cards",
            "8",
            "--json",
        ).output
    )
    assert decision["subsidy_cap_hkd"] == "1008000.00"
    assert (
        json.loads(cli("review", "decisions", app_id, "--json").output)[0]["id"] == decision["id"]
    )

    other = str(world.reviewed(title="File-based decision"))
    spec = tmp_path / "decision.yaml"
    spec.write_text(
        f"outcome: reject\ndecided_by_id: {world.secretariat}\n"
        "reasons:\n  - code: impact\n    text: Unclear deliverables\n"
    )
    assert (
        json.loads(cli("review", "decide", other, "--file", str(spec), "--json").output)["outcome"]
        == "reject"
    )
    assert cli(
        "review",
        "decide",
        other,
        "--outcome",
        "reject",
        "--by",
        "1",
        "--reason",
        "no-colon",
        expect=2,
    )
