"""The reconciliation: records = buckets = lines = invoices = ledger, to the cent."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select

from aisc.access import authorize
from aisc.applications.models import RequestKind
from aisc.awards.models import Award
from aisc.billing.models import (
    Charge,
    ChargeKind,
    Invoice,
)
from aisc.billing.months import midnight, next_month
from aisc.billing.service import credit_notes_of, lines_of
from aisc.context import Ctx
from aisc.metering.models import UsageBucket, UsageRecord


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
            UsageRecord.bucket_id.is_(None), UsageRecord.ended_at < midnight(end)
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
