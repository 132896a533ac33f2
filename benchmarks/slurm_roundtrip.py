"""From submission through aisc to the usage being billed, on the development Slurm cluster.

Needs the cluster (``deploy/slurm-dev/cluster.sh up``, as root). Builds a fresh centre in a
temporary SQLite file (the dev cluster's four nodes, one pooled award, a member with the
cluster login ``alice``), then submits jobs one at a time (``sleep 1`` on 2 GPUs: a job of no
seconds bills nothing) and ticks the Slurm loop every ``--interval`` seconds. For each job it
reports the time from the submission (committed in the platform) to: the hand-over to
slurmrestd, the job's end in Slurm, and its usage recorded and rated into the award's bucket
(what the month's invoice bills), then the month's billing run over that usage. Target:
submission to usage billed < 5 s.

    .venv/bin/python benchmarks/slurm_roundtrip.py [--jobs 10] [--interval 0.1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from aisc.accounts import service as accounts
from aisc.accounts.models import OrgCategory, Role
from aisc.accounts.schemas import OrganisationCreate, PersonCreate
from aisc.applications import service as applications
from aisc.applications.schemas import ApplicationCreate
from aisc.awards import service as awards
from aisc.billing.charging import run_month
from aisc.billing.months import next_month
from aisc.cluster import service as cluster
from aisc.cluster.catalogue import H800
from aisc.cluster.schemas import NodeIn, PartitionIn
from aisc.context import Ctx
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.db.migrate import upgrade
from aisc.jobs import service as jobs
from aisc.jobs.models import Job
from aisc.jobs.schemas import JobSubmit
from aisc.metering.models import UsageRecord
from aisc.pricing import service as pricing
from aisc.pricing.schemas import PriceListCreate
from aisc.review import decisions
from aisc.review import service as review
from aisc.review.schemas import DecisionCreate, DeclarationIn, ScoresIn
from aisc.scheme import service as scheme_service
from aisc.scheme.schemas import SchemeCreate
from aisc.settings import Settings
from aisc.slurm.connect import backend_from_settings
from aisc.slurm.loop import SlurmJobLoop


def build(factory: Any) -> tuple[int, int]:
    """A scheme, the dev cluster's nodes, one accepted pooled award; (award id, member id)."""

    @contextmanager
    def uow() -> Any:
        with transaction(factory) as session:
            yield Ctx(db=session, now=datetime.now(UTC), actor="bench")

    with uow() as ctx:
        cluster.ensure_catalogue(ctx)
        cluster.upsert_partition(ctx, data=PartitionIn(name="training", max_walltime_hours=72))
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
            ctx, data=OrganisationCreate(name="Bench University", category=OrgCategory.UNIVERSITY)
        ).id
        pi = accounts.create_person(
            ctx,
            data=PersonCreate(
                email="pi@bench.example",
                name="pi",
                username="alice",
                roles=[Role.APPLICANT],
                organisation_ids=[org],
            ),
        ).id
        secretariat = accounts.create_person(
            ctx, data=PersonCreate(email="sec@bench.example", name="sec", roles=[Role.SECRETARIAT])
        ).id
        reviewers = [
            accounts.create_person(
                ctx,
                data=PersonCreate(
                    email=f"rev{i}@bench.example", name=f"rev{i}", roles=[Role.REVIEWER]
                ),
            ).id
            for i in range(2)
        ]
    with uow() as ctx:
        app_id = applications.create_application(
            ctx,
            data=ApplicationCreate.model_validate(
                {
                    "organisation_id": org,
                    "created_by_id": pi,
                    "title": "Round-trip benchmark",
                    "domain": "llm",
                    "summary": "Timing.",
                    "hk_relevance": "Hong Kong.",
                    "local_rnd_staff": 3,
                    "nonlocal_rnd_staff": 0,
                    "compute": {
                        "kind": "pooled",
                        "gpu_model": H800,
                        "gpu_hours": 500,
                        "months": 3,
                        "preferred_start": date.today().replace(day=1).isoformat(),
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
    with uow() as ctx:
        decisions.decide(
            ctx,
            application_id=app_id,
            data=DecisionCreate.model_validate(
                {"outcome": "approve", "decided_by_id": secretariat}
            ),
        )
    with uow() as ctx:
        award = awards.list_awards(ctx)[0]
        awards.accept(ctx, award_id=award.id)
        return award.id, pi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between ticks")
    args = parser.parse_args()
    subprocess.run(["scontrol", "ping"], check=True, capture_output=True)

    workdir = Path(tempfile.mkdtemp(prefix="aisc-slurm-bench-"))
    engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    upgrade(engine)
    factory = make_sessionmaker(engine)
    prefix = f"b{uuid.uuid4().hex[:6]}-"
    settings = Settings(
        executor="slurm",
        slurm_cluster="aiscdev",
        slurm_rest_url="http://127.0.0.1:6820",
        slurm_jwt_key_file=Path("/etc/slurm/jwt_hs256.key"),
        slurm_job_root=Path("/var/tmp/aisc-slurm") / prefix.rstrip("-"),
        slurm_account_prefix=prefix,
        slurm_sync_interval_s=3600,
        data_dir=workdir,
    )
    award_id, member = build(factory)
    runner = SlurmJobLoop(
        factory, backend_from_settings(settings), settings, lambda: datetime.now(UTC)
    )
    began = time.perf_counter()
    runner.tick()  # the first tick provisions the award's account, QOS and member
    print(f"first tick (provisioning sync): {time.perf_counter() - began:.2f} s")

    handed, ended, billed = [], [], []
    for _ in range(args.jobs):
        with transaction(factory) as db:
            ctx = Ctx(db=db, now=datetime.now(UTC), actor="bench")
            job_id = jobs.submit(
                ctx,
                data=JobSubmit(
                    award_id=award_id,
                    submitted_by_id=member,
                    partition="training",
                    gpus_per_node=2,
                    walltime_s=120,
                    command=["sleep", "1"],
                ),
                backend="slurm",
            ).id
        t0 = time.perf_counter()
        marks: dict[str, float] = {}
        while "billed" not in marks:
            runner.tick()
            now = time.perf_counter() - t0
            with transaction(factory) as db:
                job = db.get(Job, job_id)
                assert job is not None
                if job.backend_id and "handed" not in marks:
                    marks["handed"] = now
                if job.ended_at and "ended" not in marks:
                    marks["ended"] = now
                usage = db.execute(
                    select(UsageRecord.id).where(UsageRecord.job_id == job_id)
                ).first()
                if usage is not None:
                    marks["billed"] = now
            if now > 60:
                raise SystemExit(f"job {job_id} not billed after 60 s: {job.state} {job.reason}")
            time.sleep(args.interval)
        handed.append(marks["handed"])
        ended.append(marks.get("ended", marks["billed"]))
        billed.append(marks["billed"])

    def row(name: str, values: list[float]) -> str:
        return f"{name:<34} median {statistics.median(values):5.2f} s   max {max(values):5.2f} s"

    print(f"{args.jobs} jobs (sleep 1 on 2 GPUs), one at a time, tick every {args.interval} s:")
    print(row("submission -> handed to Slurm", handed))
    print(row("submission -> ended (seen by aisc)", ended))
    print(row("submission -> usage recorded+rated", billed))
    month = date.today().replace(day=1)
    first_of_next = datetime.combine(next_month(month), datetime.min.time(), UTC)
    with transaction(factory) as db:
        began = time.perf_counter()
        result = run_month(Ctx(db=db, now=first_of_next, actor="bench"), month=month)
        seconds = time.perf_counter() - began
    print(f"billing run for {month:%Y-%m}: {len(result.invoices)} invoice(s) in {seconds:.3f} s")
    subprocess.run(
        ["sacctmgr", "-i", "delete", "user", "where", f"account={prefix}{award_id}"],
        capture_output=True,
        check=False,
    )


if __name__ == "__main__":
    main()
