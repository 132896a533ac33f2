"""Reading invoices, and busy against reserved GPU-time.

The rest of billing lives beside it: ``charging`` (the monthly run), ``credits`` (credit notes),
``reconcile`` and ``alerts`` (burn notifications), ``views`` (what the edges show: invoices with
their lines, statements, the busy report and the one busy % computation).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from aisc.access import authorize, awards_in_reach, project_of, visible
from aisc.allocations.models import Allocation
from aisc.applications.models import RequestKind
from aisc.awards.models import Award
from aisc.billing.models import (
    CHARGED_STATUSES,
    Charge,
    CreditNote,
    Invoice,
)
from aisc.billing.months import midnight, next_month
from aisc.context import Ctx
from aisc.metering.models import UsageBucket, UsageRecord
from aisc.metering.service import month_of


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


def _in_reach(ctx: Ctx, invoice: Invoice) -> None:
    """Refuse an invoice the caller may not read, as if it did not exist."""
    access = authorize(ctx, "billing.read")
    if not access.everything:
        visible(
            access,
            invoice,
            f"invoice {invoice.id}",
            field="invoice_id",
            application_id=project_of(ctx, invoice.award_id),
        )


def lines_of(ctx: Ctx, invoice: Invoice) -> list[Charge]:
    """An invoice's lines (``billing.read``)."""
    _in_reach(ctx, invoice)
    return list(
        ctx.db.execute(
            select(Charge).where(Charge.invoice_id == invoice.id).order_by(Charge.id)
        ).scalars()
    )


def credit_notes_of(ctx: Ctx, invoice: Invoice) -> list[CreditNote]:
    """The credit notes issued against an invoice (``billing.read``)."""
    _in_reach(ctx, invoice)
    return list(
        ctx.db.execute(
            select(CreditNote).where(CreditNote.invoice_id == invoice.id).order_by(CreditNote.seq)
        ).scalars()
    )


@dataclass(frozen=True)
class Busy:
    award_id: int
    title: str
    reserved_gpu_seconds: int
    busy_gpu_seconds: int


def _reserving(ctx: Ctx, today: date) -> list[tuple[Allocation, int]]:
    """Dedicated allocations that have begun by ``today``, of awards whose cards are charged
    and that the principal may see (``usage.read``: staff all of them, a project's members
    their own), with their cards."""
    query = (
        select(Allocation, Award.status)
        .join(Award, Award.id == Allocation.award_id)
        .where(Allocation.kind == RequestKind.DEDICATED, Allocation.start_date < today)
    )
    scope = awards_in_reach(authorize(ctx, "usage.read"), Allocation.award_id)
    if scope is not None:
        query = query.where(scope)
    return [
        (alloc, alloc.gpu_cards)
        for alloc, status in ctx.db.execute(query).all()
        if status in CHARGED_STATUSES and alloc.gpu_cards
    ]


def busy_vs_reserved(ctx: Ctx, *, today: date) -> list[Busy]:
    """Per award with dedicated allocations: GPU-time used against GPU-time reserved so far.

    Reserved is cards x time from each allocation's start to today (or its end); busy is the
    usage measured for the award in the same time. Officials quote the overall ratio (about
    80%) as the centre's measured use. It is usage, not billing: staff who read usage see every
    award; a project's members see only their own awards, anyone else none.
    """
    reserved: dict[int, int] = defaultdict(int)
    for alloc, cards in _reserving(ctx, today):
        days = (min(alloc.end_date, today) - alloc.start_date).days
        reserved[alloc.award_id] += cards * days * 86_400
    result = []
    for award_id in sorted(reserved):
        award = ctx.db.get(Award, award_id)
        assert award is not None
        busy = int(
            ctx.db.execute(
                select(func.coalesce(func.sum(UsageRecord.gpu_seconds), 0)).where(
                    UsageRecord.award_id == award_id, UsageRecord.ended_at < midnight(today)
                )
            ).scalar_one()
        )
        result.append(Busy(award_id, award.title, reserved[award_id], busy))
    return result


@dataclass(frozen=True)
class BusyMonth:
    month: date  # its first day
    reserved_gpu_seconds: int
    busy_gpu_seconds: int


def busy_by_month(ctx: Ctx, *, today: date) -> list[BusyMonth]:
    """``busy_vs_reserved`` month by month, over all dedicated allocations together: the GPU
    time reserved in each month up to today, and the usage of the same awards that ended in it
    (the months add up to the overall figure), over the awards ``busy_vs_reserved`` shows."""
    reserved: dict[date, int] = defaultdict(int)
    awards: set[int] = set()
    for alloc, cards in _reserving(ctx, today):
        awards.add(alloc.award_id)
        day, end = alloc.start_date, min(alloc.end_date, today)
        while day < end:
            month = date(day.year, day.month, 1)
            until = min(next_month(month), end)
            reserved[month] += cards * (until - day).days * 86_400
            day = until
    busy: dict[date, int] = defaultdict(int)
    if awards:
        current = month_of(midnight(today))
        # Whole months from the buckets (each holds the sum of its records); this month's
        # usage so far from the records themselves.
        for month, seconds in ctx.db.execute(
            select(UsageBucket.month, func.sum(UsageBucket.gpu_seconds))
            .where(UsageBucket.award_id.in_(awards), UsageBucket.month < current)
            .group_by(UsageBucket.month)
        ).all():
            busy[month] += int(seconds)
        busy[current] += int(
            ctx.db.execute(
                select(func.coalesce(func.sum(UsageRecord.gpu_seconds), 0)).where(
                    UsageRecord.award_id.in_(awards),
                    UsageRecord.ended_at >= midnight(current),
                    UsageRecord.ended_at < midnight(today),
                )
            ).scalar_one()
        )
    return [
        BusyMonth(month, reserved.get(month, 0), busy.get(month, 0))
        for month in sorted(set(reserved) | {m for m, b in busy.items() if b})
    ]
