"""The Slurm client without a cluster: parsing Slurm's real output, the provisioning plan, the
batch script, and what the platform does when Slurm cannot be reached."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aisc.slurm import hosts
from aisc.slurm.commands import (
    Completed,
    SlurmCommands,
    parse_gpu_indices,
    parse_sacct,
    parse_squeue,
    parse_tres,
)
from aisc.slurm.desired import pacing_priority
from aisc.slurm.plan import (
    AccountSpec,
    AccountState,
    Actual,
    Desired,
    QosSpec,
    ReservationSpec,
    plan,
)
from aisc.slurm.types import (
    JobSpec,
    SlurmRefused,
    SlurmUnavailable,
    aisc_id_of,
    failure,
)

# Real output of Slurm 22.05 (sacct -X -P -n -D -o SACCT_FIELDS with SLURM_TIME_FORMAT=%s).
SACCT = """\
2|aisc-job-1|award-1|alice|training|COMPLETED|0:0|1796161779|1796161780|1796161782|2|node1|billing=2,cpu=1,gres/gpu:h800=2,gres/gpu=2,mem=1G,node=1|None
7|aisc-job-4|award-1|alice|training|CANCELLED by 0|0:15|1796161900|1796161901|1796161904|3|node2|billing=3,cpu=1,gres/gpu:h800=3,gres/gpu=3,mem=1G,node=1|None
8|aisc-job-5|award-2|bob|training|PENDING|0:0|1796161950|Unknown|Unknown|0|None assigned|billing=16,cpu=2,gres/gpu=16,mem=2G,node=2|QOSGrpGRESMinutes
9|aisc-job-6|award-2|bob|training|COMPLETED|0:0|1796162000|1796162001|1796162011|10|node[3-4]|billing=16,cpu=2,gres/gpu:h800=16,gres/gpu=16,mem=2G,node=2|None
"""  # noqa: E501
SQUEUE = """\
5|wrap|award-1|alice|RUNNING|None|node1|1796161126|1796161127|1796161427|training|gres:gpu:h800:4
6|aisc-job-3|award-2|bob|PENDING|AssocGrpGRESMinutes||1796161130|1796161227|1796161527|training|gres:gpu:h800:8
"""
SCONTROL_JOB = """\
JobId=5 JobName=wrap
   JOB_GRES=gpu:h800:4
     Nodes=node1 CPU_IDs=0 Mem=1024 GRES=gpu:h800:4(IDX:2-4,6)
     Nodes=node[2-3] CPU_IDs=0 Mem=1024 GRES=gpu:h800:2(IDX:0-1)
