"""Crashes: ``kill -9`` the worker and the server while real jobs run, then check what is left.

Builds a fresh centre (a SQLite file by default, ``--db postgres`` for PostgreSQL: its ``public``
schema is dropped, name a dedicated database), with one tenant holding an award of 16 H800 cards
and an API token, starts ``aisc serve`` and ``aisc worker`` as real processes on loopback, and
then, while clients submit ``--jobs`` small real jobs through the API (each sleeps 1-5 s and
writes a line) and the local executor runs them, kills the worker or the server (a seeded draw)
with SIGKILL at random moments, ``--kills`` times at least, restarting each after a random pause.
When everything has settled it checks:

- every acknowledged submission (201) is exactly one job; an unacknowledged one (the connection
  dropped by a kill after the request was sent) made one job or none, never two;
- every job is in a final state, reached once (one ``job.finish`` event), and ran to its end once
  (one line in its project's space);
- usage is recorded once per attempt that ran, and ends when the job's process ended (the
  wrapper's recorded end in the run directory), not when the platform came back;
- after the month's billing run, ``aisc billing reconcile`` and ``aisc audit verify`` pass.

It prints the timeline of kills and restarts and the result (``--json`` for the figures as JSON)
and exits non-zero when an invariant does not hold.

    .venv/bin/python benchmarks/chaos.py                       # 200 jobs, >= 20 kills
    .venv/bin/python benchmarks/chaos.py --jobs 30 --kills 6 --seed 7
    .venv/bin/python benchmarks/chaos.py --db postgres --postgres-url postgresql://...

The test suite runs a short version (``tests/test_chaos.py``) through ``run_chaos``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
FINAL = {"completed", "failed", "timeout", "cancelled"}
# How far a usage record's end may lie from the wrapper's recorded end: the loop's and the
# wrapper's clocks are the same machine's; what remains is rounding and the start's bookkeeping.
END_TOLERANCE_S = 1.0


@dataclass
class Config:
    jobs: int = 200
    kills: int = 20
    max_kills: int = 0  # go on killing while the clients submit, up to this many (0: 3 x kills)
    clients: int = 4
    seed: int = 1
    db: str = "sqlite"  # or "postgres"
    postgres_url: str = ""
    port: int = 0  # 0: a free one
    workdir: Path | None = None
    submit_seconds: float = 240.0  # the clients spread their submissions over about this long
    kill_gap_s: tuple[float, float] = (0.5, 3.0)  # between a restart and the next kill
    pause_s: tuple[float, float] = (0.2, 2.5)  # between a kill and the restart
    job_seconds: tuple[int, int] = (1, 5)
    settle_timeout_s: float = 180.0
    scheduler_interval_s: float = 0.5


@dataclass
class Event:
    at: float  # seconds since the chaos began
    what: str  # "kill" or "start"
    target: str  # "worker" or "server"
    pid: int
    running_jobs: int | None = None
    up_after_s: float | None = None  # for a start: how long until it answered (server) or ran


@dataclass
class Result:
    config: dict[str, Any]
    timeline: list[Event] = field(default_factory=list)
    kills: dict[str, int] = field(default_factory=dict)
    acknowledged: int = 0
    unacknowledged_with_job: int = 0
    unacknowledged_without_job: int = 0
    connections_refused: int = 0
    jobs: int = 0
    states: dict[str, int] = field(default_factory=dict)
    usage_records: int = 0
    attempts: int = 0
    requeued: int = 0
    adopted: int = 0
    end_offset_max_s: float = 0.0
    chaos_seconds: float = 0.0
    settle_seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _isolation() -> str:
    from aisc.executors import sandbox

    # As the test suite does: sandboxed where the machine allows it (root with Bubblewrap).
    if sandbox.unavailable() and os.environ.get("AISC_TEST_ISOLATION") != "1":
        return "none"
    return "sandbox"


def _wipe_postgres(url: str) -> None:
    engine = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """This process's environment as the platform's processes see it (the audit key file)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- the centre ------------------------------------------------------------------------------


