"""On Slurm a job runs as its submitter, with only its declared environment.

The platform's own variables (its database URL above all) must never reach a job, however they
are set in the process that hands jobs to Slurm.
"""

from __future__ import annotations

import pwd

import pytest

from aisc.jobs import service as jobs
from aisc.jobs.models import JobState
from tests.slurm.conftest import Centre

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

SECRET_URL = "postgresql://platform:s3cret-password@127.0.0.1:5432/aisc"
PROBE = ["bash", "-c", 'echo "user=$(id -un) uid=$(id -u)"; env | sort']


def test_a_job_sees_only_its_declared_environment_and_runs_as_its_submitter(
    centre: Centre, monkeypatch
):
    monkeypatch.setenv("AISC_DATABASE_URL", SECRET_URL)
    monkeypatch.setenv("AISC_OIDC_CLIENT_SECRET", "oidc-secret")
    monkeypatch.setenv("PLATFORM_ONLY", "not for jobs")
    award_id = centre.award()
    runner = centre.runner()
    job_id = centre.submit(award_id, PROBE, environment={"GREETING": "hello"})
    (job,) = centre.run_until(runner, [job_id])
    assert job.state is JobState.COMPLETED, job.reason
    with centre.uow() as ctx:
        out = jobs.logs(ctx, job_id=job_id)
    lines = out.splitlines()
    assert lines[0] == f"user=alice uid={pwd.getpwnam('alice').pw_uid}"
    variables = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    assert variables["GREETING"] == "hello"
    assert "s3cret" not in out
    assert "oidc-secret" not in out
    assert "PLATFORM_ONLY" not in variables
    # Only the variables the platform sets for every job (its id, its node count).
    told = {name for name in variables if name.upper().startswith("AISC_")}
    assert told <= {"AISC_JOB_ID", "AISC_NODE", "AISC_NODE_INDEX", "AISC_NODE_COUNT"}
    assert variables["AISC_JOB_ID"] == str(job_id)
