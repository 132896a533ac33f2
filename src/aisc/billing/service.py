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
charged and closed, so the run touches buckets, never the usage records.

``run_month`` issues one invoice per award and month, numbered in sequence, and writes the
fund's disbursement of its subsidy in the same transaction; running it again issues nothing
twice (one invoice per award and month; every bucket is charged once, late usage on the next
run). Usage recorded after its month was billed is charged on the next month's invoice.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Integer, String, column, func, select, update, values

from aisc.access import authorize, awards_in_reach, project_of, visible
from aisc.allocations.models import Allocation
from aisc.applications.models import RequestKind
from aisc.audit.service import record
from aisc.awards.models import Award, AwardStatus
from aisc.billing.models import Charge, ChargeKind, CreditNote, Invoice, Notification
from aisc.context import Ctx
from aisc.errors import Conflict, NotFound, ValidationFailed
from aisc.ledger import service as ledger
from aisc.metering.models import UsageBucket, UsageRecord
from aisc.money import format_hkd
from aisc.pricing.models import PriceList

CHARGED_STATUSES = (AwardStatus.ACTIVE, AwardStatus.SUSPENDED, AwardStatus.COMPLETED)
BURN_THRESHOLDS = (50, 80, 100)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> date:
    """``YYYY-MM`` as the first day of that month."""
    found = _MONTH.match(text.strip())
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
        raise ValidationFailed(f"month: {text!r} is not a month like 2025-03", field="month")
    return date(int(found.group(1)), int(found.group(2)), 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _midnight(day: date) -> datetime:
    from datetime import UTC

    return datetime.combine(day, time(0), tzinfo=UTC)


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
                        f"{quantity / 3600:,.2f} GPU-hours of {gpu_model} at "
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


def _next_seq(ctx: Ctx, model: type[Invoice] | type[CreditNote]) -> int:
    """The next number; the caller holds the scheme lock, so numbers are gapless."""
    return int(ctx.db.execute(select(func.coalesce(func.max(model.seq), 0))).scalar_one()) + 1


def run_month(ctx: Ctx, *, month: date, notifier: Any = None) -> RunResult:
    """Invoice every award for ``month`` (a finished month); idempotent."""
    authorize(ctx, "billing.run")
    end = next_month(month)
    if _midnight(end) > ctx.now:
        raise Conflict(f"{month:%Y-%m} has not ended yet; bill it from {end}", field="month")
    from aisc.scheme.service import get_scheme

    scheme = get_scheme(ctx.db)
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
    result.notifications = check_burn(ctx, notifier=notifier)
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
    remaining = ledger.award_balance(ctx.db, award_id=award.id).remaining
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
    seq = _next_seq(ctx, Invoice)
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
    invoice = Invoice(
        seq=seq,
        number=number,
        award_id=award.id,
        month=month,
        issued_at=ctx.now,
        issued_by=ctx.actor,
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
            "lines": len(lines),
        },
    )
    return invoice


# --- credit notes ----------------------------------------------------------------------------