def seed(engine: Engine, now: datetime) -> dict[str, Any]:
    """A scheme, a price list, 4 H800 nodes, one tenant with an active award of 16 cards from
    the first of this month, and a write token for its PI. Through the services only."""
    from aisc.access import SYSTEM
    from aisc.accounts import auth
    from aisc.accounts import service as accounts
    from aisc.accounts.models import OrgCategory, Role
    from aisc.accounts.schemas import OrganisationCreate, PersonCreate
    from aisc.applications import service as applications
    from aisc.applications.schemas import ApplicationCreate
    from aisc.awards import service as awards
    from aisc.cluster import service as cluster
    from aisc.cluster.catalogue import H800
    from aisc.cluster.schemas import NodeIn, PartitionIn
    from aisc.context import Ctx
    from aisc.db.engine import make_sessionmaker, transaction
    from aisc.pricing import service as pricing
    from aisc.pricing.schemas import PriceListCreate
    from aisc.review import decisions
    from aisc.review import service as review
    from aisc.review.schemas import DecisionCreate, DeclarationIn, ScoresIn
    from aisc.scheme import service as scheme_service
    from aisc.scheme.schemas import SchemeCreate

    factory = make_sessionmaker(engine)
    month = date(now.year, now.month, 1)
    # The application's story happens in the month before; the award starts this month.
    before = datetime(month.year, month.month, 1, 9, tzinfo=UTC) - timedelta(days=40)

    @contextlib.contextmanager
    def uow(at: datetime) -> Iterator[Ctx]:
        with transaction(factory) as db:
            yield Ctx(db=db, now=at, actor=SYSTEM.label)

    def person(ctx: Ctx, email: str, roles: list[Role], orgs: list[int]) -> int:
        data = PersonCreate(
            email=email, name=email.split("@")[0], roles=roles, organisation_ids=orgs
        )
        return accounts.create_person(ctx, data=data).id

    with uow(before) as ctx:
        cluster.ensure_catalogue(ctx)
        cluster.upsert_partition(ctx, data=PartitionIn(name="training", max_walltime_hours=24))
        for i in range(4):
            cluster.upsert_node(
                ctx,
                data=NodeIn(
                    name=f"h800-{i:03d}",
                    gpu_model=H800,
                    gpu_count=8,
                    cpu_cores=128,
                    memory_gb=2048,
                    partition="training",
                    installed_on=date(2024, 10, 1),
                ),
            )
        scheme_service.init_scheme(ctx, data=SchemeCreate())
        pricing.create_price_list(
            ctx,
            data=PriceListCreate.model_validate(
                {
                    "version": "v1",
                    "effective_from": date(2024, 10, 1),
                    "items": [
                        {
                            "gpu_model": H800,
                            "card_month_hkd": Decimal("30000"),
                            "gpu_hour_hkd": Decimal("45"),
                        }
                    ],
                }
            ),
        )
        org = accounts.create_organisation(
            ctx, data=OrganisationCreate(name="Harbour University", category=OrgCategory.UNIVERSITY)
        ).id
        pi = person(ctx, "pi@chaos.example", [Role.APPLICANT], [org])
        secretariat = person(ctx, "sec@chaos.example", [Role.SECRETARIAT], [])
        reviewers = [person(ctx, f"rev{i}@chaos.example", [Role.REVIEWER], []) for i in range(2)]
        app_id = applications.create_application(
            ctx,
            data=ApplicationCreate.model_validate(
                {
                    "organisation_id": org,
                    "created_by_id": pi,
                    "title": "Crash-tolerant training",
                    "domain": "llm",
                    "summary": "Small jobs, many restarts.",
                    "hk_relevance": "Serves Hong Kong's public services.",
                    "local_rnd_staff": 6,
                    "nonlocal_rnd_staff": 1,
                    "compute": {
                        "kind": "dedicated",
                        "gpu_model": H800,
                        "gpu_cards": 16,
                        "months": 6,
                        "preferred_start": month.isoformat(),
                    },
                    "declarations": {
                        "no_double_funding": True,
                        "information_true": True,
                        "consent_disclosure": True,
                        "legal_compliance": True,
                    },
                }
            ),
        ).id
        applications.submit(ctx, application_id=app_id)
        applications.start_screening(ctx, application_id=app_id)
        applications.start_review(ctx, application_id=app_id)
        codes = ["alignment", "compute_reasonableness", "capability", "impact"]
        for reviewer in reviewers:
            review.assign_reviewer(ctx, application_id=app_id, reviewer_id=reviewer)
            review.declare(
                ctx, application_id=app_id, reviewer_id=reviewer, data=DeclarationIn(conflict=False)
            )
            review.submit_scores(
                ctx,
                application_id=app_id,
                reviewer_id=reviewer,
                data=ScoresIn.model_validate({"scores": {c: {"score": 8} for c in codes}}),
            )
    with uow(before + timedelta(days=1)) as ctx:
        decision = DecisionCreate.model_validate(
            {"outcome": "approve", "decided_by_id": secretariat}
        )
        decisions.decide(ctx, application_id=app_id, data=decision)
        award = awards.list_awards(ctx)[0]
        awards.accept(ctx, award_id=award.id)
        award_id = award.id
    with uow(now) as ctx:
        secret, _ = auth.create_token(
            ctx, person_id=pi, name="chaos clients", scopes=["read", "write"], days=30
        )
    return {"award_id": award_id, "person_id": pi, "token": secret, "month": month}


