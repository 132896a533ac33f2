"""Build the demo centre: the scheme as the public record describes it.

Replays the first months of the scheme on a historical clock (opening on 7 Oct 2024, the
committee's first decisions in Dec 2024, the mid-2025 position): more than 20 applications from
all five categories, 10 approved committing more than HK$300 million at an average rate near
70%, rejections for no local R&D team, no Hong Kong relevance and an ineligible applicant, and
applications still pending. Every step goes through the same services as the API and CLI, each
in its own transaction with its own audit event. Names of organisations and people are
fictional.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from aisc.accounts import service as accounts
from aisc.accounts.models import Role
from aisc.accounts.schemas import OrganisationCreate, PersonCreate
from aisc.applications import service as applications
from aisc.applications.schemas import ApplicationCreate
from aisc.awards import service as awards
from aisc.billing import charging, credits
from aisc.billing import reconcile as reconciler
from aisc.billing.months import next_month
from aisc.cluster.catalogue import H800, L40S
from aisc.cluster.inventory import import_inventory
from aisc.cluster.service import ensure_catalogue
from aisc.context import Ctx
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.db.migrate import upgrade
from aisc.demo.changes import demo_changes
from aisc.demo.earmarks import demo_earmarks
from aisc.demo.records import (
    ACTOR,
    DEMO_JOBS,
    DEMO_PRESENT,
    ORGANISATIONS,
    OTHER_STAFF,
    PLANS,
    REVIEWERS,
    SECRETARIAT,
    Plan,
    inventory_yaml,
)
from aisc.deployment import Deployment
from aisc.pricing import service as pricing
from aisc.pricing.schemas import PriceListCreate
from aisc.review import decisions
from aisc.review import service as review
from aisc.review.schemas import DecisionCreate, DeclarationIn, ScoresIn
from aisc.scheme import service as scheme_service
from aisc.scheme.models import Scheme
from aisc.scheme.schemas import SchemeCreate

Action = Callable[[Ctx], object]


@dataclass(order=True)
class Step:
    when: datetime
    plan: int
    seq: int
    action: Action = field(compare=False)


@dataclass
class DemoSummary:
    jobs_run: int
    allocated_pct: Decimal | None
    applications: int
    approved: int
    committed_hkd: Decimal
    average_rate: Decimal | None
    # One sign-in per role: (role, e-mail, password). Passwords are random for each build.
    logins: list[tuple[str, str, str]]
    billing: DemoBilling
    now: DemoNow | None = None


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


class Builder:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.org_ids: list[int] = []
        self.people: dict[str, int] = {}

    @contextmanager
    def step(self, when: datetime) -> Iterator[Ctx]:
        with transaction(self.factory) as db:
            yield Ctx(db=db, now=when, actor=ACTOR)

    def foundation(self) -> None:
        opened = _at(date(2024, 10, 7), 9)
        with self.step(opened) as ctx:
            ensure_catalogue(ctx)
            scheme_service.init_scheme(ctx, data=SchemeCreate(is_demo=True))
            pricing.create_price_list(
                ctx,
                data=PriceListCreate(
                    version="2024-10",
                    effective_from=date(2024, 10, 1),
                    note="Demo list prices (placeholders: the published schedule is not public).",
                    items=[
                        {
                            "gpu_model": H800,
                            "card_month_hkd": Decimal("30000"),
                            "gpu_hour_hkd": Decimal("45"),
                        },
                        {
                            "gpu_model": L40S,
                            "card_month_hkd": Decimal("9000"),
                            "gpu_hour_hkd": Decimal("13.50"),
                        },
                    ],
                ),
            )
            import_inventory(ctx, text=inventory_yaml(), fmt="yaml")
            for name, category, name_zh in ORGANISATIONS:
                org = accounts.create_organisation(
                    ctx, data=OrganisationCreate(name=name, category=category, name_zh=name_zh)
                )
                self.org_ids.append(org.id)
            for email, name in SECRETARIAT:
                self._person(ctx, email, name, [Role.SECRETARIAT], [])
            for email, name in REVIEWERS:
                self._person(ctx, email, name, [Role.REVIEWER], [])
            for email, name, role in OTHER_STAFF:
                self._person(ctx, email, name, [role], [])
            for index, (name, _category, _zh) in enumerate(ORGANISATIONS):
                slug = "".join(c for c in name.lower() if c.isalnum())[:16]
                self._person(
                    ctx,
                    f"pi@{slug}.example",
                    f"PI of {name}",
                    [Role.APPLICANT],
                    [self.org_ids[index]],
                )

    def _person(self, ctx: Ctx, email: str, name: str, roles: list[Role], orgs: list[int]) -> None:
        person = accounts.create_person(
            ctx, data=PersonCreate(email=email, name=name, roles=roles, organisation_ids=orgs)
        )
        self.people[email] = person.id

    def applicant(self, org_index: int) -> int:
        name = ORGANISATIONS[org_index][0]
        slug = "".join(c for c in name.lower() if c.isalnum())[:16]
        return self.people[f"pi@{slug}.example"]

    def steps(self, index: int, plan: Plan) -> list[Step]:
        """The dated actions that make up one application's history."""
        ref: dict[str, int] = {}
        steps: list[Step] = []

        def at(day: date, action: Action, hour: int = 10) -> None:
            steps.append(Step(_at(day, hour), index, len(steps), action))

        def app_id() -> int:
            return ref["id"]

        org_id = self.org_ids[plan.org]
        payload: dict[str, Any] = {
            "organisation_id": org_id,
            "created_by_id": self.applicant(plan.org),
            "title": plan.title,
            "domain": plan.domain,
            "summary": f"{plan.title}: a project of {ORGANISATIONS[plan.org][0]}.",
            "hk_relevance": plan.hk_relevance,
            "local_rnd_staff": plan.local_staff,
            "nonlocal_rnd_staff": 2,
            "compute": {
                "kind": "dedicated" if plan.cards is not None else "pooled",
                "gpu_model": plan.model,
                "gpu_cards": plan.cards,
                "gpu_hours": plan.hours,
                "months": plan.months,
                "preferred_start": plan.start,
            },
            "rnd": {
                "model_parameters": 7_000_000_000,
                "dataset_size_gb": 2_000,
                "precision": "bf16",
                "workload": "training",
            },
            "declarations": {
                "no_double_funding": True,
                "information_true": True,
                "consent_disclosure": True,
                "legal_compliance": True,
            },
            "attachments": [
                {"kind": "proposal", "filename": "proposal.pdf", "size_bytes": 2_400_000}
            ],
        }

        def create(ctx: Ctx) -> None:
            ref["id"] = applications.create_application(
                ctx, data=ApplicationCreate.model_validate(payload)
            ).id

        at(plan.submitted - timedelta(days=3), create)
        if plan.fate == "draft":
            return steps
        at(plan.submitted, lambda ctx: applications.submit(ctx, application_id=app_id()))
        if plan.fate == "submitted":
            return steps
        if plan.fate == "withdrawn":
            at(
                plan.submitted + timedelta(days=20),
                lambda ctx: applications.withdraw(
                    ctx, application_id=app_id(), reason="Project re-scoped; will reapply."
                ),
            )
            return steps
        screened = plan.submitted + timedelta(days=7)
        at(screened, lambda ctx: applications.start_screening(ctx, application_id=app_id()))
        if plan.fate == "screening":
            return steps
        if plan.fate == "incomplete":
            at(
                screened,
                lambda ctx: applications.return_incomplete(
                    ctx, application_id=app_id(), note="Please attach the team's CVs."
                ),
                hour=15,
            )
            return steps
        secretariat = self.people[SECRETARIAT[0][0]]
        if plan.fate == "reject_screening":
            rejection = DecisionCreate.model_validate(
                {
                    "outcome": "reject",
                    "decided_by_id": secretariat,
                    "reasons": [{"code": c, "text": t} for c, t in plan.reasons],
                }
            )
            at(
                screened + timedelta(days=30),
                lambda ctx: decisions.decide(ctx, application_id=app_id(), data=rejection),
            )
            return steps
        at(screened, lambda ctx: applications.start_review(ctx, application_id=app_id()), hour=15)
        self._review_steps(plan, screened + timedelta(days=5), at, app_id)
        if plan.fate != "under_review":
            self._decision_steps(plan, secretariat, at, app_id)
        return steps

    def _review_steps(self, plan: Plan, when: date, at: Any, app_id: Any) -> None:
        reviewer_ids = [self.people[email] for email, _ in REVIEWERS]
        # Three reviewers per application; the third declares a conflict on every fourth one.
        chosen = [reviewer_ids[(plan.org + k) % len(reviewer_ids)] for k in range(3)]
        conflicted = chosen[2] if plan.org % 4 == 0 else None
        for reviewer_id in chosen:
            at(
                when,
                lambda ctx, r=reviewer_id: review.assign_reviewer(
                    ctx, application_id=app_id(), reviewer_id=r
                ),
            )
        if plan.fate == "under_review" and plan.submitted > date(2025, 6, 1):
            return  # too recent: nobody has scored yet
        codes = ["alignment", "compute_reasonableness", "capability", "impact"]
        for offset, reviewer_id in enumerate(chosen):
            is_conflict = reviewer_id == conflicted
            day = when + timedelta(days=3 + offset)
            declaration = DeclarationIn(
                conflict=is_conflict, note="Former colleague of the PI." if is_conflict else ""
            )
            at(
                day,
                lambda ctx, r=reviewer_id, d=declaration: review.declare(
                    ctx, application_id=app_id(), reviewer_id=r, data=d
                ),
            )
            if is_conflict:
                continue
            nudged = [max(0, min(10, s + (offset % 2))) for s in plan.scores]
            scores = ScoresIn.model_validate(
                {"scores": {c: {"score": v} for c, v in zip(codes, nudged, strict=True)}}
            )
            at(
                day + timedelta(days=7),
                lambda ctx, r=reviewer_id, s=scores: review.submit_scores(
                    ctx, application_id=app_id(), reviewer_id=r, data=s
                ),
            )

    def _decision_steps(self, plan: Plan, secretariat: int, at: Any, app_id: Any) -> None:
        day = plan.submitted + timedelta(days=45)
        outcomes = {
            "approve": "approve",
            "conditions": "approve_with_conditions",
            "reject_review": "reject",
            "defer": "defer",
        }
        decision: dict[str, Any] = {
            "outcome": outcomes[plan.fate],
            "decided_by_id": secretariat,
            "reasons": [{"code": c, "text": t} for c, t in plan.reasons],
        }
        if plan.fate in ("approve", "conditions"):
            decision["grant"] = {"gpu_cards": plan.grant_cards} if plan.grant_cards else {}
            if plan.rate:
                decision["subsidy_rate"] = plan.rate
                decision["exceptional_justification"] = plan.justification
            if plan.fate == "conditions":
                decision["conditions"] = [
                    "Patient data stays on the isolated partition.",
                    "Quarterly progress reports to the committee.",
                ]
        data = DecisionCreate.model_validate(decision)
        at(day, lambda ctx: decisions.decide(ctx, application_id=app_id(), data=data))
        if plan.fate in ("approve", "conditions"):
            at(day + timedelta(days=10), lambda ctx: self._accept(ctx, app_id()))

    @staticmethod
    def _accept(ctx: Ctx, app_id: int) -> None:
        for award in awards.list_awards(ctx):
            if award.application_id == app_id:
                awards.accept(ctx, award_id=award.id)


