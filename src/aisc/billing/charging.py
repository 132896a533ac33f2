"""The monthly billing run, credit notes and the reconciliation.

Charging rules (all in integer cents, rounded half up once per line):

- a dedicated allocation costs its cards x the card-month list price, pro-rated by day:
  ``cards x price x days / days_in_month``, busy or idle, while its award is active, suspended
  or completed;
- pooled usage costs its GPU-seconds x the GPU-hour list price / 3600; usage beyond the award's
  granted GPU-hours is an ``over_award`` line at the full list price, without subsidy;
- prices come from the price list locked in the award, throughout the award;
- each line's subsidy is ``min(rate x list (rounded down), the award's remaining commitment)``
  and the user pays the rest.

Usage is billed by bucket (``aisc.metering``): the open buckets of the month and before are
charged and closed, so the run touches buckets, never the usage records. A dedicated award's
usage is closed with its card-day line (the cards cover it: no extra amount).

``run_month`` issues one invoice per award and month, numbered in sequence, and writes the
fund's disbursement of its subsidy in the same transaction; running it again issues nothing
twice (one invoice per award and month; every bucket is charged once, late usage on the next
run). Usage recorded after its month was billed is charged on the next month's invoice.
"""

from __future__ import annotations

import calendar
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, String, column, func, select, update, values

from aisc.access import authorize
from aisc.allocations.models import Allocation
from aisc.applications.models import RequestKind
from aisc.audit.service import record
from aisc.awards.models import Award
from aisc.billing.alerts import check_burn
from aisc.billing.models import (
    CHARGED_STATUSES,
    DEFAULT_TERMS_DAYS,
    BillingRun,
    Charge,
    ChargeKind,
    CreditNote,
    Invoice,
    Notification,
)
from aisc.billing.months import midnight, next_month, parse_month
from aisc.context import Ctx
from aisc.errors import Conflict, NotFound
from aisc.ledger import service as ledger
from aisc.metering.models import UsageBucket
from aisc.money import format_hkd
from aisc.pricing.models import PriceList

__all__ = ["next_month", "parse_month", "run_month"]


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass
class RunResult:
    month: date
    invoices: list[Invoice] = field(default_factory=list)
    skipped: int = 0  # awards already invoiced for the month
    notifications: list[Notification] = field(default_factory=list)


@dataclass
class _Line:
    kind: ChargeKind
    key: str
    gpu_model: str
    quantity: int
    unit_price_cents: int
    list_cents: int
    description: str
    usage_filter: tuple[str, int] | None = None  # (gpu model, award id) usage to link


def _prices(ctx: Ctx, award: Award) -> PriceList:
    cache: dict[int, PriceList] = ctx.db.info.setdefault("billing_prices", {})
    if award.price_list_id in cache:
        return cache[award.price_list_id]
    price_list = ctx.db.get(PriceList, award.price_list_id)
    if price_list is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound(f"price list {award.price_list_id} not found")
    price_list.items  # noqa: B018 - load the items once
    cache[award.price_list_id] = price_list
    return price_list


def _item(price_list: PriceList, gpu_model: str) -> Any:
    item = price_list.item_for(gpu_model)
    if item is None:
        raise Conflict(
            f"price list {price_list.version} has no price for {gpu_model}", field="gpu_model"
        )
    return item


def _dedicated_lines(ctx: Ctx, award: Award, month: date, end: date) -> list[_Line]:
    if award.status not in CHARGED_STATUSES:
        return []
    lines = []
    days_in_month = calendar.monthrange(month.year, month.month)[1]
    allocations = ctx.db.execute(
        select(Allocation)
        .where(Allocation.award_id == award.id, Allocation.kind == RequestKind.DEDICATED)
        .order_by(Allocation.id)
    ).scalars()
    prices = _prices(ctx, award)
    for alloc in allocations:
        days = (min(alloc.end_date, end) - max(alloc.start_date, month)).days
        if days <= 0 or not alloc.gpu_cards:
            continue
        price = _item(prices, alloc.gpu_model_code).card_month_cents
        card_days = alloc.gpu_cards * days
        lines.append(
            _Line(
                kind=ChargeKind.DEDICATED,
                key=f"dedicated:{alloc.id}:{month:%Y-%m}",
                gpu_model=alloc.gpu_model_code,
                quantity=card_days,
                unit_price_cents=price,
                list_cents=half_up(price * card_days, days_in_month),
                description=(
                    f"{alloc.gpu_cards} x {alloc.gpu_model_code} dedicated, {days} of "
                    f"{days_in_month} days at {format_hkd(price)} per card-month"
                ),
                # The card-days carry what the cards ran: their usage is billed (closed) with
                # this line, so that it is not left open for ever and the award can close.
                usage_filter=(alloc.gpu_model_code, award.id),
            )
        )
    return lines