# --- the processes ---------------------------------------------------------------------------


class Platform:
    """``aisc serve`` and ``aisc worker`` as real processes, killed and restarted at will."""

    def __init__(self, env: dict[str, str], port: int, logs: Path) -> None:
        self.env = env
        self.port = port
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes] | None] = {"server": None, "worker": None}
        self.lock = threading.Lock()
        self.starts: Counter[str] = Counter()

    def command(self, target: str) -> list[str]:
        aisc = [sys.executable, "-m", "aisc.cli"]
        if target == "server":
            return [*aisc, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        return [*aisc, "worker"]

    def start(self, target: str) -> int:
        with self.lock:
            self.starts[target] += 1
            log = open(self.logs / f"{target}-{self.starts[target]}.log", "wb")  # noqa: SIM115
            process = subprocess.Popen(
                self.command(target),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.logs,
            )
            log.close()
            self.processes[target] = process
            return process.pid

    def kill(self, target: str) -> int:
        """SIGKILL the process alone: what it started (a job's launcher) lives on, as after a
        real crash."""
        with self.lock:
            process = self.processes[target]
            assert process is not None
            process.send_signal(signal.SIGKILL)
            process.wait()
            self.processes[target] = None
            return process.pid

    def alive(self, target: str) -> bool:
        process = self.processes[target]
        return process is not None and process.poll() is None

    def stop(self) -> None:
        for target in ("worker", "server"):
            process = self.processes[target]
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            self.processes[target] = None

    def wait_up(self, target: str, timeout: float = 120.0) -> None:
        """Until the server answers, or the worker says it runs its loops."""
        if target == "server":
            self.wait_ready(timeout)
            return
        deadline = time.monotonic() + timeout
        log = self.logs / f"worker-{self.starts['worker']}.log"
        while time.monotonic() < deadline:
            if not self.alive("worker"):
                raise RuntimeError(f"the worker exited; see {log}")
            if b"worker running" in log.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"the worker did not start within {timeout:.0f} s")

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive("server"):
                raise RuntimeError(f"the server exited; see {self.logs}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


# --- the clients -----------------------------------------------------------------------------


class Clients:
    """Threads submitting jobs through the API with a bearer token, each under a unique name."""

    def __init__(self, config: Config, base: str, token: str, award_id: int, rng: random.Random):
        self.config = config
        self.base = base
        self.token = token
        self.award_id = award_id
        self.durations = [rng.randint(*config.job_seconds) for _ in range(config.jobs * 2)]
        self.acknowledged: dict[str, int] = {}
        self.unacknowledged: list[str] = []
        self.refused_connections = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.next = 0
        self.in_flight = 0
        self.done = threading.Event()

    def body(self, name: str, seconds: int) -> dict[str, Any]:
        # Writes its line at the end only: a run cut short never counts as having run.
        program = (
            "import os, time\n"
            f"time.sleep({seconds})\n"
            "line = os.environ['AISC_JOB_ID'] + ' ' + str(os.getpid()) + '\\n'\n"
            "fd = os.open(os.path.join(os.environ['HOME'], 'ran.log'),"
            " os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)\n"
            "os.write(fd, line.encode())\n"
            "os.close(fd)\n"
            f"print('{name} done')\n"
        )
        return {
            "award_id": self.award_id,
            "name": name,
            "partition": "training",
            "gpus_per_node": 1,
            "walltime_s": 600,
            "command": [sys.executable, "-c", program],
        }

    def take(self) -> tuple[str, int] | None:
        with self.lock:
            wanted = self.config.jobs - len(self.acknowledged) - self.in_flight
            if wanted <= 0 or len(self.errors) >= 10:
                return None
            index = self.next
            self.next += 1
            self.in_flight += 1
        return f"chaos-{index}", self.durations[index % len(self.durations)]

    def run_one(self, client: httpx.Client, gap: float, rng: random.Random) -> bool:
        taken = self.take()
        if taken is None:
            return False
        name, seconds = taken
        while True:
            try:
                answer = client.post("/api/v1/jobs", json=self.body(name, seconds))
            except httpx.ConnectError:
                # Nothing was sent: the server is down. Try the same submission again shortly.
                with self.lock:
                    self.refused_connections += 1
                time.sleep(0.2)
                continue
            except httpx.TransportError:
                with self.lock:
                    self.unacknowledged.append(name)
                break
            if answer.status_code == 201:
                with self.lock:
                    self.acknowledged[name] = int(answer.json()["id"])
            elif answer.status_code >= 500:
                with self.lock:
                    self.unacknowledged.append(name)
            else:
                with self.lock:
                    self.errors.append(f"{name}: {answer.status_code} {answer.text[:200]}")
            break
        with self.lock:
            self.in_flight -= 1
        time.sleep(rng.uniform(0, 2 * gap))
        return True

    def client_loop(self, n: int) -> None:
        rng = random.Random(self.config.seed * 1000 + n)
        gap = self.config.submit_seconds * self.config.clients / max(self.config.jobs, 1)
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30.0) as client:
            while self.run_one(client, gap, rng):
                pass

    def run(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.client_loop, args=(n,), name=f"chaos-client-{n}")
            for n in range(self.config.clients)
        ]
        for thread in threads:
            thread.start()
        return threads


