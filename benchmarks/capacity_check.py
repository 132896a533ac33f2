"""Capacity check: 36 months x 500 awards x 3 GPU models.

Prints the median and p95 of (1) the pure calculation (supply, 500 commitments, one new award,
shortfalls) and (2) the whole check as an approval runs it: loading nodes and allocations from a
SQLite database, then the calculation. Target: under 50 ms.

    .venv/bin/python benchmarks/capacity_check.py [--awards 500] [--runs 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from aisc.allocations.models import Allocation
from aisc.allocations.service import check
from aisc.applications.models import Application, ApplicationStatus, Domain, RequestKind
from aisc.applications.screening import add_months
from aisc.awards.models import Award, AwardStatus
from aisc.cluster.capacity import Demand, Supply, months_between, positions, shortfalls
from aisc.cluster.catalogue import CATALOGUE
from aisc.cluster.models import GpuModel, Node, NodeState, Partition
from aisc.context import Ctx
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.db.migrate import upgrade
from aisc.scheme.models import Scheme
from aisc.scheme.schemas import SchemeCreate
from aisc.scheme.service import init_scheme

MODELS = ["H800-SXM5-80GB", "L40S-48GB", "BENCH-GPU"]
START, END = date(2024, 10, 1), date(2027, 10, 1)  # 36 months


def workload(awards: int, seed: int = 42) -> tuple[list[Supply], list[Demand]]:
    rng = random.Random(seed)
    supply = [
        Supply(MODELS[i % 3], "training", 8, date(2024, 10, 1) if i < 300 else date(2025, 12, 31))
        for i in range(600)
    ]
    demand = []
    for i in range(awards):
        start = add_months(START, rng.randrange(0, 30))
        months = rng.choice([3, 6, 12, 18])
        end = min(add_months(start, months), END)
        model = MODELS[i % 3]
        if i % 5 == 0:
            demand.append(
                Demand(
                    f"a{i}", model, "training", start, end, gpu_hours=rng.randrange(1000, 200_000)
                )
            )
        else:
            demand.append(
                Demand(f"a{i}", model, "training", start, end, cards=rng.choice([4, 8, 16, 32, 64]))
            )
    return supply, demand


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def database(path: Path, supply: list[Supply], demand: list[Demand]) -> None:
    """Store the same workload (awards with their allocations) in a migrated SQLite file."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    now = datetime(2024, 10, 1, tzinfo=UTC)
    with transaction(make_sessionmaker(engine)) as db:
        ctx = Ctx(db=db, now=now, actor="bench")
        for spec in CATALOGUE:
            db.add(GpuModel(**spec))
        db.add(GpuModel(**{**CATALOGUE[0], "code": "BENCH-GPU", "name": "benchmark GPU"}))
        init_scheme(ctx, data=SchemeCreate(start_date=START, end_date=END))
        scheme = db.query(Scheme).one()
        partition = Partition(name="training", max_walltime_hours=168, created_at=now)
        db.add(partition)
        db.flush()
        for i, item in enumerate(supply):
            db.add(
                Node(
                    name=f"n{i:04d}",
                    gpu_model_code=item.gpu_model,
                    gpu_count=item.cards,
                    cpu_cores=128,
                    memory_gb=2048,
                    partition_id=partition.id,
                    state=NodeState.UP,
                    state_changed_at=now,
                    installed_on=item.installed_on,
                )
            )
        from aisc.accounts.models import Organisation, OrgCategory, Person
        from aisc.pricing.models import PriceList

        org = Organisation(name="Bench", category=OrgCategory.UNIVERSITY, created_at=now)
        person = Person(email="b@bench.example", name="B", created_at=now)
        prices = PriceList(version="b", effective_from=START, created_at=now)
        db.add_all([org, person, prices])
        db.flush()
        for i, item in enumerate(demand):
            kind = RequestKind.POOLED if item.gpu_hours else RequestKind.DEDICATED
            app = Application(
                scheme_id=scheme.id,
                organisation_id=org.id,
                created_by_id=person.id,
                status=ApplicationStatus.APPROVED,
                title=f"Bench {i}",
                domain=Domain.OTHER,
                request_kind=kind,
                gpu_model_code=item.gpu_model,
                created_at=now,
                updated_at=now,
            )
            db.add(app)
            db.flush()
            award = Award(
                scheme_id=scheme.id,
                application_id=app.id,
                organisation_id=org.id,
                title=app.title,
                status=AwardStatus.ACTIVE,
                kind=kind,
                gpu_model_code=item.gpu_model,
                partition_id=partition.id,
                gpu_cards=item.cards,
                gpu_hours=item.gpu_hours,
                start_date=item.start,
                end_date=item.end,
                months=1,
                subsidy_rate_bp=7000,
                list_value_cents=0,
                subsidy_cap_cents=0,
                price_list_id=prices.id,
                created_at=now,
            )
            db.add(award)
            db.flush()
            db.add(
                Allocation(
                    award_id=award.id,
                    kind=kind,
                    gpu_model_code=item.gpu_model,
                    partition_id=partition.id,
                    gpu_cards=item.cards,
                    gpu_hours=item.gpu_hours,
                    start_date=item.start,
                    end_date=item.end,
                    created_at=now,
                    created_by="bench",
                )
            )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--awards", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    supply, demand = workload(args.awards)
    months = months_between(START, END)
    new = Demand("new", MODELS[0], "training", date(2025, 6, 1), date(2026, 6, 1), cards=64)

    def pure() -> None:
        table = positions(supply, [*demand, new], months, headroom_bp=500)
        shortfalls(table, new)

    median, p95 = timed(pure, args.runs)
    print(
        f"{len(months)} months x {args.awards} awards x {len(MODELS)} GPU models, "
        f"{len(supply)} nodes"
    )
    print(f"capacity check, pure calculation: median {median:.1f} ms, p95 {p95:.1f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        database(path, supply, demand)
        engine = make_engine(f"sqlite:///{path}")
        factory = make_sessionmaker(engine)

        def full() -> None:
            with transaction(factory) as db:
                check(Ctx(db=db, now=datetime.now(UTC), actor="bench"), new, subject="benchmark")

        median, p95 = timed(full, args.runs)
        print(
            f"capacity check, with database loads (SQLite): median {median:.1f} ms, "
            f"p95 {p95:.1f} ms"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