"""


def test_sacct_rows_become_runs_with_their_gpu_seconds():
    runs = parse_sacct(SACCT)
    assert [r.job_id for r in runs] == ["2", "7", "8", "9"]
    first, cancelled, pending, multi = runs
    assert (first.state, first.gpus, first.gpu_type, first.elapsed) == ("COMPLETED", 2, "h800", 2)
    assert first.gpu_seconds == 4
    assert first.start == 1796161780
    assert first.end == 1796161782
    assert cancelled.state == "CANCELLED"
    assert cancelled.exit_code == 0
    assert pending.start is None
    assert pending.nodes == ()
    assert pending.reason == "QOSGrpGRESMinutes"
    assert multi.nodes == ("node3", "node4")
    assert multi.gpu_seconds == 160
    assert aisc_id_of(multi.name) == 6
    assert aisc_id_of("wrap") is None


def test_squeue_and_scontrol_give_the_live_state_and_gpu_indices():
    running, pending = parse_squeue(SQUEUE)
    assert running.state == "RUNNING"
    assert running.gpus == 4
    assert running.end is None
    assert pending.start is None
    assert pending.reason == "AssocGrpGRESMinutes"
    assert parse_gpu_indices(SCONTROL_JOB) == {
        "node1": (2, 3, 4, 6),
        "node2": (0, 1),
        "node3": (0, 1),
    }
    assert parse_tres("cpu=1,gres/gpu=2") == (2, "")


# Drawing the sets is cheap; on a machine busy with other work it can still take over a second,
# which is no fault of the code under test.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.integers(min_value=0, max_value=300), min_size=1, max_size=40))
def test_host_lists_round_trip(numbers):
    names = [f"node{n}" for n in numbers]
    assert sorted(hosts.expand(hosts.compress(names))) == sorted(names)


def test_host_lists_as_slurm_writes_them():
    assert hosts.expand("node[1-3,7],gpu-a01") == ["node1", "node2", "node3", "node7", "gpu-a01"]
    assert hosts.expand("n[08-10]") == ["n08", "n09", "n10"]
    assert hosts.compress(["node2", "node1", "node4"]) == "node[1-2,4]"
    with pytest.raises(ValueError, match="not a Slurm host list"):
        hosts.expand("node[a-b]")
    assert hosts.expand("(null)") == []
    assert hosts.expand("None assigned") == []


def test_host_lists_with_several_ranges_in_one_name():
    names = ["rack1-node01", "rack1-node02", "rack2-node01", "rack2-node02"]
    assert hosts.expand("rack[1-2]-node[01-02]") == names
    assert hosts.compress(list(reversed(names))) == "rack[1-2]-node[01-02]"
    assert hosts.expand(hosts.compress(names)) == names
    mixed = ["gpu-a01", "rack1-node09", "rack1-node10", "rack3-node01"]
    assert sorted(hosts.expand(hosts.compress(mixed))) == mixed


def spec(**extra):
    values = {
        "aisc_id": 12,
        "user": "alice",
        "account": "award-3",
        "partition": "training",
        "nodes": 1,
        "gpus_per_node": 2,
        "gpu_type": "h800",
        "time_limit_min": 10,
        "workdir": "/work/j12",
        "stdout": "/work/j12/stdout.log",
        "stderr": "/work/j12/stderr.log",
        "argv": ("train.py", "--lr", "0.1"),
        "environment": {"PATH": "/usr/bin:/bin", "SECRET": "s p a c e"},
    }
    values.update(extra)
    return JobSpec(**values)


def test_the_batch_script_runs_exactly_the_given_arguments(tmp_path):
    argv = (sys.executable, "-c", "import sys; print(sys.argv[1:])", "a b", "$(touch x)", "x;y'z")
    script = tmp_path / "job.sh"
    script.write_text(spec(argv=argv).script())
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == repr(["a b", "$(touch x)", "x;y'z"])
    assert not (tmp_path / "x").exists()  # nothing was interpreted by the shell
    multi = spec(nodes=2).script()
    assert "exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 -- train.py" in multi


def test_sbatch_gets_an_argument_list_and_the_environment_outside_the_script():
    calls = []

    def runner(argv, env, stdin):
        calls.append((list(argv), dict(env), stdin))
        return Completed(0, "41;aiscdev\n", "")

    commands = SlurmCommands(runner, submit_as_user=True)
    assert commands.submit(spec(reservation="award-3", qos="award-3")) == "41"
    argv, env, stdin = calls[0]
    assert argv[0] == "sbatch"
    assert "--job-name=aisc-job-12" in argv
    assert {"--gres=gpu:h800:2", "--uid=alice", "--reservation=award-3", "--qos=award-3"} <= set(
        argv
    )
    assert env["SECRET"] == "s p a c e"
    assert env["TZ"] == "UTC"
    assert "SECRET" not in stdin
    assert stdin.startswith("#!/bin/bash")


@pytest.mark.parametrize(
    ("words", "kind"),
    [
        ("Batch job submission failed: Job violates accounting/QOS policy", SlurmRefused),
        ("Batch job submission failed: Invalid account or account/partition", SlurmRefused),
        ("Batch job submission failed: Unable to contact slurm controller", SlurmUnavailable),
        ("slurm_persist_conn_open_without_init: failed", SlurmUnavailable),
    ],
)
def test_slurm_refusals_are_told_from_slurm_being_away(words, kind):
    assert type(failure(words)) is kind


def test_pacing_priority_rises_for_projects_behind_their_plan():
    assert pacing_priority(planned=0.5, used=0.5) == 500
    assert pacing_priority(planned=0.6, used=0.2) > 800
    assert pacing_priority(planned=0.2, used=0.6) < 200


def account(**extra):
    values = {
        "name": "award-1",
        "description": "Speech",
        "organisation": "Uni",
        "users": frozenset({"alice"}),
        "fairshare": 5,
        "priority": 500,
        "open": True,
    }
    values.update(extra)
    return AccountSpec(**values)


def desired(**extra):
    return Desired(
        accounts={"award-1": account(**extra)},
        qos={"award-1": QosSpec("award-1", gpu_minutes=600)},
        reservations={
            "award-1": ReservationSpec("award-1", "award-1", ("node1", "node2"), 100, 9_000)
        },
    )


def matching() -> Actual:
    return Actual(
        accounts={
            "award-1": AccountState(
                "award-1", frozenset({"alice"}), 5, 500, "award-1", "award-1", -1
            )
        },
        qos={"award-1": QosSpec("award-1", gpu_minutes=600)},
        qos_flags={"award-1": frozenset({"DenyOnLimit", "NoDecay"})},
        reservations={
            "award-1": ReservationSpec("award-1", "award-1", ("node2", "node1"), 100, 9_000)
        },
    )


def test_the_plan_creates_everything_from_nothing_and_nothing_when_it_matches():
    changes = plan(desired(), Actual(), now=50)
    targets = [c.target for c in changes]
    assert targets[:2] == ["qos award-1", "qos award-1"]  # QOS before the account uses it
    assert "account award-1" in targets
    assert "user alice" in targets
    create = next(c for c in changes if c.target == "reservation award-1")
    assert "StartTime=1970-01-01T00:01:40" in create.argv
    assert "Nodes=node[1-2]" in create.argv
    budget = next(c for c in changes if c.action == "modify" and c.target == "qos award-1")
    assert "GrpTRESMins=gres/gpu=600" in budget.argv
    assert "Flags=DenyOnLimit,NoDecay" in budget.argv
    assert plan(desired(), matching(), now=50) == []


def test_the_plan_follows_changes_of_the_award():
    actual = matching()
    actual.pending["award-1"] = [("31", "Priority"), ("32", "JobHeldAdmin")]
    closed = plan(desired(open=False, users=frozenset({"bob"}), fairshare=9), actual, now=50)
    described = {c.describe() for c in closed}
    assert "hold jobs of award-1: 1 pending job(s) while the award is not active" in described
    assert any("MaxSubmitJobs=0" in c.argv and "Fairshare=9" in c.argv for c in closed)
    assert {("add", "user bob"), ("delete", "user alice")} <= {(c.action, c.target) for c in closed}
    reopened = plan(desired(), actual, now=50)
    assert [c.argv for c in reopened if c.action == "release"] == [("scontrol", "release", "32")]
    moved = desired()
    moved.reservations["award-1"] = ReservationSpec("award-1", "award-1", ("node3",), 100, 9_500)
    (change,) = [c for c in plan(moved, matching(), now=50) if "reservation" in c.target]
    assert change.argv[:2] == ("scontrol", "update")
    assert "Nodes=node3" in change.argv
    gone = desired()
    gone.reservations.clear()
    (drop,) = [c for c in plan(gone, matching(), now=50) if "reservation" in c.target]
    assert drop.argv == ("scontrol", "delete", "ReservationName=award-1")


def test_without_slurm_the_commands_fail_clearly_and_jobs_wait(
    cli, client, uow, clock, monkeypatch, tmp_path
):
    from aisc.accounts import service as accounts
    from aisc.accounts.schemas import PersonUpdate
    from aisc.errors import ValidationFailed
    from aisc.jobs import service as jobs
    from aisc.jobs.schemas import JobSubmit
    from tests.factories import World

    monkeypatch.setenv("AISC_SLURM_BIN_DIR", str(tmp_path / "no-slurm-here"))
    assert "sacctmgr is not installed" in cli("slurm", "sync", "--dry-run", expect=6).output
    assert "scontrol is not installed" in cli("slurm", "status", expect=6).output
    assert "sacct is not installed" in cli("slurm", "ingest", expect=6).output
    assert "not a date" in cli("slurm", "ingest", "--since", "last week", expect=2).output

    world = World(uow)
    world.approve(world.reviewed(compute={"gpu_cards": 16}))
    award_id = client.get("/api/v1/awards").json()[0]["id"]
    client.post(f"/api/v1/awards/{award_id}/accept")
    clock.advance(days=60)  # inside the allocation's period
    body = JobSubmit(
        award_id=award_id,
        submitted_by_id=world.applicant,
        partition="training",
        walltime_s=60,
        command=["true"],
    )
    with uow() as ctx, pytest.raises(ValidationFailed, match="no cluster user name"):
        jobs.submit(ctx, data=body, backend="slurm")
    with uow() as ctx:
        accounts.update_person(ctx, person_id=world.applicant, data=PersonUpdate(username="alice"))
        job_id = jobs.submit(ctx, data=body, backend="slurm").id
    monkeypatch.setenv("AISC_EXECUTOR", "slurm")
    assert "started 0" in cli("jobs", "tick").output
    shown = json.loads(cli("jobs", "show", str(job_id), "--json").output)
    assert shown["backend"] == "slurm"
    assert shown["state"] == "pending"
    assert shown["backend_id"] is None
    assert shown["reason"].startswith("waiting for Slurm: Slurm is unavailable: ")
    assert shown["reason"].endswith("/scontrol is not installed")


def test_the_sync_route_needs_a_slurm_deployment(client, engine, clock, tmp_path):
    from fastapi.testclient import TestClient

    from aisc.access import SYSTEM
    from aisc.app import create_app
    from aisc.http import get_principal
    from aisc.settings import Settings

    refused = client.post("/api/v1/slurm/sync", params={"dry_run": "true"})
    assert refused.status_code == 409
    assert refused.json()["detail"]["field"] == "executor"
    settings = Settings(executor="slurm", slurm_bin_dir=tmp_path / "none", data_dir=tmp_path)
    app = create_app(settings, engine=engine, clock=clock)
    app.dependency_overrides[get_principal] = lambda: SYSTEM
    with TestClient(app) as slurm_client:
        away = slurm_client.post("/api/v1/slurm/sync", params={"dry_run": "true"})
    assert away.status_code == 503
    assert "is not installed" in away.json()["detail"]["message"]