# --- the chaos -------------------------------------------------------------------------------


def _running_jobs(engine: Engine) -> int | None:
    with contextlib.suppress(Exception), engine.connect() as connection:
        return int(
            connection.execute(text("SELECT count(*) FROM jobs WHERE state = 'running'")).scalar()
            or 0
        )
    return None


def _chaos(
    config: Config,
    platform: Platform,
    clients_done: threading.Event,
    engine: Engine,
    rng: random.Random,
    began: float,
    result: Result,
) -> None:
    """Kill and restart until the clients are done and enough kills were made."""
    most = config.max_kills or 3 * config.kills
    while sum(result.kills.values()) < config.kills or (
        not clients_done.is_set() and sum(result.kills.values()) < most
    ):
        time.sleep(rng.uniform(*config.kill_gap_s))
        target = rng.choice(["worker", "server"])
        running = _running_jobs(engine)
        pid = platform.kill(target)
        result.kills[target] = result.kills.get(target, 0) + 1
        result.timeline.append(Event(time.monotonic() - began, "kill", target, pid, running))
        time.sleep(rng.uniform(*config.pause_s))
        pid = platform.start(target)
        started = Event(time.monotonic() - began, "start", target, pid)
        result.timeline.append(started)
        # The next kill is drawn from when the process is up again: killed while still
        # importing, it would never do anything, and the run would test nothing but start-up.
        platform.wait_up(target)
        started.up_after_s = round(time.monotonic() - began - started.at, 1)


def _settle(config: Config, engine: Engine) -> bool:
    deadline = time.monotonic() + config.settle_timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            open_jobs = connection.execute(
                text("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')")
            ).scalar()
        if not open_jobs:
            return True
        time.sleep(0.5)
    return False


# --- the checks ------------------------------------------------------------------------------


def _wrapper_end(run_dir: str | None, attempt: int) -> float | None:
    if not run_dir:
        return None
    from aisc.executors.local import read_exit

    found = read_exit(Path(run_dir) / f"{attempt}-0.exit")
    return found.ended


