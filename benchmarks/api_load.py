"""The API under load from many tenants at once: what a centre's users do on a busy day.

``--clients`` concurrent clients (asyncio + httpx, in a process of their own), each the member
of one tenant (an organisation with an approved, accepted, pooled award and an API token of its
applicant; ``--tenants`` of them, clients spread round-robin), loop for ``--duration`` seconds
over a mix of requests, each drawn at random by weight:

- ``stats``        GET /api/v1/scheme/stats (the public dashboard's figures)
- ``jobs``         GET /api/v1/jobs?award_id=..&limit=50 (the tenant's job list)
- ``awards``       GET /api/v1/awards
- ``applications`` GET /api/v1/applications
- ``submit``       POST /api/v1/jobs (a short job: ``sleep 1`` on a whole H800 node)
- ``cancel``       POST /api/v1/jobs/{id}/cancel (one of the client's own earlier submissions)
- ``job``          GET /api/v1/jobs/{id}
- ``page``         GET /projects and /projects/{award} (portal pages, with a session cookie)

The first ``--warmup`` seconds (10) of load are not counted (the server's processes finish
starting and loading templates). It then prints, per kind, requests/s, p50 and p99, and every
answer that is not the expected one (by status, or the exception's name). Errors are counted,
never retried. At the end it counts the jobs in the database: it must equal the submissions
answered 201 ("nothing lost").

Unless ``--url`` names a running server, it builds a fresh database (SQLite file, or the
PostgreSQL database ``--postgres-url`` names, whose ``public`` schema is dropped) and seeds it
in-process through the services, then starts the production shape as subprocesses
(``start_server``, ``start_worker``): the API with two worker processes and, separately, the job
loop. The cluster has 8 H800 nodes of 8 GPUs and every job asks for one whole node for one
second of ``sleep``: the loop runs at most 8 at once, so the queue fills while nothing heavy
runs (``--worker none`` leaves every job pending).

    python benchmarks/api_load.py --clients 50 --duration 60 --db sqlite
    python benchmarks/api_load.py --clients 50 --duration 60 --db postgres \\
        --postgres-url postgresql://postgres:pw@127.0.0.1/aisc_load   # (or AISC_BENCH_POSTGRES_URL)
    python benchmarks/api_load.py --clients 200 --duration 300 --db postgres   # the long run
    python benchmarks/api_load.py --url http://127.0.0.1:8000 --tokens tokens.json

Exit status 1 when any request failed or a job was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
API = "/api/v1"
# Relative weights of the request kinds (see the module docstring).
MIX = {
    "stats": 15,
    "jobs": 15,
    "awards": 8,
    "applications": 7,
    "submit": 30,
    "cancel": 5,
    "job": 10,
    "page": 10,
}
JOB_SECONDS = 1


@dataclass(frozen=True)
class Tenant:
    organisation_id: int
    person_id: int
    award_id: int
    token: str
    cookie: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wipe_postgres(url: str) -> None:
    engine = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def seed(url: str, tenants: int) -> list[Tenant]:
    """A scheme, a cluster and ``tenants`` organisations, each with an active pooled award,
    its applicant's API token and portal session; through the services, in this process."""
    from contextlib import contextmanager

    from tests.factories import World

    from aisc.accounts import auth
    from aisc.accounts import service as accounts
    from aisc.accounts.models import OrgCategory, Person, Role
    from aisc.accounts.schemas import OrganisationCreate, PersonCreate
    from aisc.awards import service as awards
    from aisc.context import Ctx
    from aisc.db.engine import make_engine, make_sessionmaker, transaction
    from aisc.db.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    now = datetime.now(UTC)

    @contextmanager
    def uow(actor: str = "bench") -> Any:
        with transaction(factory) as session:
            yield Ctx(db=session, now=now, actor=actor)

    world = World(uow)
    made = []
    for i in range(tenants):
        with uow() as ctx:
            org = accounts.create_organisation(
                ctx,
                data=OrganisationCreate(
                    name=f"Tenant {i:03d} Lab", category=OrgCategory.UNIVERSITY
                ),
            ).id
            person = accounts.create_person(
                ctx,
                data=PersonCreate(
                    email=f"pi{i:03d}@tenant{i:03d}.example",
                    name=f"PI {i:03d}",
                    roles=[Role.APPLICANT],
                    organisation_ids=[org],
                ),
            ).id
        compute = {
            "kind": "pooled",
            "gpu_cards": None,
            "gpu_hours": 2_000,
            "months": 6,
            "preferred_start": now.date().isoformat(),
        }
        app_id = world.reviewed(organisation_id=org, created_by_id=person, compute=compute)
        world.approve(app_id)
        with uow() as ctx:
            award = next(a for a in awards.list_awards(ctx) if a.application_id == app_id)
            awards.accept(ctx, award_id=award.id)
            secret, _ = auth.create_token(
                ctx, person_id=person, name="load", scopes=["read", "write"], days=2
            )
            cookie, _ = auth.start_session(ctx, person=ctx.db.get(Person, person))
        made.append(Tenant(org, person, award.id, secret, cookie))
    engine.dispose()
    return made