def _pooled_lines(
    ctx: Ctx, award: Award, month: date, usage: dict[str, int], already: int
) -> list[_Line]:
    """Lines for the award's uncharged usage (GPU-seconds by model); ``already``: pooled
    GPU-seconds charged on earlier invoices."""
    if award.kind is RequestKind.DEDICATED:
        return []  # the card-month charge covers what dedicated allocations run
    lines = []
    prices = _prices(ctx, award)
    left = max(0, (award.gpu_hours or 0) * 3600 - already)
    for gpu_model in sorted(usage):
        seconds = usage[gpu_model]
        price = _item(prices, gpu_model).gpu_hour_cents
        within = min(seconds, left) if gpu_model == award.gpu_model_code else 0
        left -= within
        for kind, quantity in (
            (ChargeKind.POOLED, within),
            (ChargeKind.OVER_AWARD, seconds - within),
        ):
            if quantity <= 0:
                continue
            lines.append(
                _Line(
                    kind=kind,
                    key=f"{kind.value}:{award.id}:{gpu_model}:{month:%Y-%m}",
                    gpu_model=gpu_model,
                    quantity=quantity,
                    unit_price_cents=price,
                    list_cents=half_up(price * quantity, 3600),
                    description=(
                        f"{Decimal(quantity) / 3600:,.2f} GPU-hours of {gpu_model} at "
                        f"{format_hkd(price)} per GPU-hour"
                        + (
                            " (beyond the award: no subsidy)"
                            if kind is ChargeKind.OVER_AWARD
                            else ""
                        )
                    ),
                    usage_filter=(gpu_model, award.id),
                )
            )
    return lines


def next_seq(ctx: Ctx, model: type[Invoice] | type[CreditNote]) -> int:
    """The next number; the caller holds the scheme lock, so numbers are gapless.

    Not an action of its own (it numbers what ``run_month`` or ``credit`` issues, inside the
    action they authorised), so it checks nothing."""
    return int(ctx.db.execute(select(func.coalesce(func.max(model.seq), 0))).scalar_one()) + 1


def run_month(ctx: Ctx, *, month: date) -> RunResult:
    """Invoice every award for ``month`` (a finished month); idempotent. Burn alerts are queued
    in the same transaction and leave after it commits (``aisc.billing.alerts``)."""
    authorize(ctx, "billing.run")
    began = time.perf_counter()
    end = next_month(month)
    if midnight(end) > ctx.now:
        raise Conflict(f"{month:%Y-%m} has not ended yet; bill it from {end}", field="month")
    from aisc.scheme.service import get_scheme

    scheme = get_scheme(ctx)
    ledger.lock_scheme(ctx, scheme.id)  # one run at a time; numbers stay gapless
    result = RunResult(month=month)
    invoiced = set(ctx.db.execute(select(Invoice.award_id).where(Invoice.month == month)).scalars())
    # Open buckets of the month and before (late usage of earlier months too).
    pending: dict[int, dict[str, int]] = defaultdict(dict)
    for award_id, gpu_model, seconds in ctx.db.execute(
        select(UsageBucket.award_id, UsageBucket.gpu_model_code, func.sum(UsageBucket.gpu_seconds))
        .where(UsageBucket.charge_id.is_(None), UsageBucket.month < end)
        .group_by(UsageBucket.award_id, UsageBucket.gpu_model_code)
    ):
        pending[award_id][gpu_model] = int(seconds)
    charged_before = dict(
        ctx.db.execute(
            select(Charge.award_id, func.sum(Charge.quantity))
            .where(Charge.kind.in_((ChargeKind.POOLED, ChargeKind.OVER_AWARD)))
            .group_by(Charge.award_id)
        ).all()
    )
    awards = ctx.db.execute(
        select(Award).where(Award.start_date < end, Award.end_date > month).order_by(Award.id)
    ).scalars()
    candidates = {a.id: a for a in awards}
    for award_id in pending:
        if award_id not in candidates:
            candidates[award_id] = ctx.db.get(Award, award_id)  # type: ignore[assignment]
    links: dict[tuple[str, int], int] = {}  # (gpu model, award) -> the line carrying its usage
    for award_id in sorted(candidates):
        award = candidates[award_id]
        if award_id in invoiced:
            result.skipped += 1
            continue
        lines = _dedicated_lines(ctx, award, month, end) + _pooled_lines(
            ctx, award, month, pending.get(award_id, {}), int(charged_before.get(award_id, 0))
        )
        if lines:
            result.invoices.append(_issue(ctx, award, month, lines, links))
    _link_usage(ctx, links, end)
    ctx.db.info.pop("billing_prices", None)
    result.notifications = check_burn(ctx)
    ctx.db.add(
        BillingRun(
            month=month,
            started_at=ctx.now,
            seconds=time.perf_counter() - began,
            issued=len(result.invoices),
            skipped=result.skipped,
            run_by=ctx.actor,
        )
    )
    return result


