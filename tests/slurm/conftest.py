"""A real Slurm cluster for the integration tests (deploy/slurm-dev/cluster.sh).

``AISC_TEST_SLURM=1`` enables them (CI sets it after bringing the cluster up); then a cluster
that does not answer is a failure, not a skip. Each test gets its own account prefix (so its
awards' accounts, QOS and reservations are its own), its own job directory, and a database of
its own; what it made in Slurm is removed afterwards.

The development cluster's defaults (slurmrestd on 127.0.0.1:6820, the JWT key in /etc/slurm,
partition ``training`` of node1..node4 with 8 h800 GPUs each) can be overridden with
``AISC_TEST_SLURM_REST_URL``, ``AISC_TEST_SLURM_JWT_KEY`` and ``AISC_TEST_SLURM_JOB_ROOT``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from aisc.accounts import service as accounts
from aisc.accounts.schemas import PersonCreate, PersonUpdate
from aisc.applications import service as applications
from aisc.awards import service as awards
from aisc.cluster import service as cluster
from aisc.cluster.catalogue import H800
from aisc.cluster.schemas import NodeIn
from aisc.context import Ctx
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.jobs import service as jobs
from aisc.jobs.models import FINISHED, Job
from aisc.jobs.schemas import JobSubmit
from aisc.settings import Settings
from aisc.slurm.commands import SlurmCommands
from aisc.slurm.connect import backend_from_settings
from aisc.slurm.loop import SlurmJobLoop
from aisc.slurm.types import SlurmUnavailable
from tests.factories import World

ENABLED = os.environ.get("AISC_TEST_SLURM", "").strip() not in ("", "0")
CLUSTER_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "slurm-dev" / "cluster.sh"
REST_URL = os.environ.get("AISC_TEST_SLURM_REST_URL", "http://127.0.0.1:6820")
JWT_KEY = Path(os.environ.get("AISC_TEST_SLURM_JWT_KEY", "/etc/slurm/jwt_hs256.key"))
JOB_ROOT = Path(os.environ.get("AISC_TEST_SLURM_JOB_ROOT", "/var/tmp/aisc-slurm"))
USERS = ("alice", "bob")


def wall_clock() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCommands:
    if not ENABLED:
        pytest.skip("AISC_TEST_SLURM is not set (deploy/slurm-dev/cluster.sh up, then set it)")
    commands = SlurmCommands()
    try:
        commands.ping()
    except SlurmUnavailable as exc:  # enabled, so a missing cluster fails the run
        pytest.fail(f"AISC_TEST_SLURM is set but the Slurm cluster does not answer: {exc}")
    return commands


def cluster_script(*args: str) -> None:
    subprocess.run(["bash", str(CLUSTER_SCRIPT), *args], check=True, capture_output=True)


class Centre:
    """A small centre on the development cluster: node1..node4 (8 x H800 each), a pooled award
    and helpers to submit jobs and run the Slurm loop until they end."""

    def __init__(self, tmp_path: Path, sqlite_template: Path) -> None:
        path = tmp_path / "aisc.db"
        shutil.copy(sqlite_template, path)
        self.engine = make_engine(f"sqlite:///{path}")
        self.database_url = f"sqlite:///{path}"
        self.factory = make_sessionmaker(self.engine)
        self.prefix = f"t{uuid.uuid4().hex[:6]}-"
        self.job_root = JOB_ROOT / self.prefix.rstrip("-")
        self.settings = Settings(
            executor="slurm",
            slurm_cluster="aiscdev",
            slurm_rest_url=REST_URL,
            slurm_jwt_key_file=JWT_KEY,
            slurm_job_root=self.job_root,
            slurm_account_prefix=self.prefix,
            slurm_sync_interval_s=3600,
            data_dir=tmp_path,
        )
        self.world = World(self.uow, h800_nodes=0)
        with self.uow() as ctx:
            for i in range(1, 5):
                cluster.upsert_node(
                    ctx,
                    data=NodeIn(
                        name=f"node{i}",
                        gpu_model=H800,
                        gpu_count=8,
                        cpu_cores=112,
                        memory_gb=1000,
                        partition="training",
                        leaf_switch="leaf00",
                        installed_on=date(2024, 10, 1),
                    ),
                )
            for person_id, username in zip(
                (self.world.applicant, self.world.startup_pi), USERS, strict=True
            ):
                accounts.update_person(
                    ctx, person_id=person_id, data=PersonUpdate(username=username)
                )

    @contextmanager
    def uow(self, now: datetime | None = None) -> Iterator[Ctx]:
        with transaction(self.factory) as session:
            yield Ctx(db=session, now=now or wall_clock(), actor="test")

    def award(self, *, pi: int | None = None, org: int | None = None, **compute: Any) -> int:
        """An accepted award starting this month; pooled GPU-hours unless told otherwise."""
        this_month = date.today().replace(day=1)
        body = {
            "kind": "pooled",
            "gpu_hours": 200,
            "gpu_cards": None,
            "months": 3,
            "preferred_start": this_month.isoformat(),
            **compute,
        }
        extra = {}
        if pi is not None:
            extra = {"created_by_id": pi, "organisation_id": org}
        app_id = self.world.reviewed(compute=body, **extra)
        self.world.approve(app_id)
        with self.uow() as ctx:
            award = next(a for a in awards.list_awards(ctx) if a.application_id == app_id)
            awards.accept(ctx, award_id=award.id)
            return award.id

    def member(self, award_id: int, email: str, username: str | None) -> int:
        with self.uow() as ctx:
            award = awards.get_award(ctx, award_id=award_id)
            person = accounts.create_person(
                ctx,
                data=PersonCreate(
                    email=email,
                    name=email.split("@")[0],
                    username=username,
                    organisation_ids=[award.organisation_id],
                ),
            )
            applications.add_member(ctx, application_id=award.application_id, person_id=person.id)
            return person.id

    def runner(self, backend: Any = None) -> SlurmJobLoop:
        return SlurmJobLoop(
            self.factory, backend or backend_from_settings(self.settings), self.settings,
            wall_clock,
        )  # fmt: skip

    def submit(self, award_id: int, argv: list[str], **extra: Any) -> int:
        body: dict[str, Any] = {
            "award_id": award_id,
            "submitted_by_id": self.world.applicant,
            "partition": "training",
            "gpus_per_node": 2,
            "walltime_s": 300,
            "command": argv,
            **extra,
        }
        with self.uow() as ctx:
            return jobs.submit(ctx, data=JobSubmit.model_validate(body), backend="slurm").id

    def job(self, job_id: int) -> Job:
        with self.uow() as ctx:
            job = jobs.get_job(ctx, job_id=job_id)
            ctx.db.expunge(job)
            return job

    def run_until(
        self,
        runner: SlurmJobLoop,
        job_ids: list[int],
        done: Callable[[Job], bool] = lambda j: j.state in FINISHED,
        timeout: float = 60,
    ) -> list[Job]:
        deadline = time.time() + timeout
        while True:
            runner.tick()
            found = [self.job(i) for i in job_ids]
            if all(done(j) for j in found):
                return found
            if time.time() > deadline:
                states = {j.id: (j.state.value, j.reason) for j in found}
                raise AssertionError(f"jobs not done after {timeout}s: {states}")
            time.sleep(0.2)

    def account(self, award_id: int) -> str:
        return f"{self.prefix}{award_id}"

    def clean(self, commands: SlurmCommands) -> None:
        """Remove what this test made in Slurm."""
        for line in commands.run("squeue", "-h", "-a", "-o", "%i|%a").splitlines():
            job_id, _, account = line.partition("|")
            if account.startswith(self.prefix):
                subprocess.run(["scancel", job_id], capture_output=True, check=False)
        # A reservation whose jobs are still ending cannot be deleted yet; one left behind
        # would overlap the next test's reservation on the same node, so retry until it goes.
        deadline = time.time() + 30
        while time.time() < deadline:
            names = [
                r.get("ReservationName", "")
                for r in commands.reservations()
                if r.get("ReservationName", "").startswith(self.prefix)
            ]
            if not names:
                break
            for name in names:
                subprocess.run(
                    ["scontrol", "delete", f"ReservationName={name}"],
                    capture_output=True,
                    check=False,
                )
            time.sleep(0.5)
        deadline = time.time() + 30
        while time.time() < deadline:  # accounts with jobs still ending cannot be deleted
            names = [r[0] for r in commands.show("account", "Account") if r[0].startswith(
                self.prefix)]  # fmt: skip
            if not names:
                break
            done = subprocess.run(
                ["sacctmgr", "-i", "delete", "account", "where", "name=" + ",".join(names)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0:
                break
            time.sleep(1)
        qos = [r[0] for r in commands.show("qos", "Name") if r[0].startswith(self.prefix)]
        if qos:
            subprocess.run(
                ["sacctmgr", "-i", "delete", "qos", "where", "name=" + ",".join(qos)],
                capture_output=True,
                check=False,
            )
        self.engine.dispose()


@pytest.fixture
def centre(slurm_cluster: SlurmCommands, tmp_path: Path, sqlite_template: Path) -> Iterator[Centre]:
    built = Centre(tmp_path, sqlite_template)
    yield built
    built.clean(slurm_cluster)
