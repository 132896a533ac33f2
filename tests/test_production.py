"""The production shape, from the systemd units' command lines: ``aisc serve --workers 2`` and a
separate ``aisc worker`` on a fresh PostgreSQL database run a job and a billing run over HTTP.

Runs where ``AISC_TEST_POSTGRES_URL`` is set (CI sets it), and then fails, never skips, when
anything is missing. The units' binary (``/opt/aisc/venv/bin/aisc``) becomes this interpreter's
``-m aisc.cli``; the server's address comes from the environment, as the units' EnvironmentFile
gives it; the worker's metrics port is moved to a free one.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from aisc.accounts import auth
from aisc.accounts.models import Role
from aisc.awards import service as awards
from aisc.context import Ctx
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.db.migrate import upgrade
from tests.conftest import Clock
from tests.factories import World

POSTGRES_URL = os.environ.get("AISC_TEST_POSTGRES_URL", "")
ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="AISC_TEST_POSTGRES_URL is not set"),
    pytest.mark.xdist_group("production"),
]


def unit_command(name: str) -> list[str]:
    """The unit's ExecStart with its ``aisc`` binary replaced by this interpreter's module."""
    lines = [
        line.split("=", 1)[1]
        for line in (UNITS / name).read_text().splitlines()
        if line.startswith("ExecStart=")
    ]
    assert len(lines) == 1, f"{name}: one ExecStart expected"
    argv = shlex.split(lines[0])
    assert Path(argv[0]).name == "aisc", argv
    return [sys.executable, "-m", "aisc.cli", *argv[1:]]


def free_port(*taken: int) -> int:
    """A free local port not in ``taken`` (within AISC_TEST_PORTS=FIRST-LAST when a machine
    reserves a range)."""
    first, _, last = os.environ.get("AISC_TEST_PORTS", "0-0").partition("-")
    for port in range(int(first), int(last or first) + 1):
        if port in taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            found = int(probe.getsockname()[1])
            if found not in taken:
                return found
    raise AssertionError(f"no free port in AISC_TEST_PORTS={os.environ['AISC_TEST_PORTS']}")


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database for this test, dropped afterwards."""
    base = make_url(POSTGRES_URL)
    name = f"aisc_deploy_{os.getpid()}"
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the variable is set: a missing server is a failure
        pytest.fail(f"PostgreSQL at AISC_TEST_POSTGRES_URL is not usable: {exc}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Seeded:
    """The centre, seeded through the services: an award whose dedicated allocation began on
    the first of last month (so that last month can be billed now), its PI and a finance officer
    with API tokens."""

    def __init__(self, url: str) -> None:
        engine = make_engine(url)
        upgrade(engine)
        factory = make_sessionmaker(engine)
        now = datetime.now(UTC)
        self.last_month = (now.replace(day=1) - timedelta(days=1)).replace(day=1).date()
        clock = Clock(datetime.combine(self.last_month, datetime.min.time(), UTC) - timedelta(30))

        @contextmanager
        def uow(actor: str = "test") -> Iterator[Ctx]:
            with transaction(factory) as db:
                yield Ctx(db=db, now=clock(), actor=actor)

        world = World(
            uow,
            start_date=self.last_month - timedelta(days=90),
            end_date=date(now.year + 3, 1, 1),
        )
        world.approve(
            world.reviewed(
                compute={"gpu_cards": 8, "months": 6, "preferred_start": f"{self.last_month}"}
            )
        )
        clock.now = now  # tokens and acceptance now, in real time
        with uow() as ctx:
            (award,) = awards.list_awards(ctx)
            awards.accept(ctx, award_id=award.id)
            self.award_id = award.id
            self.pi = world.applicant
            finance = World._person(ctx, "fin@centre.example", [Role.FINANCE], [])
            self.pi_token, _ = auth.create_token(
                ctx, person_id=self.pi, name="ci", scopes=["read", "write"]
            )
            self.finance_token, _ = auth.create_token(
                ctx, person_id=finance, name="ci", scopes=["read", "write"]
            )
        engine.dispose()


def wait_for(what: str, probe: Any, timeout: float, *processes: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            assert process.poll() is None, f"{process.args!r} exited ({process.returncode})"
        try:
            found = probe()
        except httpx.TransportError:
            found = None
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def test_servers_and_a_worker_from_the_units_run_a_job_and_a_billing_run(
    fresh_database: str, tmp_path: Path
) -> None:
    seeded = Seeded(fresh_database)
    port = free_port()
    metrics_port = free_port(port)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT / "src"),
        "AISC_DATABASE_URL": fresh_database,
        "AISC_DATA_DIR": os.environ["AISC_DATA_DIR"],  # the audit key the seeding made
        "AISC_HOST": "127.0.0.1",
        "AISC_PORT": str(port),
        "AISC_EXECUTOR": "local",
        "AISC_JOB_ISOLATION": "none",
        "AISC_SCHEDULER_INTERVAL_S": "0.5",
        "AISC_LOG_FORMAT": "json",
    }
    server_cmd = unit_command("aisc-server.service")
    worker_cmd = unit_command("aisc-worker.service")
    worker_cmd[worker_cmd.index("--metrics-port") + 1] = str(metrics_port)
    logs: dict[str, IO[bytes]] = {
        name: (tmp_path / f"{name}.{stream}").open("wb")
        for name in ("server", "worker")
        for stream in ("out",)
    }
    server = subprocess.Popen(
        server_cmd, env=env, cwd=tmp_path, stdout=logs["server"], stderr=subprocess.STDOUT
    )
    worker = subprocess.Popen(
        worker_cmd, env=env, cwd=tmp_path, stdout=logs["worker"], stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    pi = {"Authorization": f"Bearer {seeded.pi_token}"}
    finance = {"Authorization": f"Bearer {seeded.finance_token}"}
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            wait_for(
                "the servers answer",
                lambda: http.get("/healthz").status_code == 200,
                60,
                server,
                worker,
            )
            submitted = http.post(
                "/api/v1/jobs",
                headers=pi,
                json={
                    "award_id": seeded.award_id,
                    "submitted_by_id": seeded.pi,
                    "name": "ci",
                    "partition": "training",
                    "gpus_per_node": 1,
                    "walltime_s": 300,
                    "command": [sys.executable, "-c", "print(sum(range(10)))"],
                },
            )
            assert submitted.status_code == 201, submitted.text
            job_id = submitted.json()["id"]

            def finished() -> dict[str, Any] | None:
                job = http.get(f"/api/v1/jobs/{job_id}", headers=pi).json()
                return job if job["state"] not in ("pending", "running") else None

            job = wait_for("the job finishes", finished, 45, server, worker)
            assert job["state"] == "completed", job
            # The separate worker ran it: its own figures say so.
            figures = httpx.get(f"http://127.0.0.1:{metrics_port}/", timeout=10).text
            assert "aisc_jobs_started_total 1.0" in figures
            assert "aisc_jobs_finished_total 1.0" in figures

            month = f"{seeded.last_month:%Y-%m}"
            run = http.post("/api/v1/billing/runs", headers=finance, json={"month": month})
            assert run.status_code == 200, run.text
            assert [i["award_id"] for i in run.json()["issued"]] == [seeded.award_id]
            invoices = http.get("/api/v1/invoices", headers=finance, params={"month": month})
            assert invoices.status_code == 200, invoices.text
            (invoice,) = invoices.json()
            assert invoice["award_id"] == seeded.award_id
            assert invoice["list_cents"] > 0
        reconcile = subprocess.run(
            [sys.executable, "-m", "aisc.cli", "billing", "reconcile", "--month", month],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    finally:
        worker_rc = stop(worker)
        stop(server)
        for log in logs.values():
            log.close()
    assert worker_rc == 0, (tmp_path / "worker.out").read_text()[-3000:]
    # The servers logged as JSON lines (AISC_LOG_FORMAT=json), the access log included.
    entries = [
        json.loads(line)
        for line in (tmp_path / "server.out").read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(
        e.get("method") == "POST" and e.get("path") == "/api/v1/jobs" and e.get("status") == 201
        for e in entries
    ), (tmp_path / "server.out").read_text()[-3000:]
