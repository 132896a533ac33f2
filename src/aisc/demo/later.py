"""The demo centre after the public record: carried on from DEMO_PRESENT to the day it is built.

The record ends in mid-2025; a demo built later would otherwise show a centre that stopped then
(awards active past their period, nothing allocated today, every later report overdue). So the
builder carries the centre on, through the same services, to ``today``:

- a steady flow of applications from the demo organisations (most approved at the default
  rate, some rejected or deferred), sized to keep the centre busy: about 85% of the training
  partition's cards allocated once phase 2 is installed (31 December 2025), and the inference
  partition's L40S cards in use by later awards;
- every month's measured use recorded (about 80% of the reserved GPU-time) and every full month
  billed (``charging.run_month``) on the 1st of the next, each invoice paid about three weeks
  later; this month's use so far is recorded too;
- every progress report that fell due before today submitted two days early and accepted three
  days after its due date (one accepted after today stays in the secretariat's queue);
- awards whose period ended closed as completed once their last month is billed (the worker's
  duty ``aisc.awards.closeout.complete_ended``, run after each month's billing).

Deterministic for a given ``today``: the plan is a pure function of it (``plan_later``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from aisc.allocations.models import Allocation
from aisc.awards.closeout import complete_ended
from aisc.awards.models import Award, AwardStatus
from aisc.billing import charging, receivables
from aisc.billing.models import Invoice, PaymentMethod
from aisc.billing.months import next_month
from aisc.cluster.catalogue import H800, L40S
from aisc.context import Ctx
from aisc.demo.receivables import PAID_AFTER_DAYS
from aisc.demo.records import DEMO_PRESENT, Plan
from aisc.metering.service import record_usage
from aisc.progress import service as progress
from aisc.progress.models import ProgressReport, ReportStatus
from aisc.progress.schemas import ReportSubmit

PHASE_2 = date(2025, 12, 31)
# Cards each partition can give (training: phase 1 then phase 1 + 2; inference: phase 2 only).
TARGET_PCT = 92
# Organisations that apply after the record (indexes into ORGANISATIONS; not the ineligible one).
APPLICANTS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
TOPICS = [
    ("Cantonese speech recognition for public services", "llm"),
    ("Catalyst discovery with graph models", "materials"),
    ("Enzyme design with diffusion models", "synthetic_biology"),
    ("Pathology slide foundation model", "medical"),
    ("Trade-finance document understanding", "finance"),
    ("Warehouse robot manipulation policies", "robotics"),
    ("Typhoon track and rainfall nowcasting", "climate"),
    ("Cantonese film dubbing and subtitling", "media"),
    ("Legal-text retrieval for Hong Kong ordinances", "llm"),
    ("Air-quality forecasting at street level", "climate"),
    ("Drug-target interaction screening", "medical"),
    ("Traffic video analytics for tunnels", "robotics"),
]
MONTHS = [12, 9, 6, 12, 10, 8]
# Awards end by the scheme's end (its default period: 7 October 2024 to 6 October 2027).
SCHEME_END = date(2027, 10, 6)


def _at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _capacity(model: str, day: date) -> int:
    """Cards of ``model`` an award can be given on ``day`` (the demo's inventory)."""
    if model == H800:
        return 1280 if day < PHASE_2 else 3000
    return 128 if day >= PHASE_2 else 0


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)


@dataclass(frozen=True)
class Held:
    start: date
    end: date  # exclusive
    model: str
    cards: int


def plan_later(today: date, held: list[Held]) -> list[Plan]:
    """The applications made after the record, up to ``today``: a pure function of its
    arguments (``held``: the cards awarded by the record)."""
    planned = list(held)
    plans: list[Plan] = []

    def free(model: str, start: date, end: date) -> int:
        least = None
        day = start
        while day < end:
            used = sum(h.cards for h in planned if h.model == model and h.start <= day < h.end)
            room = _capacity(model, day) * TARGET_PCT // 100 - used
            least = room if least is None else min(least, room)
            day += timedelta(days=1)
        return least or 0

    slot = 0
    month = date(DEMO_PRESENT.year, DEMO_PRESENT.month, 1)
    month = next_month(month)
    while month <= today:
        for week in range(3):
            submitted = month + timedelta(days=3 + 7 * week)
            if submitted + timedelta(days=3) >= today:
                break
            model = L40S if week == 2 and submitted >= date(2025, 10, 1) else H800
            start = next_month(submitted + timedelta(days=60))
            if start < PHASE_2:
                start = date(2026, 1, 1)  # phase 1 is full: later awards wait for phase 2
            months = MONTHS[slot % len(MONTHS)]
            while months > 3 and _add_months(start, months) > SCHEME_END:
                months -= 1
            end = _add_months(start, months)
            if end > SCHEME_END:
                break  # the scheme ends: nothing more to apply for
            title, domain = TOPICS[slot % len(TOPICS)]
            org = APPLICANTS[(slot * 5) % len(APPLICANTS)]
            kind = slot % 7
            slot += 1
            name = f"{title} ({submitted:%b %Y})"
            if kind == 5:
                plans.append(
                    _plan(org, name, domain, model, 96, months, start, submitted, "reject")
                )
                continue
            if kind == 6:
                plans.append(_plan(org, name, domain, model, 64, months, start, submitted, "defer"))
                continue
            limit = 64 if model == L40S else 320
            cards = min(free(model, start, end), limit) // 8 * 8
            if cards < 16:
                continue
            plans.append(_plan(org, name, domain, model, cards, months, start, submitted, ""))
            planned.append(Held(start, end, model, cards))
        month = next_month(month)
    return plans