def run_demo_jobs(
    factory: sessionmaker[Session],
    deployment: Deployment,
    *,
    timeout: float = 120,
    today: date = DEMO_PRESENT,
) -> int:
    """Submit the demo jobs on ``today`` (the day the demo is built) to the first award
    running then on the training partition, and run them through the deployment's local
    executor."""
    import sys
    import time

    from sqlalchemy import select

    from aisc.accounts.models import Membership
    from aisc.awards.models import Award, AwardStatus
    from aisc.jobs import service as jobs
    from aisc.jobs.models import FINISHED, Job
    from aisc.jobs.schemas import JobSubmit
    from aisc.scheduling.loop import LocalJobLoop

    moment = _at(today, 0) + timedelta(minutes=5)
    with transaction(factory) as db:
        ctx = Ctx(db=db, now=moment, actor=ACTOR)
        award = (
            db.execute(
                select(Award)
                .where(
                    Award.status == AwardStatus.ACTIVE,
                    Award.gpu_model_code == H800,
                    Award.start_date <= today,
                )
                .order_by(Award.id)
            )
            .scalars()
            .first()
        )
        assert award is not None
        pi = db.execute(
            select(Membership.person_id).where(Membership.organisation_id == award.organisation_id)
        ).scalar_one()
        for name, lines, nodes, per_node in DEMO_JOBS:
            jobs.submit(
                ctx,
                data=JobSubmit(
                    award_id=award.id,
                    submitted_by_id=pi,
                    name=name,
                    partition="training",
                    nodes=nodes,
                    gpus_per_node=per_node,
                    walltime_s=600,
                    command=[sys.executable, "-c", "\n".join(lines)],
                ),
            )
    origin = time.monotonic()
    runner = LocalJobLoop(
        factory,
        deployment.local_executor,
        lambda: moment + timedelta(seconds=time.monotonic() - origin),
    )
    while time.monotonic() - origin < timeout:
        runner.tick()
        with transaction(factory) as db:
            states = list(db.execute(select(Job.state)).scalars())
        if all(state in FINISHED for state in states):
            return len(states)
        time.sleep(0.2)
    return 0


