"""A public page under a flood of failed sign-ins.

Starts a real server (``aisc serve`` on loopback, production-cost argon2) on a fresh database
with one person, times a public GET (``/api/v1/scheme/stats``, one after another) alone, then
again while ``--clients`` clients (asyncio, in a process of their own) flood
``POST /api/v1/auth/login`` with wrong passwords (for the person and for unknown e-mails,
alternately) for ``--seconds``. Prints the GET's median, p99 and maximum,
idle and under the flood, and how the flood was answered (401 refused after a hash, 429 limited).
Target: with 8 flooding clients the GET keeps a median under 50 ms and a p99 under 200 ms.

    .venv/bin/python benchmarks/login_flood.py [--clients 8] [--seconds 20]
    .venv/bin/python benchmarks/login_flood.py --backend postgresql \\
        --postgres-url postgresql://user:pw@127.0.0.1/aisc_bench   # (or AISC_BENCH_POSTGRES_URL)
    .venv/bin/python benchmarks/login_flood.py --sign-in-per-minute 1000000 --hash-concurrency 8
                                                  # no rate limit, no hash bound: the lock fix alone
    .venv/bin/python benchmarks/login_flood.py --src ../old/src   # another checkout's code

The PostgreSQL database is wiped (its ``public`` schema is dropped): name a dedicated one.
Everything runs on loopback; each flooding client stops after ``--seconds`` or
``--max-requests`` attempts, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
EMAIL = "flood-target@bench.example"
PASSWORD = "Harbour-Lights-2025"
PUBLIC = "/api/v1/scheme/stats"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aisc(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from aisc.cli.main import main; main()", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"aisc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wipe_postgres(url: str) -> None:
    engine = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def prepare(args: argparse.Namespace, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISC_")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(args.src).resolve()), str(HERE.parent)])
    env["AISC_DATA_DIR"] = str(workdir)
    if args.backend == "postgresql":
        if not args.postgres_url:
            raise SystemExit("--postgres-url (or AISC_BENCH_POSTGRES_URL) is needed")
        url = args.postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
        wipe_postgres(url)
        env["AISC_DATABASE_URL"] = url
    else:
        env["AISC_DATABASE_URL"] = f"sqlite:///{workdir / 'flood.db'}"
    env["AISC_SIGN_IN_PER_MINUTE"] = str(args.sign_in_per_minute)
    if args.hash_concurrency:
        env["AISC_SIGN_IN_HASH_CONCURRENCY"] = str(args.hash_concurrency)
    aisc(env, "db", "upgrade")
    aisc(env, "scheme", "init")
    created = aisc(env, "person", "create", "--email", EMAIL, "--name", "Flood Target", "--json")
    person_id = json.loads(created)["id"]
    aisc(env, "person", "set-password", str(person_id), stdin=PASSWORD + "\n")
    return env


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def describe(label: str, latencies: list[float]) -> str:
    ms = [v * 1000 for v in latencies]
    return (
        f"{label:<22} n={len(ms):>5}  median {statistics.median(ms):8.1f} ms  "
        f"p99 {percentile(ms, 0.99):8.1f} ms  max {max(ms):8.1f} ms"
    )


def time_public(base: str, stop: float, gap: float) -> list[float]:
    """The timed GETs, one after another (in this process, apart from the flood's)."""
    latencies = []
    with httpx.Client(base_url=base, timeout=60.0) as client:
        client.get(PUBLIC)  # connect
        while time.monotonic() < stop:
            started = time.perf_counter()
            answer = client.get(PUBLIC)
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise SystemExit(f"GET {PUBLIC} answered {answer.status_code}: {answer.text[:200]}")
            time.sleep(gap)
    return latencies


async def flood_client(
    client: httpx.AsyncClient, n: int, stop: float, limit: int, answers: collections.Counter[str]
) -> None:
    for i in range(limit):
        if time.monotonic() >= stop:
            return
        email = EMAIL if i % 2 == 0 else f"nobody-{n}-{i}@bench.example"
        try:
            answer = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": f"wrong-{i}"}
            )
            answers[str(answer.status_code)] += 1
        except httpx.HTTPError as exc:
            answers[type(exc).__name__] += 1