def count_jobs(url: str) -> int:
    from aisc.jobs.models import Job

    engine = create_engine(url)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(Job)).scalar_one()
    engine.dispose()
    return int(total)


# The production shape's processes. Switch these two to ``aisc serve --workers 2`` and
# ``aisc worker`` once the command line has them.
def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    """The API and portal in ``workers`` processes and no job loop: ``aisc serve --workers N``."""
    argv = [sys.executable, "-m", "aisc.cli", "serve", "--workers", str(workers)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(argv, env={**env, "AISC_LOG_LEVEL": "warning"})


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The job loop (local executor) and the outbox's delivery: ``aisc worker``."""
    argv = [sys.executable, "-m", "aisc.cli", "worker"]
    return subprocess.Popen(argv, env={**env, "AISC_LOG_LEVEL": "warning"})


def wait_ready(base: str, timeout: float = 600) -> None:
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server at {base} did not answer /healthz within {timeout:.0f} s")


class Tally:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)
        self.answers: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.errors: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.submitted = 0
        self.warmup_submitted = 0


async def one_client(
    n: int, base: str, tenant: Tenant, start: float, stop: float, tally: Tally, seed_: int
) -> None:
    rng = random.Random(seed_ * 1000 + n)
    kinds, weights = list(MIX), list(MIX.values())
    bearer = {"Authorization": f"Bearer {tenant.token}"}
    # Portal pages go as a browser sends them: the session cookie, no token. One connection
    # per client for both (a second one would sit idle long enough for the server to close it).
    cookie = {"Cookie": f"aisc_session={tenant.cookie}"}
    mine: list[int] = []  # this client's pending submissions, to cancel and read
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
        while time.monotonic() < stop:
            kind = rng.choices(kinds, weights)[0]
            if kind in ("cancel", "job") and not mine:
                kind = "submit"
            expected = {200}
            headers = bearer
            if kind == "stats":
                method, path, body = "GET", f"{API}/scheme/stats", None
            elif kind == "jobs":
                method, path, body = "GET", f"{API}/jobs?award_id={tenant.award_id}&limit=50", None
            elif kind == "awards":
                method, path, body = "GET", f"{API}/awards", None
            elif kind == "applications":
                method, path, body = "GET", f"{API}/applications", None
            elif kind == "submit":
                method, path, expected = "POST", f"{API}/jobs", {201}
                body = {
                    "award_id": tenant.award_id,
                    "partition": "training",
                    "gpus_per_node": 8,
                    "walltime_s": 60,
                    "command": ["sleep", str(JOB_SECONDS)],
                    "name": f"load-{n}",
                }
            elif kind == "cancel":
                job_id = mine.pop(rng.randrange(len(mine)))
                method, path, body = "POST", f"{API}/jobs/{job_id}/cancel", None
                # A job that ran and ended before the cancel arrived is correctly refused.
                expected = {200, 409}
            elif kind == "job":
                method, path, body = "GET", f"{API}/jobs/{rng.choice(mine)}", None
            else:
                headers = cookie
                pages = ["/projects", f"/projects/{tenant.award_id}"]
                method, path, body = "GET", rng.choice(pages), None
            began = time.perf_counter()
            try:
                answer = await client.request(method, path, json=body, headers=headers)
                status = str(answer.status_code)
            except httpx.HTTPError as exc:
                answer, status = None, type(exc).__name__
            elapsed = time.perf_counter() - began
            if time.monotonic() - elapsed < start:  # the warm-up: not counted
                if answer is not None and answer.status_code == 201:
                    tally.warmup_submitted += 1
                    mine.append(answer.json()["id"])
                continue
            tally.latencies[kind].append(elapsed)
            tally.answers[kind][status] += 1
            if answer is None or answer.status_code not in expected:
                text_ = answer.text[:200] if answer is not None else ""
                tally.errors[kind][f"{status} {text_}".strip()] += 1
            elif kind == "submit":
                tally.submitted += 1
                mine.append(answer.json()["id"])
                del mine[:-20]