def credited(ctx: Ctx, invoice_id: int) -> tuple[int, int, int]:
    """(list, subsidy, payable) already credited against an invoice."""
    row = ctx.db.execute(
        select(
            func.coalesce(func.sum(CreditNote.list_cents), 0),
            func.coalesce(func.sum(CreditNote.subsidy_cents), 0),
            func.coalesce(func.sum(CreditNote.payable_cents), 0),
        ).where(CreditNote.invoice_id == invoice_id)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def credit(ctx: Ctx, *, invoice_id: int, list_cents: int, reason: str) -> CreditNote:
    """Credit part (or all) of an invoice's list amount, split as the invoice was split.

    The subsidy part goes back to the award's commitment in the fund's ledger.
    """
    authorize(ctx, "billing.credit")
    if not reason.strip():
        raise ValidationFailed("reason: a credit note needs a reason", field="reason")
    invoice = ctx.db.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found", field="invoice_id")
    award = ctx.db.get(Award, invoice.award_id)
    assert award is not None
    ledger.lock_scheme(ctx, award.scheme_id)
    done_list, done_subsidy, done_payable = credited(ctx, invoice.id)
    open_list = invoice.list_cents - done_list
    if list_cents <= 0 or list_cents > open_list:
        raise ValidationFailed(
            f"amount: between HK$0.01 and {format_hkd(open_list)} (what is left to credit on "
            f"{invoice.number})",
            field="amount",
        )
    open_subsidy = invoice.subsidy_cents - done_subsidy
    open_payable = invoice.payable_cents - done_payable
    if list_cents == open_list:
        subsidy = open_subsidy
    else:
        subsidy = min(list_cents * invoice.subsidy_cents // invoice.list_cents, open_subsidy)
        subsidy = max(subsidy, list_cents - open_payable)  # never credit more than was payable
    seq = _next_seq(ctx, CreditNote)
    number = f"CN-{seq:06d}"
    entry = None
    if subsidy > 0:
        entry = ledger.reverse_subsidy(
            ctx,
            award_id=award.id,
            amount_cents=subsidy,
            memo=f"credit note {number} on {invoice.number}",
        )
    note = CreditNote(
        seq=seq,
        number=number,
        invoice_id=invoice.id,
        reason=reason.strip(),
        issued_at=ctx.now,
        issued_by=ctx.actor,
        list_cents=list_cents,
        subsidy_cents=subsidy,
        payable_cents=list_cents - subsidy,
        ledger_entry_id=entry.id if entry else None,
    )
    ctx.db.add(note)
    ctx.db.flush()
    record(
        ctx,
        action="invoice.credit",
        object_type="invoice",
        object_id=invoice.id,
        after={
            "credit_note": note.number,
            "list_cents": note.list_cents,
            "subsidy_cents": note.subsidy_cents,
            "payable_cents": note.payable_cents,
            "reason": note.reason,
        },
    )
    return note


# --- reading ---------------------------------------------------------------------------------


def view_invoice(ctx: Ctx, *, invoice_id: int) -> Invoice:
    access = authorize(ctx, "billing.read")
    invoice = ctx.db.get(Invoice, invoice_id)
    return visible(
        access,
        invoice,
        f"invoice {invoice_id}",
        field="invoice_id",
        application_id=project_of(ctx, invoice.award_id if invoice else None),
    )


def list_invoices(
    ctx: Ctx,
    *,
    award_id: int | None = None,
    month: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Invoice]:
    access = authorize(ctx, "billing.read")
    query = select(Invoice).order_by(Invoice.seq)
    scope = awards_in_reach(access, Invoice.award_id)
    if scope is not None:
        query = query.where(scope)
    if award_id is not None:
        query = query.where(Invoice.award_id == award_id)
    if month is not None:
        query = query.where(Invoice.month == month)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def lines_of(ctx: Ctx, invoice: Invoice) -> list[Charge]:
    return list(
        ctx.db.execute(
            select(Charge).where(Charge.invoice_id == invoice.id).order_by(Charge.id)
        ).scalars()
    )


def credit_notes_of(ctx: Ctx, invoice: Invoice) -> list[CreditNote]:
    return list(
        ctx.db.execute(
            select(CreditNote).where(CreditNote.invoice_id == invoice.id).order_by(CreditNote.seq)
        ).scalars()
    )


# --- reconciliation --------------------------------------------------------------------------


@dataclass
class Reconciliation:
    month: date
    invoices: int = 0
    usage_gpu_seconds: int = 0
    charged_gpu_seconds: int = 0
    list_cents: int = 0
    subsidy_cents: int = 0
    payable_cents: int = 0
    credited_subsidy_cents: int = 0
    ledger_disbursed_cents: int = 0
    ledger_reversed_cents: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.differences


def reconcile(ctx: Ctx, *, month: date) -> Reconciliation:
    """Usage = charges = invoice lines = ledger disbursements for ``month``, per award and in
    total, to the cent; every difference is named."""
    from aisc.ledger.models import EntryKind, LedgerEntry

    authorize(ctx, "reconciliation.read")
    end = next_month(month)
    result = Reconciliation(month=month)
    diff = result.differences
    # Usage that should have been billed by now and was not.
    for award_id, records, seconds in ctx.db.execute(
        select(
            UsageBucket.award_id, func.sum(UsageBucket.records), func.sum(UsageBucket.gpu_seconds)
        )
        .where(UsageBucket.charge_id.is_(None), UsageBucket.month < end)
        .group_by(UsageBucket.award_id)
    ):
        award = ctx.db.get(Award, award_id)
        if award is not None and award.kind is RequestKind.DEDICATED:
            continue  # the card-month charge covers a dedicated award's usage
        diff.append(f"award {award_id}: {records} usage records ({seconds} GPU-seconds) not billed")
    invoices = list(ctx.db.execute(select(Invoice).where(Invoice.month == month)).scalars())
    result.invoices = len(invoices)
    entries = {
        e.id: e
        for e in ctx.db.execute(
            select(LedgerEntry).where(
                LedgerEntry.kind.in_((EntryKind.DISBURSEMENT, EntryKind.REVERSAL))
            )
        ).scalars()
    }
    loose = ctx.db.execute(
        select(func.count(), func.coalesce(func.sum(UsageRecord.gpu_seconds), 0)).where(
            UsageRecord.bucket_id.is_(None), UsageRecord.ended_at < _midnight(end)
        )
    ).one()
    if loose[0]:
        diff.append(f"{loose[0]} usage records ({loose[1]} GPU-seconds) are in no bucket")
    # What the month's lines carry, counted from the records themselves (not the buckets'
    # running totals), and every bucket's total against its records.
    carried: dict[int, int] = defaultdict(int)
    for bucket_id, charge_id, total, records, summed, counted in ctx.db.execute(
        select(
            UsageBucket.id,
            UsageBucket.charge_id,
            UsageBucket.gpu_seconds,
            UsageBucket.records,
            func.coalesce(func.sum(UsageRecord.gpu_seconds), 0),
            func.count(UsageRecord.id),
        )
        .join(Charge, Charge.id == UsageBucket.charge_id)
        .outerjoin(UsageRecord, UsageRecord.bucket_id == UsageBucket.id)
        .where(Charge.month == month)
        .group_by(
            UsageBucket.id, UsageBucket.charge_id, UsageBucket.gpu_seconds, UsageBucket.records
        )
    ):
        carried[charge_id or 0] += int(summed)
        if (int(total), int(records)) != (int(summed), int(counted)):
            diff.append(
                f"bucket {bucket_id}: {total} GPU-seconds in {records} records on the bucket, "
                f"{summed} in {counted} records"
            )
    for invoice in invoices:
        lines = lines_of(ctx, invoice)
        name = f"award {invoice.award_id} {invoice.number}"
        for label, total, part in (
            ("list", invoice.list_cents, sum(c.list_cents for c in lines)),
            ("subsidy", invoice.subsidy_cents, sum(c.subsidy_cents for c in lines)),
            ("payable", invoice.payable_cents, sum(c.payable_cents for c in lines)),
        ):
            if total != part:
                diff.append(f"{name}: {label} {total} on the invoice, {part} in its lines")
        by_model: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # charged, carried
        for line in lines:
            if line.kind is ChargeKind.DEDICATED:
                continue
            by_model[line.gpu_model_code][0] += line.quantity
            by_model[line.gpu_model_code][1] += int(carried.get(line.id, 0))
        for model, (charged, used) in sorted(by_model.items()):
            result.usage_gpu_seconds += used
            result.charged_gpu_seconds += charged
            if used != charged:
                diff.append(f"{name}: {charged} GPU-seconds of {model} charged, usage {used}")
        entry = entries.get(invoice.ledger_entry_id or 0)
        paid = entry.amount_cents if entry and entry.kind is EntryKind.DISBURSEMENT else 0
        if paid != invoice.subsidy_cents or (entry and entry.award_id != invoice.award_id):
            diff.append(f"{name}: subsidy {invoice.subsidy_cents}, ledger disbursement {paid}")
        result.list_cents += invoice.list_cents
        result.subsidy_cents += invoice.subsidy_cents
        result.payable_cents += invoice.payable_cents
        result.ledger_disbursed_cents += paid
        for note in credit_notes_of(ctx, invoice):
            back = entries.get(note.ledger_entry_id or 0)
            reversed_ = back.amount_cents if back and back.kind is EntryKind.REVERSAL else 0
            if reversed_ != note.subsidy_cents:
                diff.append(
                    f"{name}: {note.number} subsidy {note.subsidy_cents}, ledger {reversed_}"
                )
            result.credited_subsidy_cents += note.subsidy_cents
            result.ledger_reversed_cents += reversed_
    if result.subsidy_cents != result.ledger_disbursed_cents:
        diff.append(
            f"total: subsidy {result.subsidy_cents} invoiced, {result.ledger_disbursed_cents} "
            "disbursed"
        )
    return result


# --- burn alerts -----------------------------------------------------------------------------


def burn_pct(award: Award, *, drawn: int, used_seconds: int) -> int:
    """How much of the award is used, in whole percent: the subsidy drawn from its cap, or
    for pooled awards the granted GPU-hours used, whichever is further along."""
    pct = drawn * 100 // award.subsidy_cap_cents if award.subsidy_cap_cents else 0
    if award.kind is RequestKind.POOLED and award.gpu_hours:
        pct = max(pct, used_seconds * 100 // (award.gpu_hours * 3600))
    return pct


def check_burn(ctx: Ctx, *, notifier: Any = None) -> list[Notification]:
    """Store (once) and deliver a notification for each award passing 50, 80 or 100%."""
    from aisc.ledger.models import EntryKind, LedgerEntry

    sent = set(ctx.db.execute(select(Notification.award_id, Notification.kind)).all())
    used = dict(
        ctx.db.execute(
            select(UsageBucket.award_id, func.sum(UsageBucket.gpu_seconds)).group_by(
                UsageBucket.award_id
            )
        ).all()
    )
    drawn: dict[int, int] = defaultdict(int)
    for award_id, entry_kind, amount in ctx.db.execute(
        select(LedgerEntry.award_id, LedgerEntry.kind, func.sum(LedgerEntry.amount_cents))
        .where(LedgerEntry.kind.in_((EntryKind.DISBURSEMENT, EntryKind.REVERSAL)))
        .group_by(LedgerEntry.award_id, LedgerEntry.kind)
    ):
        sign = 1 if entry_kind is EntryKind.DISBURSEMENT else -1
        drawn[int(award_id or 0)] += sign * int(amount)
    made = []
    for award in ctx.db.execute(
        select(Award).where(Award.status.in_(CHARGED_STATUSES)).order_by(Award.id)
    ).scalars():
        pct = burn_pct(award, drawn=drawn[award.id], used_seconds=int(used.get(award.id, 0)))
        for threshold in BURN_THRESHOLDS:
            kind = f"burn_{threshold}"
            if pct < threshold or (award.id, kind) in sent:
                continue
            note = Notification(
                award_id=award.id,
                kind=kind,
                message=(
                    f"Award {award.id} ({award.title}) has used {pct}% of its grant "
                    f"(alert at {threshold}%)."
                ),
                created_at=ctx.now,
            )
            ctx.db.add(note)
            ctx.db.flush()
            if notifier is not None:
                notifier.send(ctx, note)
                note.delivered_at, note.channel = ctx.now, notifier.channel
            record(
                ctx,
                action="notification.burn",
                object_type="award",
                object_id=award.id,
                after={"kind": kind, "pct": pct},
            )
            made.append(note)
    return made


def list_notifications(
    ctx: Ctx, *, award_id: int | None = None, limit: int = 100, offset: int = 0
) -> list[Notification]:
    access = authorize(ctx, "billing.read")
    query = select(Notification).order_by(Notification.id)
    scope = awards_in_reach(access, Notification.award_id)
    if scope is not None:
        query = query.where(scope)
    if award_id is not None:
        query = query.where(Notification.award_id == award_id)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


# --- busy against reserved -------------------------------------------------------------------


@dataclass(frozen=True)
class Busy:
    award_id: int
    title: str
    reserved_gpu_seconds: int
    busy_gpu_seconds: int


def busy_vs_reserved(ctx: Ctx, *, today: date) -> list[Busy]:
    """Per award with dedicated allocations: GPU-time used against GPU-time reserved so far.

    Reserved is cards x time from each allocation's start to today (or its end); busy is the
    usage measured for the award in the same time. Officials quote the overall ratio (about
    80%) as the centre's measured use.
    """
    authorize(ctx, "billing.read")
    reserved: dict[int, int] = defaultdict(int)
    for alloc, status in ctx.db.execute(
        select(Allocation, Award.status)
        .join(Award, Award.id == Allocation.award_id)
        .where(Allocation.kind == RequestKind.DEDICATED, Allocation.start_date < today)
    ).all():
        if status not in CHARGED_STATUSES or not alloc.gpu_cards:
            continue
        days = (min(alloc.end_date, today) - alloc.start_date).days
        reserved[alloc.award_id] += alloc.gpu_cards * days * 86_400
    result = []
    for award_id in sorted(reserved):
        award = ctx.db.get(Award, award_id)
        assert award is not None
        busy = int(
            ctx.db.execute(
                select(func.coalesce(func.sum(UsageRecord.gpu_seconds), 0)).where(
                    UsageRecord.award_id == award_id, UsageRecord.ended_at < _midnight(today)
                )
            ).scalar_one()
        )
        result.append(Busy(award_id, award.title, reserved[award_id], busy))
    return result
