"""What one request of each kind of the load mix costs the API process, measured in-process.

The application is built in this process (``aisc.app.create_app``) on a database seeded as the
load test seeds it (``benchmarks/api_load.seed``: tenants with an active pooled award, an API
token and a portal session), and driven one request at a time through httpx's ASGI transport:
no network, no server processes, no other clients. The thread-pool hop of FastAPI's sync
routes is made inline, so the whole request runs in this thread (and ``--profile`` sees it).

For each kind of ``benchmarks/api_load.MIX`` (and a few more: the dashboard and the job's page)
it prints the mean and median milliseconds of CPU and wall time and the SQL statements a request
executes (counted with SQLAlchemy's ``before_cursor_execute``; a pool's pre-ping is not one).
This measures what a request costs, not what a server sustains, and is little disturbed by
other work on the machine: compare its figures before and after a change (``--src``).

    python benchmarks/profile_requests.py                               # SQLite (a temp file)
    python benchmarks/profile_requests.py --db postgresql+psycopg://u:pw@127.0.0.1/aisc_prof
    python benchmarks/profile_requests.py --kind submit --profile 25    # cProfile, top 25
    python benchmarks/profile_requests.py --statements submit           # the SQL of one submit

A PostgreSQL database given with ``--db`` is wiped (its ``public`` schema is dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
API = "/api/v1"


class Counter:
    """SQL statements executed while ``active`` (and their text, when ``keep``)."""

    def __init__(self) -> None:
        self.count = 0
        self.keep = False
        self.texts: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        if self.keep:
            self.texts.append(" ".join(statement.split())[:300])


@contextlib.contextmanager
def inline_threadpool() -> Iterator[None]:
    """FastAPI runs sync routes and dependencies in a worker thread; run them inline."""
    import fastapi.concurrency
    import fastapi.dependencies.utils
    import fastapi.routing
    import starlette.concurrency

    async def inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    modules = [starlette.concurrency, fastapi.routing, fastapi.dependencies.utils]
    modules.append(fastapi.concurrency)
    saved = [(m, getattr(m, "run_in_threadpool", None)) for m in modules]
    for module, _ in saved:
        if hasattr(module, "run_in_threadpool"):
            module.run_in_threadpool = inline  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, original in saved:
            if original is not None:
                module.run_in_threadpool = original  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a temp file) or a URL")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=30, help="jobs per tenant before measuring")
    parser.add_argument("--repeat", type=int, default=60, help="requests measured per kind")
    parser.add_argument("--kind", action="append", help="only these kinds (repeatable)")
    parser.add_argument("--profile", type=int, default=0, help="cProfile: print the top N")
    parser.add_argument("--statements", help="print the SQL of one request of this kind")
    parser.add_argument(
        "--src", default=str(HERE.parent / "src"), help="the aisc code to measure (a src dir)"
    )
    args = parser.parse_args()
    sys.path[:0] = [str(Path(args.src).resolve()), str(HERE.parent)]
    workdir = Path(tempfile.mkdtemp(prefix="aisc-prof-"))
    os.environ.update(
        {"AISC_DATA_DIR": str(workdir), "AISC_JOB_ISOLATION": "none", "AISC_EXECUTOR": "local"}
    )
    os.environ.pop("AISC_AUDIT_KEY_FILE", None)
    if args.db == "sqlite":
        url = f"sqlite:///{workdir / 'prof.db'}"
    else:
        url = args.db.replace("postgresql://", "postgresql+psycopg://", 1)
        from api_load import wipe_postgres

        wipe_postgres(url)
    os.environ["AISC_DATABASE_URL"] = url
    asyncio.run(measure(url, args))


async def measure(url: str, args: argparse.Namespace) -> None:
    import httpx2 as httpx
    from api_load import seed
    from sqlalchemy import event

    from aisc.app import create_app
    from aisc.db.engine import make_engine

    began = time.monotonic()
    tenants = seed(url, args.tenants)
    print(
        f"seeded {len(tenants)} tenants in {time.monotonic() - began:.1f} s ({url.split('@')[-1]})"
    )
    engine = make_engine(url)
    counter = Counter()
    event.listen(engine, "before_cursor_execute", counter)
    app = create_app(engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        tenant_jobs: dict[int, list[int]] = {t.award_id: [] for t in tenants}
        turn = {"n": 0}

        def tenant() -> Any:
            turn["n"] += 1
            return tenants[turn["n"] % len(tenants)]

        def bearer(t: Any) -> dict[str, str]:
            return {"Authorization": f"Bearer {t.token}"}

        def cookie(t: Any) -> dict[str, str]:
            return {"Cookie": f"aisc_session={t.cookie}"}

        async def submit() -> httpx.Response:
            t = tenant()
            body = {
                "award_id": t.award_id,
                "partition": "training",
                "gpus_per_node": 8,
                "walltime_s": 60,
                "command": ["sleep", "1"],
                "name": "prof",
            }
            answer = await client.post(f"{API}/jobs", json=body, headers=bearer(t))
            if answer.status_code == 201:
                tenant_jobs[t.award_id].append(answer.json()["id"])
            return answer

        async def cancel() -> httpx.Response:
            t = tenant()
            if not tenant_jobs[t.award_id]:
                await submit_for(t)
            job = tenant_jobs[t.award_id].pop()
            return await client.post(f"{API}/jobs/{job}/cancel", headers=bearer(t))

        async def submit_for(t: Any) -> None:
            turn["n"] -= 1
            with pause(counter):
                await submit()

        def get(path: Callable[[Any], str], headers: Callable[[Any], dict[str, str]] = bearer):
            async def run() -> httpx.Response:
                t = tenant()
                return await client.get(path(t), headers=headers(t))

            return run

        kinds: dict[str, tuple[Callable[[], Awaitable[httpx.Response]], set[int]]] = {
            "submit": (submit, {201}),
            "cancel": (cancel, {200}),
            "stats": (get(lambda t: f"{API}/scheme/stats"), {200}),
            "jobs": (get(lambda t: f"{API}/jobs?award_id={t.award_id}&limit=50"), {200}),
            "job": (
                get(lambda t: f"{API}/jobs/{(tenant_jobs[t.award_id] or [1])[-1]}"),
                {200},
            ),
            "awards": (get(lambda t: f"{API}/awards"), {200}),
            "award": (get(lambda t: f"{API}/awards/{t.award_id}"), {200}),
            "applications": (get(lambda t: f"{API}/applications"), {200}),
            "page /projects": (get(lambda t: "/projects", cookie), {200}),
            "page /projects/{award}": (get(lambda t: f"/projects/{t.award_id}", cookie), {200}),
            "page / (public)": (get(lambda t: "/", lambda t: {}), {200}),
        }
        with inline_threadpool():
            # Jobs to list and cancel, and every code path warmed (templates, caches).
            with pause(counter):
                for _ in range(args.jobs * len(tenants)):
                    await submit()
                for run, _ in kinds.values():
                    for _ in range(3):
                        await run()
            if args.statements:
                run, _ = kinds[args.statements]
                counter.keep, counter.texts = True, []
                await run()
                counter.keep = False
                for n, text in enumerate(counter.texts, 1):
                    print(f"{n:3d} {text}")
                return
            print(f"{'kind':<24}{'n':>5}{'cpu ms':>9}{'wall ms':>9}{'p50 wall':>9}{'SQL':>6}")
            for name, (run, expected) in kinds.items():
                if args.kind and name not in args.kind:
                    continue
                cpu: list[float] = []
                wall: list[float] = []
                statements: list[int] = []
                profiler = cProfile.Profile() if args.profile else None
                for _ in range(args.repeat):
                    if name == "cancel":  # a pending job of the next tenant, not measured
                        t = tenants[(turn["n"] + 1) % len(tenants)]
                        if not tenant_jobs[t.award_id]:
                            await submit_for(t)
                    counter.count = 0
                    c0, w0 = time.process_time(), time.perf_counter()
                    if profiler:
                        profiler.enable()
                    answer = await run()
                    if profiler:
                        profiler.disable()
                    cpu.append((time.process_time() - c0) * 1000)
                    wall.append((time.perf_counter() - w0) * 1000)
                    statements.append(counter.count)
                    if answer.status_code not in expected:
                        raise SystemExit(f"{name}: {answer.status_code} {answer.text[:300]}")
                print(
                    f"{name:<24}{len(cpu):>5}{statistics.fmean(cpu):>9.2f}"
                    f"{statistics.fmean(wall):>9.2f}{statistics.median(wall):>9.2f}"
                    f"{statistics.median(statements):>6.0f}"
                )
                if profiler:
                    stats = pstats.Stats(profiler)
                    stats.sort_stats("cumulative").print_stats(args.profile)
    engine.dispose()


@contextlib.contextmanager
def pause(counter: Counter) -> Iterator[None]:
    saved = counter.count
    try:
        yield
    finally:
        counter.count = saved


if __name__ == "__main__":
    main()
