"""The monthly billing run: 1,000,000 usage records over 200 projects.

Builds a migrated database with 200 active awards (40 dedicated, 160 pooled), their
commitments in the ledger, and one million usage records in one month, then times
``run_month`` (invoices, charges, usage linking, ledger disbursements, burn alerts) and the
reconciliation. Targets: <= 20 s on SQLite, <= 10 s on PostgreSQL (2 cores).

    .venv/bin/python benchmarks/billing.py [--records 1000000] [--projects 200]
    AISC_BENCH_DATABASE_URL=postgresql://... .venv/bin/python benchmarks/billing.py
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from aisc.accounts.models import Organisation, OrgCategory, Person
from aisc.allocations.models import Allocation
from aisc.applications.models import Application, ApplicationStatus, Domain, RequestKind
from aisc.awards.models import Award, AwardStatus
from aisc.billing import charging
from aisc.billing import reconcile as reconciler
from aisc.cluster.catalogue import CATALOGUE
from aisc.cluster.models import GpuModel, Partition
from aisc.context import Ctx
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.db.migrate import upgrade
from aisc.ledger.models import EntryKind, LedgerEntry
from aisc.metering.models import UsageBucket
from aisc.metering.service import ingest_batch
from aisc.pricing.models import PriceItem, PriceList
from aisc.scheme.models import Scheme
from aisc.scheme.schemas import SchemeCreate
from aisc.scheme.service import init_scheme

MONTH = date(2025, 3, 1)
H800 = "H800-SXM5-80GB"


def build(engine: Engine, projects: int, records: int, seed: int = 42) -> None:
    rng = random.Random(seed)
    now = datetime(2025, 2, 1, tzinfo=UTC)
    with transaction(make_sessionmaker(engine)) as db:
        ctx = Ctx(db=db, now=now, actor="bench")
        for spec in CATALOGUE:
            db.add(GpuModel(**spec))
        init_scheme(ctx, data=SchemeCreate())
        scheme = db.query(Scheme).one()
        db.add(
            LedgerEntry(
                scheme_id=scheme.id,
                kind=EntryKind.BUDGET,
                amount_cents=300_000_000_000,
                label="budget",
                created_at=now,
                created_by="bench",
            )
        )
        partition = Partition(name="training", max_walltime_hours=168, created_at=now)
        org = Organisation(name="Bench", category=OrgCategory.UNIVERSITY, created_at=now)
        person = Person(email="b@bench.example", name="B", created_at=now)
        prices = PriceList(version="b", effective_from=date(2024, 10, 1), created_at=now)
        db.add_all([partition, org, person, prices])
        db.flush()
        db.add(
            PriceItem(
                price_list_id=prices.id,
                gpu_model_code=H800,
                card_month_cents=3_000_000,
                gpu_hour_cents=4_500,
            )
        )
        for i in range(projects):
            dedicated = i % 5 == 0
            kind = RequestKind.DEDICATED if dedicated else RequestKind.POOLED
            app = Application(
                scheme_id=scheme.id,
                organisation_id=org.id,
                created_by_id=person.id,
                status=ApplicationStatus.APPROVED,
                title=f"Bench {i}",
                domain=Domain.OTHER,
                request_kind=kind,
                gpu_model_code=H800,
                created_at=now,
                updated_at=now,
            )
            db.add(app)
            db.flush()
            cards, hours = (8 * rng.randint(1, 8), None) if dedicated else (None, 200_000)
            cap = 1_000_000_000
            award = Award(
                scheme_id=scheme.id,
                application_id=app.id,
                organisation_id=org.id,
                title=app.title,
                status=AwardStatus.ACTIVE,
                kind=kind,
                gpu_model_code=H800,
                partition_id=partition.id,
                gpu_cards=cards,
                gpu_hours=hours,
                start_date=date(2025, 2, 15),
                end_date=date(2026, 2, 15),
                months=12,
                subsidy_rate_bp=7000,
                list_value_cents=cap * 10 // 7,
                subsidy_cap_cents=cap,
                price_list_id=prices.id,
                created_at=now,
            )
            db.add(award)
            db.flush()
            db.add(
                Allocation(
                    award_id=award.id,
                    kind=kind,
                    gpu_model_code=H800,
                    partition_id=partition.id,
                    gpu_cards=cards,
                    gpu_hours=hours,
                    start_date=award.start_date,
                    end_date=award.end_date,
                    created_at=now,
                    created_by="bench",
                )
            )
            db.add(
                LedgerEntry(
                    scheme_id=scheme.id,
                    kind=EntryKind.COMMITMENT,
                    amount_cents=cap,
                    award_id=award.id,
                    label=f"award {award.id}",
                    created_at=now,
                    created_by="bench",
                )
            )
    # Usage arrives as accounting batches (as a scheduler's accounting dump would), through the
    # same ingest path as production: records stored, buckets filled.
    start = datetime(2025, 3, 1, tzinfo=UTC)
    factory = make_sessionmaker(engine)
    chunk = 50_000
    for base in range(0, records, chunk):
        rows = []
        for n in range(base, min(base + chunk, records)):
            ended = start + timedelta(seconds=rng.randrange(0, 30 * 86_400))
            seconds = rng.randrange(60, 8 * 3600)
            rows.append(
                {
                    "key": f"bench:{n}",
                    "award_id": 1 + n % projects,
                    "gpu_model": H800,
                    "gpu_seconds": seconds,
                    "started_at": ended - timedelta(seconds=seconds),
                    "ended_at": ended,
                }
            )
        with transaction(factory) as db:
            ingest_batch(Ctx(db=db, now=ended, actor="bench"), source="bench", rows=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--projects", type=int, default=200)
    args = parser.parse_args()
    url = os.environ.get("AISC_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        if url:
            engine = make_engine(url)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            backend = "PostgreSQL"
        else:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            backend = "SQLite"
        upgrade(engine)
        t0 = time.perf_counter()
        build(engine, args.projects, args.records)
        print(
            f"{backend}: {args.records:,} usage records over {args.projects} projects "
            f"ingested in {time.perf_counter() - t0:.1f} s"
        )
        factory = make_sessionmaker(engine)
        when = datetime(2025, 4, 2, tzinfo=UTC)
        t0 = time.perf_counter()
        with transaction(factory) as db:
            result = charging.run_month(Ctx(db=db, now=when, actor="bench"), month=MONTH)
        run_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with transaction(factory) as db:
            found = reconciler.reconcile(Ctx(db=db, now=when, actor="bench"), month=MONTH)
        recon_s = time.perf_counter() - t0
        with transaction(factory) as db:
            linked = db.execute(
                select(func.coalesce(func.sum(UsageBucket.records), 0)).where(
                    UsageBucket.charge_id.is_not(None)
                )
            ).scalar_one()
        print(
            f"monthly run: {len(result.invoices)} invoices, {linked:,} usage records charged, "
            f"in {run_s:.1f} s (target {'10' if url else '20'} s)"
        )
        print(
            f"reconciliation: {'balanced' if found.balanced else 'NOT balanced'} in {recon_s:.1f} s"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