def _plan(
    org: int,
    title: str,
    domain: str,
    model: str,
    cards: int,
    months: int,
    start: date,
    submitted: date,
    fate: str,
) -> Plan:
    if fate == "reject":
        return Plan(
            org, title, domain, cards=cards, months=months, start=start, submitted=submitted,
            fate="reject_review", scores=(4, 4, 5, 3), model=model,
            reasons=[("compute_reasonableness",
                      "The compute request is not justified by the model and data sizes.")],
        )  # fmt: skip
    if fate == "defer":
        return Plan(
            org, title, domain, cards=cards, months=months, start=start, submitted=submitted,
            fate="defer", scores=(7, 6, 7, 6), model=model,
            reasons=[("capability", "Awaiting the team's confirmation of its hires.")],
        )  # fmt: skip
    return Plan(
        org, title, domain, cards=cards, months=months, start=start, submitted=submitted,
        model=model, scores=(8, 8, 7, 8),
    )  # fmt: skip


Event = tuple[datetime, int, Callable[[Ctx], object]]


def carry_on(builder: Any, today: date) -> int:
    """Carry the demo centre on from DEMO_PRESENT to ``today``; how many applications were
    made after the record."""
    if today <= DEMO_PRESENT:
        return 0
    with builder.step(_at(DEMO_PRESENT, 23)) as ctx:
        held = [
            Held(a.start_date, a.end_date, a.gpu_model_code, _cards(a))
            for a in ctx.db.execute(
                select(Allocation)
                .join(Award, Award.id == Allocation.award_id)
                .where(Award.status.in_((AwardStatus.ACTIVE, AwardStatus.SUSPENDED)))
            ).scalars()
        ]
    plans = plan_later(today, held)
    cutoff = _at(today, 0)
    queue: list[Event] = []
    seq = [0]

    def at(when: datetime, action: Callable[[Ctx], object]) -> None:
        if when < cutoff:
            seq[0] += 1
            heapq.heappush(queue, (when, seq[0], action))

    for offset, plan in enumerate(plans):
        for step in builder.steps(1000 + offset, plan):
            at(step.when, step.action)
    first = date(DEMO_PRESENT.year, DEMO_PRESENT.month, 1)
    month = next_month(first)
    while month <= today:
        at(_at(month, 0, 30), _month_tick(builder, at, today, month, month == next_month(first)))
        month = next_month(month)
    # This month's use so far, measured up to yesterday.
    current = date(today.year, today.month, 1)
    if current < today:
        at(_at(today - timedelta(days=1), 23), _usage(current, today))
    while queue:
        when, _seq, action = heapq.heappop(queue)
        with builder.step(when) as ctx:
            action(ctx)
    return len(plans)