def _link_usage(ctx: Ctx, links: dict[tuple[str, int], int], end: date) -> None:
    """Close the billed buckets with the line that carries them: one statement (a join with
    the run's (award, model) -> line map), however many lines; the records are not touched."""
    if not links:
        return
    mapping = (
        values(
            column("award_id", Integer),
            column("gpu_model_code", String),
            column("charge_id", Integer),
            name="billed",
        )
        .data([(award_id, model, charge_id) for (model, award_id), charge_id in links.items()])
        .cte("billed")  # WITH billed(...) AS (VALUES ...): both SQLite and PostgreSQL read it
    )
    ctx.db.execute(
        update(UsageBucket)
        .where(
            UsageBucket.award_id == mapping.c.award_id,
            UsageBucket.gpu_model_code == mapping.c.gpu_model_code,
            UsageBucket.charge_id.is_(None),
            UsageBucket.month < end,
        )
        .values(charge_id=mapping.c.charge_id)
        .execution_options(synchronize_session="fetch")
    )


def _issue(
    ctx: Ctx,
    award: Award,
    month: date,
    lines: list[_Line],
    links: dict[tuple[str, int], int],
) -> Invoice:
    # Everything is computed first: an invoice row is written once and never updated.
    remaining = ledger.award_balance(ctx, award_id=award.id, action="billing.run").remaining
    start_remaining = remaining
    subsidies = []
    for line in lines:
        subsidy = 0
        if line.kind is not ChargeKind.OVER_AWARD:
            subsidy = min(line.list_cents * award.subsidy_rate_bp // 10_000, max(remaining, 0))
        remaining -= subsidy
        subsidies.append(subsidy)
    total_list = sum(line.list_cents for line in lines)
    total_subsidy = sum(subsidies)
    seq = next_seq(ctx, Invoice)
    number = f"INV-{seq:06d}"
    entry = None
    if total_subsidy > 0:
        entry = ledger.pay_subsidy(
            ctx,
            award_id=award.id,
            amount_cents=total_subsidy,
            memo=f"invoice {number} ({month:%Y-%m})",
            scheme_id=award.scheme_id,
            remaining=start_remaining,
        )
    from aisc.scheme.models import Scheme

    scheme = ctx.db.get(Scheme, award.scheme_id)
    terms = scheme.payment_terms_days if scheme is not None else DEFAULT_TERMS_DAYS
    invoice = Invoice(
        seq=seq,
        number=number,
        award_id=award.id,
        month=month,
        issued_at=ctx.now,
        issued_by=ctx.actor,
        issue_date=ctx.now.date(),
        due_date=ctx.now.date() + timedelta(days=terms),
        terms_days=terms,
        list_cents=total_list,
        subsidy_cents=total_subsidy,
        payable_cents=total_list - total_subsidy,
        ledger_entry_id=entry.id if entry else None,
    )
    ctx.db.add(invoice)
    ctx.db.flush()
    for line, subsidy in zip(lines, subsidies, strict=True):
        charge = Charge(
            key=line.key,
            invoice_id=invoice.id,
            award_id=award.id,
            month=month,
            kind=line.kind,
            gpu_model_code=line.gpu_model,
            quantity=line.quantity,
            unit_price_cents=line.unit_price_cents,
            list_cents=line.list_cents,
            subsidy_cents=subsidy,
            payable_cents=line.list_cents - subsidy,
            description=line.description,
        )
        ctx.db.add(charge)
        ctx.db.flush()
        if line.usage_filter is not None:
            # The usage of (award, model) is carried by the group's first line (a pooled line,
            # or the over-award line when nothing was left of the grant).
            links.setdefault(line.usage_filter, charge.id)
    record(
        ctx,
        action="invoice.issue",
        object_type="invoice",
        object_id=invoice.id,
        after={
            "number": invoice.number,
            "award_id": award.id,
            "month": f"{month:%Y-%m}",
            "list_cents": invoice.list_cents,
            "subsidy_cents": invoice.subsidy_cents,
            "payable_cents": invoice.payable_cents,
            "ledger_entry_id": invoice.ledger_entry_id,
            "lines": len(lines),
        },
    )
    return invoice