def check(
    engine: Engine,
    clients: Clients,
    result: Result,
    space_root: Path,
) -> None:
    from aisc.audit.models import AuditEvent
    from aisc.jobs.models import Job
    from aisc.metering.models import UsageRecord

    fail = result.failures.append
    with engine.connect() as connection:
        jobs = list(connection.execute(select(Job.__table__)).mappings())
        usage = list(connection.execute(select(UsageRecord.__table__)).mappings())
        events = list(
            connection.execute(
                select(AuditEvent.action, AuditEvent.object_id).where(
                    AuditEvent.object_type == "job"
                )
            )
        )
    by_name: dict[str, list[Any]] = defaultdict(list)
    for job in jobs:
        by_name[job["name"]].append(job)
    result.jobs = len(jobs)
    result.states = dict(Counter(str(job["state"]) for job in jobs))
    result.acknowledged = len(clients.acknowledged)
    result.connections_refused = clients.refused_connections
    for error in clients.errors:
        fail(f"a submission was refused: {error}")

    for name, job_id in clients.acknowledged.items():
        found = by_name.get(name, [])
        if [j["id"] for j in found] != [job_id]:
            fail(f"acknowledged {name} (job {job_id}) is jobs {[j['id'] for j in found]}")
    for name in clients.unacknowledged:
        count = len(by_name.get(name, []))
        if count == 1:
            result.unacknowledged_with_job += 1
        elif count == 0:
            result.unacknowledged_without_job += 1
        else:
            fail(f"unacknowledged {name} made {count} jobs")
    submitted = set(clients.acknowledged) | set(clients.unacknowledged)
    for name in sorted(set(by_name) - submitted):
        fail(f"job(s) {[j['id'] for j in by_name[name]]} named {name!r} were never submitted")

    actions: dict[str, Counter[str]] = defaultdict(Counter)
    for action, object_id in events:
        actions[object_id][action] += 1
    ran: Counter[int] = Counter()
    for log in space_root.glob("*/ran.log"):
        for line in log.read_text().splitlines():
            ran[int(line.split()[0])] += 1
    usage_by_job: dict[int, list[Any]] = defaultdict(list)
    for row in usage:
        usage_by_job[row["job_id"]].append(row)
    result.usage_records = len(usage)
    for job in jobs:
        job_id, state = job["id"], str(job["state"])
        seen = actions[str(job_id)]
        result.attempts += job["attempt"]
        result.requeued += seen["job.requeue"]
        result.adopted += seen["job.adopt"]
        if state not in FINAL:
            fail(f"job {job_id} is stuck {state} ({job['reason']})")
            continue
        if seen["job.finish"] != 1:
            fail(f"job {job_id} reached a final state {seen['job.finish']} times")
        if seen["job.start"] != job["attempt"]:
            fail(f"job {job_id} has {seen['job.start']} starts for {job['attempt']} attempts")
        if state != "completed":
            fail(f"job {job_id} ended {state}: {job['reason']}")
        if ran[job_id] != (1 if state == "completed" else 0):
            fail(f"job {job_id} ({state}) ran to its end {ran[job_id]} times")
        records = usage_by_job.get(job_id, [])
        expected = 1 if job["attempt"] else 0
        if len(records) != expected:
            fail(f"job {job_id}: {len(records)} usage records for {expected} finished attempt")
            continue
        if not records:
            continue
        ended = _wrapper_end(job["run_dir"], job["attempt"])
        if ended is None:
            fail(f"job {job_id}: no end recorded by its wrapper")
            continue
        recorded = records[0]["ended_at"]
        if recorded.tzinfo is None:
            recorded = recorded.replace(tzinfo=UTC)
        offset = recorded.timestamp() - ended
        if abs(offset) > abs(result.end_offset_max_s):
            result.end_offset_max_s = round(offset, 3)
        if abs(offset) > END_TOLERANCE_S:
            fail(
                f"job {job_id}: usage ends {offset:+.1f} s from the process's end "
                f"({recorded.isoformat()})"
            )


def bill_and_verify(engine: Engine, env: dict[str, str], month: date, result: Result) -> None:
    """The month's billing run (as at the month's end), then the CLI's reconcile and verify."""
    from aisc.access import SYSTEM
    from aisc.billing import charging
    from aisc.billing.months import next_month
    from aisc.context import Ctx
    from aisc.db.engine import make_sessionmaker, transaction

    end = next_month(month)
    with transaction(make_sessionmaker(engine)) as db:
        ctx = Ctx(
            db=db, now=datetime(end.year, end.month, end.day, 1, tzinfo=UTC), actor=SYSTEM.label
        )
        charging.run_month(ctx, month=month)
    aisc = [sys.executable, "-m", "aisc.cli"]
    for args in (["billing", "reconcile", "--month", f"{month:%Y-%m}"], ["audit", "verify"]):
        done = subprocess.run(
            [*aisc, *args], env=env, capture_output=True, text=True, check=False, timeout=300
        )
        if done.returncode != 0:
            result.failures.append(
                f"aisc {' '.join(args)} failed: {(done.stdout + done.stderr).strip()[-500:]}"
            )


# --- the whole run ---------------------------------------------------------------------------