def is_demo_database(path: Path) -> bool | None:
    """Whether the SQLite file ``path`` holds a demo centre: ``aisc demo --replace`` deletes
    only such a file. False for a real scheme (or none yet); None for a file that is no aisc
    database (not SQLite, or without the scheme table)."""
    engine = make_engine(f"sqlite:///{path}", pooled=False)
    try:
        with engine.connect() as connection:
            return bool(connection.execute(select(Scheme.is_demo).limit(1)).scalar())
    except (SQLAlchemyError, sqlite3.Error):
        return None
    finally:
        engine.dispose()


def build_demo(
    engine: Engine, *, deployment: Deployment | None = None, today: date | None = None
) -> DemoSummary:
    """Migrate an empty database and fill it with the demo centre: the public record up to
    DEMO_PRESENT, then carried on to ``today`` (the day it is built; none: DEMO_PRESENT), and
    run its demo jobs on ``deployment``'s local executor at ``today`` when one is given."""
    from aisc.demo.later import carry_on
    from aisc.demo.progress import demo_progress
    from aisc.reports.stats import scheme_stats

    today = today or DEMO_PRESENT
    upgrade(engine)
    factory = make_sessionmaker(engine)
    builder = Builder(factory)
    builder.foundation()
    # Every application's history, interleaved in time order as it happened.
    steps = sorted(step for index, plan in enumerate(PLANS) for step in builder.steps(index, plan))
    for step in steps:
        with builder.step(step.when) as ctx:
            step.action(ctx)
    billing = _demo_billing(builder)
    demo_progress(builder)
    from aisc.demo.receivables import demo_receivables

    demo_receivables(builder, present=_at(DEMO_PRESENT))
    demo_changes(builder)
    demo_earmarks(builder)
    # The public record's figures, as of the record's date (before the centre carries on).
    with transaction(factory) as db:
        stats = scheme_stats(Ctx(db=db, now=_at(DEMO_PRESENT), actor=ACTOR), today=DEMO_PRESENT)
    # After the record: the centre carried on to the day the demo is built.
    carry_on(builder, today)
    now = _demo_now(builder, today) if today > DEMO_PRESENT else None
    run_on = today if today > DEMO_PRESENT else DEMO_PRESENT
    jobs_run = run_demo_jobs(factory, deployment, today=run_on) if deployment is not None else 0
    logins = _demo_logins(builder, run_on)
    return DemoSummary(
        jobs_run=jobs_run,
        allocated_pct=stats.allocated_pct_now,
        applications=stats.applications_received,
        approved=stats.approved,
        committed_hkd=stats.committed_hkd,
        average_rate=stats.average_subsidy_rate,
        logins=logins,
        billing=billing,
        now=now,
    )