def flood(base: str, clients: int, seconds: float, limit: int, nice: int, out: Any) -> None:
    """The flooding clients, in a process of their own (so they never delay the timer's GETs
    on the client side: only the server is measured), at a lower CPU priority: attackers run on
    their own machines, and on loopback the flood's client CPU would otherwise be charged to
    the server."""
    os.nice(nice)

    async def run() -> collections.Counter[str]:
        answers: collections.Counter[str] = collections.Counter()
        stop = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:
            await asyncio.gather(
                *(flood_client(client, n, stop, limit, answers) for n in range(clients))
            )
        return answers

    out.put(dict(asyncio.run(run())))


def measure(base: str, args: argparse.Namespace) -> None:
    idle = time_public(base, time.monotonic() + args.idle_seconds, args.gap)
    results: multiprocessing.Queue[dict[str, int]] = multiprocessing.Queue()
    flooder = multiprocessing.Process(
        target=flood,
        args=(base, args.clients, args.seconds, args.max_requests, args.flood_nice, results),
    )
    flooder.start()
    time.sleep(0.5)  # let the flood start
    busy = time_public(base, time.monotonic() + args.seconds - 0.5, args.gap)
    answers = results.get(timeout=args.seconds + 120)
    flooder.join(30)
    print(describe("public GET, idle", idle))
    print(describe(f"public GET, {args.clients} flooding", busy))
    total = sum(answers.values())
    print(
        f"flood: {total} sign-in attempts in {args.seconds:.0f} s "
        f"({total / args.seconds:.1f}/s): "
        + ", ".join(f"{code}: {count}" for code, count in sorted(answers.items()))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("AISC_BENCH_POSTGRES_URL", ""),
        help="a dedicated PostgreSQL database (wiped); default AISC_BENCH_POSTGRES_URL",
    )
    parser.add_argument("--clients", type=int, default=8, help="flooding clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the flood")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="GETs before the flood")
    parser.add_argument("--max-requests", type=int, default=5000, help="per flooding client")
    parser.add_argument(
        "--flood-nice", type=int, default=10, help="CPU niceness of the flooding process"
    )
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between timed GETs")
    parser.add_argument(
        "--sign-in-per-minute",
        type=int,
        default=10,
        help="the server's per-address sign-in limit (raise it to measure without it)",
    )
    parser.add_argument(
        "--hash-concurrency",
        type=int,
        default=0,
        help="the server's concurrent password checks (default: the server's own default)",
    )
    parser.add_argument("--src", default=str(HERE.parent / "src"), help="the aisc code to serve")
    args = parser.parse_args()
    if args.clients < 1 or args.seconds <= 0 or args.max_requests < 1:
        raise SystemExit("--clients, --seconds and --max-requests must be positive")

    with tempfile.TemporaryDirectory(prefix="aisc-flood-") as tmp:
        workdir = Path(tmp)
        env = prepare(args, workdir)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", "from aisc.cli.main import main; main()", "serve",
             "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / "server.log", "w"),  # noqa: SIM115
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit((workdir / "server.log").read_text()[-3000:])
                time.sleep(0.2)
            print(
                f"backend {args.backend}, code {args.src}, {args.clients} clients, "
                f"{args.seconds:.0f} s, sign-in limit {args.sign_in_per_minute}/min per address, "
                f"{args.hash_concurrency or 'default'} concurrent hashes, "
                f"flood at nice {args.flood_nice}, "
                f"{os.cpu_count()} cores, "
                f"load {os.getloadavg()[0]:.1f}"
            )
            measure(base, args)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