def run_chaos(config: Config) -> Result:
    from aisc.db.engine import make_engine
    from aisc.db.migrate import upgrade

    rng = random.Random(config.seed)
    result = Result(config={k: str(v) for k, v in asdict(config).items() if k != "postgres_url"})
    with contextlib.ExitStack() as stack:
        workdir = config.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        if config.db == "postgres":
            if not config.postgres_url:
                raise SystemExit("--postgres-url (or AISC_CHAOS_POSTGRES_URL) is needed")
            url = config.postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
            _wipe_postgres(url)
        else:
            url = f"sqlite:///{workdir / 'chaos.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AISC_")}
        env.update(
            PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            AISC_DATABASE_URL=url,
            AISC_DATA_DIR=str(workdir),
            AISC_AUDIT_KEY_FILE=str(workdir / "audit.key"),
            AISC_RUN_DIR=str(workdir / "runs"),
            AISC_EXECUTOR="local",
            AISC_JOB_ISOLATION=_isolation(),
            AISC_SCHEDULER_INTERVAL_S=str(config.scheduler_interval_s),
            AISC_LOG_LEVEL="warning",
            PYTHONUNBUFFERED="1",
        )
        stack.enter_context(_environ({"AISC_AUDIT_KEY_FILE": env["AISC_AUDIT_KEY_FILE"]}))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine)
        seeded = seed(engine, datetime.now(UTC))
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        port = config.port or free_port()
        platform = Platform(env, port, logs)
        stack.callback(platform.stop)
        platform.start("server")
        platform.start("worker")
        platform.wait_up("server")
        platform.wait_up("worker")
        clients = Clients(
            config, f"http://127.0.0.1:{port}", seeded["token"], seeded["award_id"], rng
        )
        began = time.monotonic()
        threads = clients.run()
        done = threading.Event()
        chaos = threading.Thread(
            target=_chaos, args=(config, platform, done, engine, rng, began, result)
        )
        chaos.start()
        for thread in threads:
            thread.join()
        done.set()
        chaos.join()
        result.chaos_seconds = round(time.monotonic() - began, 1)
        settled = time.monotonic()
        if not _settle(config, engine):
            result.failures.append(f"jobs still open after {config.settle_timeout_s:.0f} s")
        result.settle_seconds = round(time.monotonic() - settled, 1)
        platform.stop()
        check(engine, clients, result, Path(env["AISC_RUN_DIR"]) / "projects")
        bill_and_verify(engine, env, seeded["month"], result)
    return result


def summary(result: Result) -> str:
    lines = ["timeline (seconds since the chaos began):"]
    for event in result.timeline:
        running = f"  ({event.running_jobs} jobs running)" if event.running_jobs is not None else ""
        if event.up_after_s is not None:
            running = f"  (up {event.up_after_s} s later)"
        lines.append(f"  {event.at:7.1f}  {event.what:5} {event.target:6} pid {event.pid}{running}")
    kills = sum(result.kills.values())
    lines += [
        f"kills: {kills} ({result.kills.get('worker', 0)} worker, "
        f"{result.kills.get('server', 0)} server) over {result.chaos_seconds} s; "
        f"settled {result.settle_seconds} s later",
        f"submissions: {result.acknowledged} acknowledged; unacknowledged "
        f"{result.unacknowledged_with_job} with a job, {result.unacknowledged_without_job} "
        f"without; {result.connections_refused} connections refused (retried)",
        f"jobs: {result.jobs} {result.states}; {result.attempts} attempts, {result.requeued} "
        f"requeued, {result.adopted} adopted after a crash mid-start",
        f"usage: {result.usage_records} records; largest distance from the process's end "
        f"{result.end_offset_max_s:+.3f} s",
    ]
    if result.ok:
        lines.append(
            "OK: every acknowledged submission is one job, every job final once, usage once per "
            "attempt ending at the process's end, billing reconciles, audit chain verifies"
        )
    else:
        lines.append(f"FAILED ({len(result.failures)}):")
        lines += [f"  {failure}" for failure in result.failures[:50]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("AISC_CHAOS_POSTGRES_URL", ""),
        help="a dedicated database: its public schema is dropped",
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="keep the database, logs and runs here")
    parser.add_argument("--submit-seconds", type=float, default=240.0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    config = Config(
        jobs=args.jobs,
        kills=args.kills,
        clients=args.clients,
        seed=args.seed,
        db=args.db,
        postgres_url=args.postgres_url,
        port=args.port,
        workdir=args.workdir,
        submit_seconds=args.submit_seconds,
    )
    result = run_chaos(config)
    print(json.dumps(result.as_json(), indent=2, default=str) if args.json else summary(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(SRC))
    raise SystemExit(main())