@dataclass(frozen=True)
class DemoNow:
    """The centre on the day the demo was built."""

    today: date
    applications: int
    approved: int
    active_awards: int
    allocated_pct: Decimal | None
    busy_pct: Decimal | None  # this month so far (or last month on its first day)
    billed_through: str | None  # the last month invoiced
    invoices: int


def _demo_now(builder: Builder, today: date) -> DemoNow:
    from sqlalchemy import func

    from aisc.awards.models import Award, AwardStatus
    from aisc.billing import service as billing
    from aisc.billing.models import Invoice
    from aisc.reports.stats import scheme_stats

    with builder.step(_at(today, 0)) as ctx:
        stats = scheme_stats(ctx, today=today)
        active = ctx.db.execute(
            select(func.count()).select_from(Award).where(Award.status == AwardStatus.ACTIVE)
        ).scalar_one()
        last = ctx.db.execute(select(func.max(Invoice.month))).scalar_one()
        invoices = ctx.db.execute(select(func.count()).select_from(Invoice)).scalar_one()
        months = billing.busy_by_month(ctx, today=today)
    busy = None
    current = [m for m in months if m.reserved_gpu_seconds] if months else []
    if current:
        month = current[-1]
        busy = (Decimal(month.busy_gpu_seconds * 100) / month.reserved_gpu_seconds).quantize(
            Decimal("0.1")
        )
    return DemoNow(
        today=today,
        applications=stats.applications_received,
        approved=stats.approved,
        active_awards=active,
        allocated_pct=stats.allocated_pct_now,
        busy_pct=busy,
        billed_through=f"{last:%Y-%m}" if last else None,
        invoices=invoices,
    )


