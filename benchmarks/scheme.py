"""Scheme benchmarks: build the demo centre, then time the figures people ask for.

Prints: demo build time; the median and p95 of `scheme stats`, of `audit verify` over the demo's
chain, and of one approval (decision + award + ledger commitment + audit) on a scheme grown to
N applications. Run with `.venv/bin/python benchmarks/scheme.py [--applications N]`; set
AISC_BENCH_DATABASE_URL to run the approval part on PostgreSQL (that database is wiped).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from aisc.audit.service import verify
from aisc.context import Ctx, utcnow
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.db.migrate import upgrade
from aisc.demo import build_demo
from aisc.reports.stats import scheme_stats
from aisc.review.decisions import decide
from aisc.review.schemas import DecisionCreate


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'demo.db'}")
        start = time.perf_counter()
        build_demo(engine)
        print(f"demo build (SQLite): {time.perf_counter() - start:.2f} s")
        factory = make_sessionmaker(engine)

        def stats() -> None:
            with transaction(factory) as db:
                scheme_stats(Ctx(db=db, now=utcnow(), actor="bench"), today=utcnow().date())

        def audit() -> None:
            with transaction(factory) as db:
                assert verify(Ctx(db=db, now=utcnow(), actor="bench")).ok

        for name, fn in (("scheme stats", stats), ("audit verify", audit)):
            median, p95 = timed(fn, args.runs)
            print(f"{name}, demo: median {median:.1f} ms, p95 {p95:.1f} ms")
        engine.dispose()

        url = os.environ.get("AISC_BENCH_DATABASE_URL") or f"sqlite:///{Path(tmp) / 'b.db'}"
        approvals(url, args.applications)


def approvals(url: str, n: int) -> None:
    """Grow a scheme to ``n`` reviewed applications and time approving each of them."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.factories import World  # the test builders drive the real services

    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    factory = make_sessionmaker(engine)

    @contextmanager
    def uow(actor: str = "bench") -> Any:
        with transaction(factory) as db:
            yield Ctx(db=db, now=utcnow(), actor=actor)

    world = World(uow, h800_nodes=n * 2 + 8)  # room for n approvals of 16 cards
    start = time.perf_counter()
    ids = [world.reviewed(title=f"Benchmark project {i}") for i in range(n)]
    build = time.perf_counter() - start
    samples = []
    for app_id in ids:
        body = DecisionCreate(outcome="approve", decided_by_id=world.secretariat)
        t0 = time.perf_counter()
        with uow() as ctx:
            decide(ctx, application_id=app_id, data=body)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    print(f"{n} applications built and reviewed ({engine.dialect.name}): {build:.1f} s")
    print(
        f"approval ({engine.dialect.name}): median {statistics.median(samples):.1f} ms, "
        f"p95 {samples[int(len(samples) * 0.95) - 1]:.1f} ms"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
