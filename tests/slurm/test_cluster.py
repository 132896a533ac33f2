"""aisc on a real Slurm cluster: provisioning, jobs on Slurm's GPUs, budgets, billing, faults."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from aisc.audit.models import AuditEvent
from aisc.awards import service as awards
from aisc.billing.charging import run_month
from aisc.billing.models import Charge
from aisc.billing.months import next_month
from aisc.jobs import service as jobs
from aisc.jobs.models import JobState
from aisc.metering.models import UsageRecord
from aisc.slurm.backend import SlurmBackend
from aisc.slurm.connect import backend_from_settings
from aisc.slurm.desired import pacing_priority
from aisc.slurm.plan import read_actual
from aisc.slurm.sync import sync
from aisc.slurm.types import SlurmUnavailable
from tests.slurm.conftest import Centre, cluster_script

# One worker runs them all, one after another: some restart the cluster's daemons.
pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

GPU_PROBE = [
    "bash",
    "-c",
    'echo "node=$SLURMD_NODENAME CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES '
    'SLURM_JOB_GPUS=$SLURM_JOB_GPUS job=$AISC_JOB_ID"; sleep 3',
]


def sacct_gpu_seconds(slurm_id: str) -> int:
    """GPU-seconds of a job straight from sacct (every run), the figure billing must match."""
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-D", "-j", slurm_id, "-o", "ElapsedRaw,AllocTRES"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = 0
    for line in out.splitlines():
        elapsed, tres = line.split("|")
        gpus = next(int(v) for k, v in (i.split("=") for i in tres.split(",")) if k == "gres/gpu")
        total += int(elapsed) * gpus
    return total


def slurm_jobs_named(name: str, account: str) -> list[str]:
    """Every Slurm job (each run) of that name under that account, from accounting.

    Accounting answers queries by time window a few seconds after it answers by job id: wait
    until the job shows up there.
    """
    deadline = time.time() + 20
    while True:
        out = subprocess.run(
            ["sacct", "-a", "-X", "-P", "-n", "-D", "-S", "2020-01-01", f"--name={name}",
             "-o", "JobID,Account"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        found = [job_id for job_id, owner in rows if owner == account]
        if found or time.time() > deadline:
            return found
        time.sleep(0.5)


def test_sync_provisions_awards_and_a_second_sync_changes_nothing(centre: Centre, slurm_cluster):
    pooled = centre.award(gpu_hours=150)
    dedicated = centre.award(
        kind="dedicated", gpu_cards=16, gpu_hours=None, pi=centre.world.startup_pi,
        org=centre.world.startup,
    )  # fmt: skip
    centre.member(pooled, "nologin@uni.example", None)
    prefix = centre.prefix

    with centre.uow() as ctx:
        preview = sync(ctx, slurm_cluster, dry_run=True, prefix=prefix)
    assert preview.changes, "a dry run lists what it would do"
    assert any("no cluster user name" in note for note in preview.notes)
    before = read_actual(slurm_cluster, prefix)
    assert not before.accounts
    assert not before.qos
    assert not before.reservations

    with centre.uow() as ctx:
        applied = sync(ctx, slurm_cluster, prefix=prefix)
    assert not applied.failed, applied.lines()
    actual = read_actual(slurm_cluster, prefix)
    account = actual.accounts[centre.account(pooled)]
    assert account.users == {"alice"}
    assert account.qos == account.default_qos == centre.account(pooled)
    assert account.max_submit == -1
    # Fair-share shares: GPU-hours per day of the award.
    assert account.fairshare == max(1, round(150 / applied_period(centre, pooled)))
    assert actual.accounts[centre.account(dedicated)].fairshare == 16 * 24
    assert actual.qos[centre.account(pooled)].gpu_minutes == 150 * 60
    assert {"DenyOnLimit", "NoDecay"} <= actual.qos_flags[centre.account(pooled)]
    assert actual.qos[centre.account(dedicated)].gpus == 16
    assert actual.accounts[centre.account(dedicated)].users == {"bob"}
    reservation = actual.reservations[centre.account(dedicated)]
    assert len(reservation.nodes) == 2
    assert reservation.account == centre.account(dedicated)
    assert account.priority == pacing_priority(planned=elapsed_fraction(centre, pooled), used=0.0)

    with centre.uow() as ctx:
        again = sync(ctx, slurm_cluster, prefix=prefix)
    assert again.changes == [], again.lines()

    # The award changes: a new member, then a suspension; the sync follows.
    centre.member(pooled, "carol@uni.example", "carol")
    with centre.uow() as ctx:
        awards.suspend(ctx, award_id=pooled, reason="progress report overdue")
        changed = sync(ctx, slurm_cluster, prefix=prefix)
    described = changed.lines()
    assert any("user carol" in line for line in described), described
    assert any("closed to new jobs" in line for line in described), described
    account = read_actual(slurm_cluster, prefix).accounts[centre.account(pooled)]
    assert account.users == {"alice", "carol"}
    assert account.max_submit == 0
    refused = subprocess.run(
        ["sbatch", "--uid=alice", f"--account={centre.account(pooled)}", "-p", "training",
         "-t", "1", "-D", "/tmp", "-o", "/dev/null", "--wrap=true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0  # a suspended award takes no new work in Slurm either

    with centre.uow() as ctx:
        awards.resume(ctx, award_id=pooled)
        sync(ctx, slurm_cluster, prefix=prefix)
    assert read_actual(slurm_cluster, prefix).accounts[centre.account(pooled)].max_submit == -1


def applied_period(centre: Centre, award_id: int) -> int:
    with centre.uow() as ctx:
        award = awards.get_award(ctx, award_id=award_id)
        return (award.end_date - award.start_date).days


def elapsed_fraction(centre: Centre, award_id: int) -> float:
    with centre.uow() as ctx:
        award = awards.get_award(ctx, award_id=award_id)
        days = (award.end_date - award.start_date).days
        return min(max((ctx.now.date() - award.start_date).days, 0), days) / days


def test_the_sync_command_prints_its_plan(centre: Centre, cli_at, monkeypatch):
    centre.award()
    for key, value in {
        "AISC_SLURM_ACCOUNT_PREFIX": centre.prefix,
        "AISC_SLURM_REST_URL": centre.settings.slurm_rest_url,
        "AISC_SLURM_JWT_KEY_FILE": str(centre.settings.slurm_jwt_key_file),
    }.items():
        monkeypatch.setenv(key, value)
    cli = cli_at(centre.database_url)
    preview = json.loads(cli("slurm", "sync", "--dry-run", "--json").output)
    assert preview["dry_run"]
    assert {c["target"] for c in preview["changes"]} >= {
        f"account {centre.prefix}1",
        f"qos {centre.prefix}1",
        "user alice",
    }
    assert not any(c["applied"] for c in preview["changes"])
    assert "did add account" in cli("slurm", "sync").output
    assert "no changes" in cli("slurm", "sync").output
    status = cli("slurm", "status").output
    assert "controller: up" in status
    assert "slurmrestd: up" in status


def test_a_job_runs_on_the_gpus_slurm_assigned_and_is_billed_to_the_second(centre: Centre):
    award_id = centre.award()
    runner = centre.runner()
    job_id = centre.submit(award_id, GPU_PROBE, gpus_per_node=3)
    running = centre.run_until(runner, [job_id], lambda j: j.state is not JobState.PENDING)[0]
    assert running.state is JobState.RUNNING, running.reason
    (job,) = centre.run_until(runner, [job_id])
    assert job.state is JobState.COMPLETED, job.reason
    assert job.exit_code == 0
    placement = running.placement.as_json()
    assert len(placement) == 1
    assert len(placement[0]["gpus"]) == 3
    with centre.uow() as ctx:
        out = jobs.logs(ctx, job_id=job_id)
    expected = ",".join(str(g) for g in placement[0]["gpus"])
    assert f"node={placement[0]['node']} " in out
    assert f"CUDA_VISIBLE_DEVICES={expected} SLURM_JOB_GPUS={expected} job={job_id}" in out

    # Usage equals sacct to the GPU-second, and the month's invoice bills exactly that.
    slurm_seconds = sacct_gpu_seconds(str(job.backend_id))
    with centre.uow() as ctx:
        usage = list(ctx.db.execute(select(UsageRecord).where(UsageRecord.job_id == job_id)))
        assert [u.gpu_seconds for (u,) in usage] == [slurm_seconds]
        month = usage[0][0].ended_at.astimezone(UTC).date().replace(day=1)
    first_of_next = datetime.combine(next_month(month), datetime.min.time(), UTC)
    with centre.uow(now=first_of_next) as ctx:
        result = run_month(ctx, month=month)
        (invoice,) = [i for i in result.invoices if i.award_id == award_id]
        billed = ctx.db.execute(
            select(func.sum(Charge.quantity)).where(Charge.invoice_id == invoice.id)
        ).scalar_one()
    assert billed == slurm_seconds


def test_multi_node_jobs_run_once_on_every_node(centre: Centre):
    award_id = centre.award()
    runner = centre.runner()
    job_id = centre.submit(
        award_id,
        ["bash", "-c", 'echo "$SLURMD_NODENAME $CUDA_VISIBLE_DEVICES"'],
        nodes=2,
        gpus_per_node=8,
    )
    (job,) = centre.run_until(runner, [job_id])
    assert job.state is JobState.COMPLETED, job.reason
    with centre.uow() as ctx:
        lines = sorted(jobs.logs(ctx, job_id=job_id).split())
    nodes = sorted(job.placement.nodes)
    assert len(nodes) == 2
    assert lines == sorted([*nodes, "0,1,2,3,4,5,6,7", "0,1,2,3,4,5,6,7"])


def test_a_dedicated_award_runs_in_its_reservation(centre: Centre):
    award_id = centre.award(kind="dedicated", gpu_cards=8, gpu_hours=None)
    runner = centre.runner()
    job_id = centre.submit(award_id, ["true"], gpus_per_node=8)
    (job,) = centre.run_until(runner, [job_id])
    assert job.state is JobState.COMPLETED, job.reason
    reservation = read_actual(runner.backend.commands, centre.prefix).reservations
    (held,) = reservation.values()
    assert list(job.placement.nodes) == list(held.nodes)


def test_the_gpu_minute_budget_holds_in_slurm(centre: Centre, slurm_cluster):
    award_id = centre.award(gpu_hours=1)  # 60 GPU-minutes
    account = centre.account(award_id)
    runner = centre.runner()
    assert runner.sync()
    # Straight to Slurm, past the platform: 2 GPUs x 40 min = 80 GPU-minutes > 60.
    direct = subprocess.run(
        ["sbatch", "--uid=alice", f"--account={account}", "-p", "training", "--gres=gpu:h800:2",
         "-t", "40", "-D", "/tmp", "-o", "/dev/null", "--wrap=true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert direct.returncode != 0
    assert "QOSGrpGRESMinutes" in direct.stderr
    # Drift: someone lowers the budget in Slurm; the platform's gateway still admits a job of
    # 2 GPUs x 10 min, Slurm refuses it, and the job fails with Slurm's reason.
    slurm_cluster.apply(
        ("sacctmgr", "-i", "modify", "qos", "where", f"name={account}", "set",
         "GrpTRESMins=gres/gpu=10")
    )  # fmt: skip
    job_id = centre.submit(award_id, ["true"], walltime_s=600)
    (job,) = centre.run_until(runner, [job_id])
    assert job.state is JobState.FAILED, job.reason
    assert "accounting/QOS policy" in job.reason
    assert job.backend_id is None
    with centre.uow() as ctx:
        repair = sync(ctx, slurm_cluster, prefix=centre.prefix)
    assert [c.target for c in repair.applied] == [f"qos {account}"]
    assert read_actual(slurm_cluster, centre.prefix).qos[account].gpu_minutes == 60


def test_cancel_reaches_slurm(centre: Centre):
    award_id = centre.award()
    runner = centre.runner()
    job_id = centre.submit(award_id, ["sleep", "120"])
    centre.run_until(runner, [job_id], lambda j: j.state is JobState.RUNNING)
    time.sleep(2)  # it runs a while, and that while is billed
    with centre.uow() as ctx:
        jobs.cancel(ctx, job_id=job_id)
    (job,) = centre.run_until(runner, [job_id])
    assert job.state is JobState.CANCELLED
    assert job.reason == "cancelled while running"
    with centre.uow() as ctx:
        usage = ctx.db.execute(
            select(func.count()).select_from(UsageRecord).where(UsageRecord.job_id == job_id)
        ).scalar_one()
    assert usage == 1  # the seconds it ran are billed, once
    assert sacct_gpu_seconds(str(job.backend_id)) >= 2 * 2


class LostResponse(SlurmBackend):
    """Submits for real, then loses the answer (a timeout after slurmctld accepted the job)."""

    def submit(self, spec):  # type: ignore[no-untyped-def]
        super().submit(spec)
        raise SlurmUnavailable("Slurm is unavailable: slurmrestd: timed out")


def test_a_lost_submission_answer_never_makes_a_second_slurm_job(centre: Centre):
    award_id = centre.award()
    real = backend_from_settings(centre.settings)
    job_id = centre.submit(award_id, ["true"])
    first = centre.runner(LostResponse(real.commands, real.rest))
    first.tick()
    assert centre.job(job_id).backend_id is None
    assert centre.job(job_id).handed_at is not None
    (job,) = centre.run_until(centre.runner(real), [job_id])  # the platform restarted
    assert job.state is JobState.COMPLETED
    assert slurm_jobs_named(f"aisc-job-{job_id}", centre.account(award_id)) == [job.backend_id]


def test_jobs_wait_in_the_platform_while_slurm_is_down(centre: Centre):
    award_id = centre.award()
    runner = centre.runner()
    assert runner.sync()
    cluster_script("kill", "slurmrestd")
    try:
        via_sbatch = centre.submit(award_id, ["true"])
        (job,) = centre.run_until(runner, [via_sbatch])
        assert job.state is JobState.COMPLETED  # sbatch took over from slurmrestd
        cluster_script("kill", "slurmctld")
        waiting = [centre.submit(award_id, ["true"]) for _ in range(2)]
        for _ in range(3):
            runner.tick()
        for job_id in waiting:
            job = centre.job(job_id)
            assert job.state is JobState.PENDING
            assert job.backend_id is None
            assert job.reason.startswith("waiting for Slurm"), job.reason
    finally:
        cluster_script("start")
    done = centre.run_until(centre.runner(), waiting, timeout=90)
    assert all(j.state is JobState.COMPLETED for j in done), [(j.id, j.reason) for j in done]
    for job in done:
        assert slurm_jobs_named(f"aisc-job-{job.id}", centre.account(award_id)) == [job.backend_id]
    with centre.uow() as ctx:
        via = ctx.db.execute(
            select(AuditEvent.after).where(
                AuditEvent.action == "job.handover", AuditEvent.object_id == str(via_sbatch)
            )
        ).scalar_one()
    assert json.loads(via)["via"] == "sbatch"


def test_a_controller_restart_mid_run_ends_every_job_exactly_once(centre: Centre):
    award_id = centre.award()
    runner = centre.runner()
    job_ids = [centre.submit(award_id, ["sleep", "6"], gpus_per_node=4) for _ in range(3)]
    centre.run_until(runner, job_ids, lambda j: j.state is JobState.RUNNING)
    cluster_script("restart", "slurmctld")
    done = centre.run_until(centre.runner(), job_ids, timeout=120)  # and a platform restart
    assert all(j.state is JobState.COMPLETED for j in done), [(j.id, j.reason) for j in done]
    with centre.uow() as ctx:
        for job in done:
            finishes = ctx.db.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "job.finish", AuditEvent.object_id == str(job.id))
            ).scalar_one()
            seconds = (
                ctx.db.execute(select(UsageRecord.gpu_seconds).where(UsageRecord.job_id == job.id))
                .scalars()
                .all()
            )
            assert finishes == 1
            assert seconds == [sacct_gpu_seconds(str(job.backend_id))]
            assert slurm_jobs_named(f"aisc-job-{job.id}", centre.account(award_id)) == [
                job.backend_id
            ]