@dataclass(frozen=True)
class DemoBilling:
    months: list[str]
    invoices: int
    credit_notes: int
    subsidy_hkd: Decimal
    payable_hkd: Decimal
    balanced: bool
    busy_pct: Decimal | None


def _demo_billing(builder: Builder) -> DemoBilling:
    """Measured use, then the finance office's month ends: invoices, a credit note, and a
    reconciliation of every month.

    Usage is synthetic but shaped like the public record: dedicated allocations busy about 80%
    of their reserved GPU-time (the measured-use figure officials quote), pooled awards using
    most of their monthly share.
    """
    from sqlalchemy import select

    from aisc.allocations.models import Allocation
    from aisc.awards.models import Award, AwardStatus
    from aisc.billing import service as billing
    from aisc.metering.service import record_usage
    from aisc.money import cents_to_hkd

    first = date(2025, 1, 1)  # the first awards started in January 2025
    months = []
    month = first
    while next_month(month) <= DEMO_PRESENT:
        months.append(month)
        month = next_month(month)
    with builder.step(_at(DEMO_PRESENT)) as ctx:
        rows = ctx.db.execute(
            select(Allocation, Award)
            .join(Award, Award.id == Allocation.award_id)
            .where(Award.status == AwardStatus.ACTIVE)
            .order_by(Allocation.id)
        ).all()
    for n, (alloc, award) in enumerate(rows):
        for month in months:
            end = next_month(month)
            days = (min(alloc.end_date, end) - max(alloc.start_date, month)).days
            if days <= 0:
                continue
            busy_pct = 72 + (n * 7 + month.month * 3) % 17  # 72-88%: about 80% overall
            if alloc.gpu_cards:
                seconds = alloc.gpu_cards * days * 86_400 * busy_pct // 100
            else:
                monthly = (
                    (alloc.gpu_hours or 0)
                    * 3600
                    * days
                    // max((alloc.end_date - alloc.start_date).days, 1)
                )
                seconds = monthly * busy_pct // 100
            ended = _at(min(end, alloc.end_date) - timedelta(days=1), 20)
            with builder.step(ended) as ctx:
                for part in range(4):  # a few jobs' worth of records a month
                    record_usage(
                        ctx,
                        key=f"demo:{alloc.id}:{month:%Y-%m}:{part}",
                        source="demo",
                        award_id=award.id,
                        gpu_model=alloc.gpu_model_code,
                        gpu_seconds=seconds // 4,
                        started_at=ended - timedelta(hours=6),
                        ended_at=ended,
                    )
    invoices = []
    for month in months:
        with builder.step(_at(next_month(month) + timedelta(days=1), 9)) as ctx:
            invoices += charging.run_month(ctx, month=month).invoices
    notes = 0
    if invoices:
        with builder.step(_at(months[-1] + timedelta(days=5), 11)) as ctx:
            target = invoices[len(invoices) // 2]
            credits.credit(
                ctx,
                invoice_id=target.id,
                list_cents=min(target.list_cents, 1_500_000),
                reason="Node outage during the month: the reserved cards were not available",
            )
            notes = 1
    balanced = True
    with builder.step(_at(DEMO_PRESENT)) as ctx:
        for month in months:
            balanced = balanced and reconciler.reconcile(ctx, month=month).balanced
        busy = billing.busy_vs_reserved(ctx, today=months[-1] + timedelta(days=30))
    reserved = sum(b.reserved_gpu_seconds for b in busy)
    used = sum(b.busy_gpu_seconds for b in busy)
    return DemoBilling(
        months=[f"{m:%Y-%m}" for m in months],
        invoices=len(invoices),
        credit_notes=notes,
        subsidy_hkd=cents_to_hkd(sum(i.subsidy_cents for i in invoices)),
        payable_hkd=cents_to_hkd(sum(i.payable_cents for i in invoices)),
        balanced=balanced,
        busy_pct=(Decimal(used * 100) / reserved).quantize(Decimal("0.1")) if reserved else None,
    )


def _demo_logins(builder: Builder, today: date) -> list[tuple[str, str, str]]:
    """Give one person of each role (two reviewers: a decision needs two reviews) a fresh
    random password, to sign in to the demo with."""
    from sqlalchemy import select

    from aisc.accounts.auth import set_password
    from aisc.applications.models import Application
    from aisc.awards.models import Award, AwardStatus

    with builder.step(_at(today, 0)) as ctx:
        pi = ctx.db.execute(
            select(Application.created_by_id)
            .join(Award, Award.application_id == Application.id)
            .where(Award.status == AwardStatus.ACTIVE)
            .order_by(Award.id)
            .limit(1)
        ).scalar_one()
        pi_email = next(e for e, i in builder.people.items() if i == pi)
        chosen = [
            ("applicant", pi_email),
            ("secretariat", SECRETARIAT[0][0]),
            ("reviewer", REVIEWERS[0][0]),
            ("reviewer", REVIEWERS[1][0]),
            *[(role.value, email) for email, _name, role in OTHER_STAFF],
        ]
        logins = []
        for role, email in chosen:
            password = f"Demo-{secrets.token_urlsafe(12)}-7a"
            set_password(ctx, person_id=builder.people[email], password=password)
            logins.append((role, email, password))
    return logins
