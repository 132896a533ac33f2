"""Attacks on the priority tiers, replayed: each must fail.

Any project member picked ``qos: hero`` or ``debug`` (the top tiers) with no limit. Now the
privileged tiers are granted per award (secretariat or operator), optionally limited and
expiring; the gateway refuses an ungranted tier naming ``qos`` and the tiers the award holds,
and the Slurm sync gives each award account exactly its granted tiers' QOS.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from aisc.accounts import auth
from aisc.awards import service as awards
from aisc.jobs.models import Job, JobQos
from aisc.slurm.desired import desired_state, slurm_qos
from aisc.slurm.plan import Actual, plan
from tests.factories import World
from tests.helpers import audit_count, error_field, refused

API = "/api/v1"


class Projects(World):
    """Two active awards: A (Harbour University's PI) and B (Lantau Models' PI)."""

    def __init__(self, uow: Any, clock: Any) -> None:
        super().__init__(uow)
        self.app_a = self.reviewed()
        self.approve(self.app_a)
        self.app_b = self.reviewed(
            organisation_id=self.startup, created_by_id=self.startup_pi, title="Legal retrieval"
        )
        self.approve(self.app_b)
        clock.advance(days=60)  # into the allocations' period
        with uow() as ctx:
            found = {a.application_id: a.id for a in awards.list_awards(ctx)}
            self.award_a, self.award_b = found[self.app_a], found[self.app_b]
            for award_id in (self.award_a, self.award_b):
                awards.accept(ctx, award_id=award_id)
        self.headers = {
            name: bearer(uow, person)
            for name, person in (
                ("pi_a", self.applicant),
                ("pi_b", self.startup_pi),
                ("secretariat", self.secretariat),
                ("reviewer", self.reviewers[0]),
            )
        }

    def job(self, award_id: int, qos: str, walltime_s: int = 600, gpus: int = 1) -> dict[str, Any]:
        return {
            "award_id": award_id,
            "partition": "training",
            "gpus_per_node": gpus,
            "walltime_s": walltime_s,
            "command": ["true"],
            "qos": qos,
        }


def bearer(uow: Any, person_id: int) -> dict[str, str]:
    with uow() as ctx:
        secret, _ = auth.create_token(ctx, person_id=person_id, name="t", scopes=["read", "write"])
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def projects(uow, clock) -> Projects:
    return Projects(uow, clock)


def job_count(uow: Any) -> int:
    with uow() as ctx:
        return int(ctx.db.execute(select(func.count()).select_from(Job)).scalar_one())


def test_a_member_cannot_pick_a_tier_its_award_was_not_granted(api, uow, projects):
    pi = projects.headers["pi_a"]
    before, events = job_count(uow), audit_count(uow)
    for tier in ("hero", "debug"):
        refused = api.post(f"{API}/jobs", json=projects.job(projects.award_a, tier), headers=pi)
        assert refused.status_code == 403, refused.text
        assert error_field(refused) == "qos"
        message = refused.json()["detail"]["message"]
        assert "scavenger, overburn, standard" in message
        assert repr(tier) in message
    assert (job_count(uow), audit_count(uow)) == (before, events)
    for tier in ("scavenger", "overburn", "standard"):
        ok = api.post(f"{API}/jobs", json=projects.job(projects.award_a, tier), headers=pi)
        assert ok.status_code == 201, ok.text
    shown = api.get(f"{API}/awards/{projects.award_a}/qos", headers=pi).json()
    assert shown["tiers"] == ["scavenger", "overburn", "standard"]
    assert shown["grants"] == []
    # Granting is not the project's to do.
    grab = api.post(f"{API}/awards/{projects.award_a}/qos", json={"qos": "hero"}, headers=pi)
    assert grab.status_code == 403
    assert (
        api.get(
            f"{API}/awards/{projects.award_a}/qos", headers=projects.headers["pi_b"]
        ).status_code
        == 404
    )


def test_a_grant_gives_one_award_one_tier_within_its_limit(api, uow, projects, clock):
    secretariat, pi_a, pi_b = (projects.headers[k] for k in ("secretariat", "pi_a", "pi_b"))
    granted = api.post(
        f"{API}/awards/{projects.award_a}/qos",
        json={"qos": "hero", "gpu_hours": 1, "reason": "conference deadline"},
        headers=secretariat,
    )
    assert granted.status_code == 201, granted.text
    grant = granted.json()
    assert (grant["qos"], grant["gpu_hours"], grant["in_force"]) == ("hero", 1, True)
    assert api.get(f"{API}/awards/{projects.award_a}/qos", headers=pi_a).json()["tiers"] == [
        "scavenger", "overburn", "standard", "hero",
    ]  # fmt: skip

    first = api.post(f"{API}/jobs", json=projects.job(projects.award_a, "hero", 1800), headers=pi_a)
    assert first.status_code == 201, first.text
    assert first.json()["qos"] == "hero"
    over = api.post(f"{API}/jobs", json=projects.job(projects.award_a, "hero", 3600), headers=pi_a)
    assert (over.status_code, error_field(over)) == (409, "qos")
    assert "0.5 GPU-hours left" in over.json()["detail"]["message"]
    # The grant is award A's hero only: not debug, not award B.
    debug = api.post(f"{API}/jobs", json=projects.job(projects.award_a, "debug"), headers=pi_a)
    assert debug.status_code == 403
    other = api.post(f"{API}/jobs", json=projects.job(projects.award_b, "hero"), headers=pi_b)
    assert (other.status_code, error_field(other)) == (403, "qos")
    # One grant per tier at a time; standard tiers need none; expiry must be ahead.
    twice = api.post(
        f"{API}/awards/{projects.award_a}/qos", json={"qos": "hero"}, headers=secretariat
    )
    assert twice.status_code == 409
    standard = api.post(
        f"{API}/awards/{projects.award_a}/qos", json={"qos": "standard"}, headers=secretariat
    )
    assert (standard.status_code, error_field(standard)) == (422, "qos")
    past = api.post(
        f"{API}/awards/{projects.award_a}/qos",
        json={"qos": "debug", "expires_on": "2020-01-01"},
        headers=secretariat,
    )
    assert (past.status_code, error_field(past)) == (422, "expires_on")

    revoked = api.post(
        f"{API}/awards/{projects.award_a}/qos/{grant['id']}/revoke",
        json={"reason": "deadline passed"},
        headers=secretariat,
    )
    assert revoked.status_code == 200
    assert revoked.json()["in_force"] is False
    after = api.post(f"{API}/jobs", json=projects.job(projects.award_a, "hero", 60), headers=pi_a)
    assert after.status_code == 403
    again = api.post(
        f"{API}/awards/{projects.award_a}/qos/{grant['id']}/revoke", json={}, headers=secretariat
    )
    assert again.status_code == 409
    wrong_award = api.post(
        f"{API}/awards/{projects.award_b}/qos/{grant['id']}/revoke", json={}, headers=secretariat
    )
    assert wrong_award.status_code == 404


def test_a_grant_expires(api, uow, projects, clock):
    tomorrow = (clock().date() + timedelta(days=1)).isoformat()
    granted = api.post(
        f"{API}/awards/{projects.award_a}/qos",
        json={"qos": "debug", "expires_on": tomorrow},
        headers=projects.headers["secretariat"],
    )
    assert granted.status_code == 201
    pi = projects.headers["pi_a"]
    assert (
        api.post(
            f"{API}/jobs", json=projects.job(projects.award_a, "debug"), headers=pi
        ).status_code
        == 201
    )
    clock.advance(days=2)
    late = api.post(f"{API}/jobs", json=projects.job(projects.award_a, "debug"), headers=pi)
    assert (late.status_code, error_field(late)) == (403, "qos")


def test_the_cli_grants_lists_and_revokes(cli, projects):
    award = str(projects.award_a)
    made = json.loads(
        cli("award", "qos", "grant", award, "debug", "--gpu-hours", "5", "--json").output
    )
    assert (made["qos"], made["gpu_hours"], made["granted_by"]) == ("debug", 5, made["granted_by"])
    listed = json.loads(cli("award", "qos", "list", award, "--json").output)
    assert listed["tiers"][-1] == "debug"
    assert "debug" in cli("award", "qos", "list", award).output
    gone = json.loads(cli("award", "qos", "revoke", award, str(made["id"]), "--json").output)
    assert gone["in_force"] is False
    held = cli("award", "qos", "list", award, "--json").output
    refused(cli, "award", "qos", "grant", award, "standard", expect=2, says="a standard tier every")
    refused(
        cli,
        "award",
        "qos",
        "grant",
        award,
        "hero",
        "--expires-on",
        "soon",
        expect=2,
        says="expires_on:",
    )
    refused(cli, "award", "qos", "revoke", award, "999", expect=3, says="grant 999 of award")
    assert cli("award", "qos", "list", award, "--json").output == held


def test_the_slurm_plan_lists_exactly_the_granted_tiers(uow, projects, cli):
    cli("award", "qos", "grant", str(projects.award_a), "hero", "--gpu-hours", "2")
    with uow() as ctx:
        desired = desired_state(ctx, prefix="award-")
    a, b = f"award-{projects.award_a}", f"award-{projects.award_b}"
    assert desired.accounts[a].tiers == {f"{a}-hero"}
    assert desired.accounts[b].tiers == frozenset()
    hero = desired.qos[f"{a}-hero"]
    assert (hero.gpu_minutes, hero.priority) == (120, 500)
    assert f"{b}-hero" not in desired.qos
    changes = plan(desired, Actual(), now=0)
    account_a = next(c for c in changes if c.target == f"account {a}" and c.action == "modify")
    assert f"QOS={a},{a}-hero" in account_a.argv
    assert f"DefaultQOS={a}" in account_a.argv
    account_b = next(c for c in changes if c.target == f"account {b}" and c.action == "modify")
    assert f"QOS={b}" in account_b.argv
    assert any("Priority=500" in c.argv for c in changes if c.target == f"qos {a}-hero")
    # Jobs are handed to Slurm in their granted tier's QOS, others in the award's own.
    assert slurm_qos(desired, a, JobQos.HERO) == f"{a}-hero"
    assert slurm_qos(desired, a, JobQos.DEBUG) == a
    assert slurm_qos(desired, b, JobQos.HERO) == b
    assert slurm_qos(desired, a, JobQos.STANDARD) == a
