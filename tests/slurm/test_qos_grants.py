"""QOS grants on a real Slurm cluster: an award's account may use exactly its granted tiers."""

from __future__ import annotations

import subprocess
import time

import pytest

from aisc.jobs.models import JobQos, JobState
from aisc.qos import service as qos
from aisc.qos.schemas import QosGrantCreate
from aisc.slurm.plan import read_actual
from aisc.slurm.sync import sync
from tests.slurm.conftest import Centre

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]


def sbatch(user: str, account: str, tier_qos: str) -> subprocess.CompletedProcess[str]:
    """A held job straight to Slurm (not through aisc), as ``user`` in ``tier_qos``."""
    return subprocess.run(
        ["sbatch", f"--uid={user}", f"--account={account}", f"--qos={tier_qos}", "--hold",
         "-p", "training", "-t", "1", "-D", "/tmp", "-o", "/dev/null", "--wrap=true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def job_qos(slurm_id: str) -> str:
    """The QOS accounting recorded for a job (it may answer Unknown for a moment)."""
    deadline = time.time() + 20
    while True:
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", slurm_id, "-o", "QOS"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if (out and out != "Unknown") or time.time() > deadline:
            return out
        time.sleep(0.5)


def test_slurm_refuses_a_tier_the_award_was_not_granted(centre: Centre, slurm_cluster):
    granted = centre.award(gpu_hours=150)
    plain = centre.award(gpu_hours=150, pi=centre.world.startup_pi, org=centre.world.startup)
    a, b = centre.account(granted), centre.account(plain)
    with centre.uow() as ctx:
        grant = qos.grant(ctx, award_id=granted, data=QosGrantCreate(qos=JobQos.HERO, gpu_hours=10))
        grant_id = grant.id
        applied = sync(ctx, slurm_cluster, prefix=centre.prefix)
    assert not applied.failed, applied.lines()
    actual = read_actual(slurm_cluster, centre.prefix)
    assert set(actual.accounts[a].qos.split(",")) == {a, f"{a}-hero"}
    assert actual.accounts[a].default_qos == a
    assert actual.accounts[b].qos == b
    assert actual.qos[f"{a}-hero"].gpu_minutes == 600
    assert actual.qos[f"{a}-hero"].priority == 500
    with centre.uow() as ctx:
        assert sync(ctx, slurm_cluster, prefix=centre.prefix).changes == []

    accepted = sbatch("alice", a, f"{a}-hero")
    assert accepted.returncode == 0, accepted.stderr
    subprocess.run(["scancel", accepted.stdout.split()[-1]], check=False)
    for user, account, tier in (("bob", b, f"{b}-hero"), ("bob", b, f"{a}-hero")):
        refused = sbatch(user, account, tier)
        assert refused.returncode != 0
        assert "Invalid qos" in refused.stderr

    # A job through aisc in the granted tier runs in the tier's QOS.
    job_id = centre.submit(granted, ["true"], qos="hero")
    runner = centre.runner()
    (done,) = centre.run_until(runner, [job_id])
    assert done.state is JobState.COMPLETED, done.reason
    assert job_qos(str(done.backend_id)) == f"{a}-hero"

    # Revoked: the next sync takes the tier off the account, and Slurm refuses it.
    with centre.uow() as ctx:
        qos.revoke(ctx, award_id=granted, grant_id=grant_id)
        sync(ctx, slurm_cluster, prefix=centre.prefix)
    assert read_actual(slurm_cluster, centre.prefix).accounts[a].qos == a
    after = sbatch("alice", a, f"{a}-hero")
    assert after.returncode != 0
    assert "Invalid qos" in after.stderr