def _cards(alloc: Allocation) -> int:
    """The cards an allocation holds: a pooled one's GPU-hours spread over its period."""
    if alloc.gpu_cards:
        return alloc.gpu_cards
    hours = (alloc.end_date - alloc.start_date).days * 24
    return -(-(alloc.gpu_hours or 0) // max(hours, 1))


def _usage(month: date, upto: date) -> Callable[[Ctx], object]:
    """Record the measured use of ``month`` (up to ``upto``) of every dedicated allocation."""

    def run(ctx: Ctx) -> None:
        end = min(next_month(month), upto)
        rows = ctx.db.execute(
            select(Allocation)
            .join(Award, Award.id == Allocation.award_id)
            .where(
                Award.status.in_((AwardStatus.ACTIVE, AwardStatus.SUSPENDED)),
                Allocation.start_date < end,
                Allocation.end_date > month,
            )
            .order_by(Allocation.id)
        ).scalars()
        for alloc in rows:
            days = (min(alloc.end_date, end) - max(alloc.start_date, month)).days
            if days <= 0 or not alloc.gpu_cards:
                continue
            busy_pct = 72 + (alloc.id * 7 + month.month * 3) % 17  # 72-88%: about 80%
            seconds = alloc.gpu_cards * days * 86_400 * busy_pct // 100
            ended = _at(min(end, alloc.end_date) - timedelta(days=1), 20)
            for part in range(4):
                record_usage(
                    ctx,
                    key=f"demo:{alloc.id}:{month:%Y-%m}:{upto:%d}:{part}",
                    source="demo",
                    award_id=alloc.award_id,
                    gpu_model=alloc.gpu_model_code,
                    gpu_seconds=seconds // 4,
                    started_at=ended - timedelta(hours=6),
                    ended_at=ended,
                )

    return run


def _month_tick(
    builder: Any, at: Callable[[datetime, Callable[[Ctx], object]], None], today: date,
    month: date, first: bool,
) -> Callable[[Ctx], object]:  # fmt: skip
    """The first of ``month``: last month's use, its billing and close-outs, and the reports
    that fall due this month."""
    last = date((month - timedelta(days=1)).year, (month - timedelta(days=1)).month, 1)

    def run(ctx: Ctx) -> None:
        _usage(last, month)(ctx)
        at(_at(month, 2), _bill(at, last))
        at(_at(month, 3), _close_ended)
        window = month + timedelta(days=2), next_month(month) + timedelta(days=2)
        query = select(ProgressReport).where(ProgressReport.due_date < window[1])
        if not first:
            query = query.where(ProgressReport.due_date >= window[0])
        for report in ctx.db.execute(query.order_by(ProgressReport.id)).scalars():
            accept = max(_at(report.due_date + timedelta(days=3), 15), _at(month, 1))
            if report.status == ReportStatus.DUE:
                submit = max(_at(report.due_date - timedelta(days=2)), _at(month, 1))
                at(submit, _submit(report.id))
                at(accept, _accept(report.id))
            elif report.status == ReportStatus.SUBMITTED:
                at(accept, _accept(report.id))

    return run


def _bill(
    at: Callable[[datetime, Callable[[Ctx], object]], None], month: date
) -> Callable[[Ctx], object]:
    """Bill ``month``; each invoice is paid in full about three weeks after it is issued."""

    def run(ctx: Ctx) -> None:
        for invoice in charging.run_month(ctx, month=month).invoices:
            if invoice.payable_cents > 0:
                paid_on = invoice.issue_date + timedelta(days=PAID_AFTER_DAYS)
                at(_at(paid_on, 11), _pay(invoice.id, paid_on))

    return run


def _pay(invoice_id: int, paid_on: date) -> Callable[[Ctx], object]:
    def run(ctx: Ctx) -> None:
        invoice = ctx.db.get(Invoice, invoice_id)
        assert invoice is not None
        outstanding = receivables.position(ctx, invoice).outstanding_cents
        if outstanding > 0:
            receivables.record_payment(
                ctx,
                invoice_id=invoice_id,
                amount_cents=outstanding,
                received_on=paid_on,
                reference=f"DEMO-{invoice.number}-1",
                method=PaymentMethod.FPS,
            )

    return run


def _submit(report_id: int) -> Callable[[Ctx], object]:
    def run(ctx: Ctx) -> None:
        from aisc.applications.models import ProjectMember, ProjectRole

        report = ctx.db.get(ProgressReport, report_id)
        assert report is not None
        award = ctx.db.get(Award, report.award_id)
        assert award is not None
        lead = ctx.db.scalar(
            select(ProjectMember.person_id).where(
                ProjectMember.application_id == award.application_id,
                ProjectMember.role == ProjectRole.PI,
            )
        )
        data = ReportSubmit.model_validate(
            {
                "narrative": f"{report.kind.value.capitalize()} report {report.sequence} of "
                f"{award.title}: the work went to plan.",
                "milestones": [{"title": f"Milestone {report.sequence}", "status": "done"}],
                "outputs": {
                    "papers": [{"title": f"{award.title}: results {report.sequence}"}],
                    "people_trained": 3,
                    "hk_relevance": "Builds local capability in Hong Kong.",
                },
                "submitted_by_id": lead,
            }
        )
        progress.submit_report(ctx, report_id=report_id, data=data)

    return run


def _accept(report_id: int) -> Callable[[Ctx], object]:
    def run(ctx: Ctx) -> None:
        progress.accept_report(ctx, report_id=report_id, note="Accepted.")

    return run


def _close_ended(ctx: Ctx) -> None:
    """The worker's close-out duty, right after the month's billing: every award whose period
    is over and whose last month is billed is completed."""
    complete_ended(ctx)