def drive(
    base: str,
    tenants: list[dict[str, Any]],
    clients: int,
    warmup: float,
    duration: float,
    seed_: int,
    out: Any,
) -> None:
    """The clients, in a process of their own (the measured process is the server)."""

    async def run() -> Tally:
        tally = Tally()
        start = time.monotonic() + warmup
        stop = start + duration
        people = [Tenant(**t) for t in tenants]
        await asyncio.gather(
            *(
                one_client(n, base, people[n % len(people)], start, stop, tally, seed_)
                for n in range(clients)
            )
        )
        return tally

    tally = asyncio.run(run())
    out.put(
        {
            "latencies": dict(tally.latencies),
            "answers": {k: dict(v) for k, v in tally.answers.items()},
            "errors": {k: dict(v) for k, v in tally.errors.items()},
            "submitted": tally.submitted,
            "warmup_submitted": tally.warmup_submitted,
        }
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def report(result: dict[str, Any], duration: float) -> int:
    latencies: dict[str, list[float]] = result["latencies"]
    print(f"{'kind':<13}{'requests':>9}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}  answers")
    total = 0
    reads = 0
    for kind in [*MIX, *sorted(set(latencies) - set(MIX))]:
        values = latencies.get(kind, [])
        if not values:
            continue
        total += len(values)
        if kind in ("stats", "jobs", "awards", "applications", "job"):
            reads += len(values)
        answers = ", ".join(f"{s}: {c}" for s, c in sorted(result["answers"][kind].items()))
        print(
            f"{kind:<13}{len(values):>9}{len(values) / duration:>9.1f}"
            f"{percentile(values, 0.5) * 1000:>9.1f}{percentile(values, 0.99) * 1000:>9.1f}"
            f"  {answers}"
        )
    print(f"all          {total:>9}{total / duration:>9.1f}")
    print(f"API reads    {reads:>9}{reads / duration:>9.1f}")
    errors = sum(sum(v.values()) for v in result["errors"].values())
    print(f"errors: {errors}")
    for kind, problems in result["errors"].items():
        for problem, count in sorted(problems.items(), key=lambda p: -p[1])[:5]:
            print(f"  {kind}: {count} x {problem}")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds of load before, not counted"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("AISC_BENCH_POSTGRES_URL", ""),
        help="a dedicated PostgreSQL database (wiped); default AISC_BENCH_POSTGRES_URL",
    )
    parser.add_argument("--tenants", type=int, default=50, help="organisations with an award")
    parser.add_argument("--workers", type=int, default=2, help="API server processes")
    parser.add_argument("--worker", choices=["loop", "none"], default="loop", help="job loop")
    parser.add_argument("--url", help="a running server (then --tokens is needed)")
    parser.add_argument("--tokens", help="JSON list of tenants (as --save-tokens writes)")
    parser.add_argument("--save-tokens", help="write the seeded tenants to this JSON file")
    parser.add_argument("--port", type=int, default=0, help="for the server (default: any free)")
    parser.add_argument("--seed", type=int, default=1, help="of the request mix")
    parser.add_argument(
        "--src", default=str(HERE.parent / "src"), help="the aisc code to run (a checkout's src)"
    )
    args = parser.parse_args()
    # The seeding runs the services of the same code as the server, and the tests' factories.
    sys.path[:0] = [str(Path(args.src).resolve()), str(HERE.parent)]

    processes: list[subprocess.Popen[bytes]] = []
    database_url = None
    workdir = Path(tempfile.mkdtemp(prefix="aisc-load-"))
    try:
        if args.url:
            if not args.tokens:
                raise SystemExit("--url needs --tokens (a file written by --save-tokens)")
            base = args.url.rstrip("/")
            tenants = json.loads(Path(args.tokens).read_text())
        else:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AISC_")}
            env["PYTHONPATH"] = os.pathsep.join([str(Path(args.src).resolve()), str(HERE.parent)])
            env["AISC_DATA_DIR"] = str(workdir)
            env["AISC_JOB_ISOLATION"] = "none"
            env["AISC_EXECUTOR"] = "local"
            if args.db == "postgres":
                if not args.postgres_url:
                    raise SystemExit("--postgres-url (or AISC_BENCH_POSTGRES_URL) is needed")
                database_url = args.postgres_url.replace(
                    "postgresql://", "postgresql+psycopg://", 1
                )
                wipe_postgres(database_url)
            else:
                database_url = f"sqlite:///{workdir / 'load.db'}"
            env["AISC_DATABASE_URL"] = database_url
            # The seeding writes the audit trail with the key the server will use.
            os.environ.update({k: v for k, v in env.items() if k.startswith("AISC_")})
            began = time.monotonic()
            tenants = [asdict(t) for t in seed(database_url, args.tenants)]
            print(f"seeded {len(tenants)} tenants in {time.monotonic() - began:.1f} s")
            port = args.port or free_port()
            base = f"http://127.0.0.1:{port}"
            processes.append(start_server(env, port, args.workers))
            if args.worker == "loop":
                processes.append(start_worker(env))
            wait_ready(base)
        if args.save_tokens:
            Path(args.save_tokens).write_text(json.dumps(tenants))
        before = count_jobs(database_url) if database_url else 0
        results: multiprocessing.Queue[dict[str, Any]] = multiprocessing.Queue()
        driver = multiprocessing.Process(
            target=drive,
            args=(base, tenants, args.clients, args.warmup, args.duration, args.seed, results),
        )
        shape = f"{args.workers} API processes, job loop: {args.worker}" if not args.url else base
        print(
            f"{args.clients} clients, {len(tenants)} tenants, {args.duration:.0f} s, "
            f"{args.db if not args.url else 'running server'} ({shape})"
        )
        driver.start()
        result = results.get(timeout=args.warmup + args.duration + 600)
        driver.join(30)
        errors = report(result, args.duration)
        lost = 0
        if database_url:
            jobs = count_jobs(database_url) - before
            answered = result["submitted"] + result["warmup_submitted"]
            lost = answered - jobs
            print(
                f"jobs in the database: {jobs}, submissions answered 201 (warm-up included): "
                f"{answered} ({'nothing lost' if lost == 0 else f'{lost} MISSING or extra'})"
            )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    raise SystemExit(1 if errors or lost else 0)


if __name__ == "__main__":
    main()
