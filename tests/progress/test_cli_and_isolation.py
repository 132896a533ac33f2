"""The ``aisc progress`` commands, and reports kept to their own project."""

from __future__ import annotations

import json

from aisc.progress.models import ProgressReport
from tests.accounts.centre import Centre
from tests.helpers import refused
from tests.progress.conftest import approved
from tests.progress.test_reports import GOOD

API = "/api/v1"


def test_the_progress_commands(cli, uow, world, clock, tmp_path):
    award = approved(world)
    clock.advance(days=50)
    cli("award", "accept", str(award))
    rows = json.loads(cli("progress", "list", "--award", str(award), "--json").output)
    assert [r["kind"] for r in rows] == ["progress", "progress", "final"]
    first, second = rows[0]["id"], rows[1]["id"]
    body = tmp_path / "report.json"
    body.write_text(json.dumps(GOOD))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**GOOD, "outputs": {"papers": [{"title": "x", "doi": "nope"}]}}))
    refused(cli, "progress", "submit", str(first), "--file", str(bad), "--by",
            str(world.applicant), expect=2, says="doi", uow=uow)  # fmt: skip
    refused(cli, "progress", "submit", str(first), "--file", str(body), expect=2,
            says="submitted_by_id", uow=uow)  # fmt: skip
    cli("progress", "submit", str(first), "--file", str(body), "--by", str(world.applicant))
    cli("progress", "submit", str(second), "--file", str(body), "--by", str(world.applicant))
    shown = json.loads(cli("progress", "show", str(first), "--json").output)
    assert shown["status"] == "submitted"
    assert shown["outputs"]["papers"][0]["doi"]
    cli("progress", "accept", str(first), "--note", "Good progress.")
    changed = cli("progress", "request-changes", str(second), "--note", "Name the users.", "--json")
    assert json.loads(changed.output)["status"] == "changes_requested"
    totals = json.loads(cli("progress", "outcomes", "--json").output)
    assert totals["papers"] == 1
    assert totals["models"] == 1
    assert "users_reached" in cli("progress", "outcomes", "--as-of", "2025-12-31").output
    table = cli("progress", "list", "--status", "accepted").output
    assert "accepted" in table


def test_a_member_of_another_organisation_never_sees_a_project_s_reports(uow, api, clock):
    centre = Centre(uow, clock)
    with uow() as ctx:
        from sqlalchemy import select

        report = ctx.db.scalars(
            select(ProgressReport.id).where(ProgressReport.award_id == centre.award_a)
        ).first()
    outsider = centre.personas["outsider"].headers
    member = centre.personas["member"].headers
    pi = centre.personas["pi"].headers
    path = f"{API}/progress-reports/{report}"
    hidden = api.get(path, headers=outsider)
    assert hidden.status_code == 404
    assert "Cantonese" not in hidden.text
    assert api.get(f"{API}/progress-reports", headers=outsider).json() == []
    body = {**GOOD}
    assert api.post(f"{path}/submit", json=body, headers=outsider).status_code == 404
    assert api.get(path, headers=member).status_code == 200  # the team reads it
    assert api.post(f"{path}/submit", json=body, headers=member).status_code == 403  # lead only
    assert api.post(f"{path}/accept", json={}, headers=pi).status_code == 403  # not their review
    submitted = api.post(f"{path}/submit", json=body, headers=pi)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["submitted_by_id"] == centre.applicant
    auditor = centre.personas["auditor"].headers
    assert api.get(path, headers=auditor).status_code == 200
    assert api.post(f"{path}/accept", json={}, headers=auditor).status_code == 403
