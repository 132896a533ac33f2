"""The reconciliation: records = buckets = lines = invoices = ledger, to the cent; and the money
that came back: payments = what is recorded against each invoice, receivable = payable -
credited - paid per invoice and for the month.

A month in which commitments ran (dedicated allocations of charged awards, pooled awards in
their period) but no invoice was issued is *not billed*: never balanced, whatever else agrees.
"""

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
    credited_payable_cents: int = 0
    paid_cents: int = 0
    receivable_cents: int = 0
    not_billed: bool = False
    differences: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.differences and not self.not_billed

    @property
    def status(self) -> str:
        if self.not_billed:
            return "not_billed"
        return "balanced" if self.balanced else "differences"


def _commitments(ctx: Ctx, month: date) -> tuple[int, int]:
    """(dedicated allocations charged in ``month``, pooled awards running in it)."""
    from aisc.allocations.models import Allocation
    from aisc.billing.models import CHARGED_STATUSES

    end = next_month(month)
    dedicated = ctx.db.execute(
        select(func.count(Allocation.id))
        .join(Award, Award.id == Allocation.award_id)
        .where(
            Allocation.kind == RequestKind.DEDICATED,
            Allocation.start_date < end,
            Allocation.end_date > month,
            Award.status.in_(CHARGED_STATUSES),
        )
    ).scalar_one()
    pooled = ctx.db.execute(
        select(func.count(Award.id)).where(
            Award.kind == RequestKind.POOLED,
            Award.start_date < end,
            Award.end_date > month,
            Award.status.in_(CHARGED_STATUSES),
        )
    ).scalar_one()
    return int(dedicated), int(pooled)


def _payments(ctx: Ctx, result: Reconciliation, invoices: list[Invoice]) -> None:
    """Payments against the month's invoices: their sum against the sum recorded per invoice,
    reversals against what they reverse, and nothing paid beyond what is payable."""
    from aisc.billing.models import CreditNote, Payment

    ids = [i.id for i in invoices]
    diff = result.differences
    if not ids:
        return
    total = int(
        ctx.db.execute(
            select(func.coalesce(func.sum(Payment.amount_cents), 0))
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .where(Invoice.month == result.month)
        ).scalar_one()
    )
    paid: dict[int, int] = defaultdict(int)
    payments = list(ctx.db.execute(select(Payment).where(Payment.invoice_id.in_(ids))).scalars())
    by_id = {p.id: p for p in payments}
    for payment in payments:
        paid[payment.invoice_id] += payment.amount_cents
        if payment.reverses_id is not None:
            original = by_id.get(payment.reverses_id) or ctx.db.get(Payment, payment.reverses_id)
            if original is None or original.amount_cents != -payment.amount_cents:
                diff.append(f"{payment.number}: reverses a payment of another amount")
    credited: dict[int, int] = defaultdict(int)
    for invoice_id, cents in ctx.db.execute(
        select(CreditNote.invoice_id, func.sum(CreditNote.payable_cents))
        .where(CreditNote.invoice_id.in_(ids))
        .group_by(CreditNote.invoice_id)
    ):
        credited[invoice_id] = int(cents)
    for invoice in invoices:
        if paid[invoice.id] > invoice.payable_cents or paid[invoice.id] < 0:
            diff.append(
                f"award {invoice.award_id} {invoice.number}: paid {paid[invoice.id]} of "
                f"{invoice.payable_cents} payable"
            )
        result.credited_payable_cents += credited[invoice.id]
        result.paid_cents += paid[invoice.id]
        result.receivable_cents += invoice.payable_cents - credited[invoice.id] - paid[invoice.id]
    if total != sum(paid.values()):
        diff.append(f"total: payments {total}, recorded against invoices {sum(paid.values())}")
    if result.receivable_cents != (
        result.payable_cents - result.credited_payable_cents - result.paid_cents
    ):  # pragma: no cover - the sums above are taken from the same rows
        diff.append("total: receivable is not payable - credited - paid")


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
    _payments(ctx, result, invoices)
    if not invoices:
        dedicated, pooled = _commitments(ctx, month)
        from aisc.billing.models import BillingRun

        ran = ctx.db.execute(
            select(func.count(BillingRun.id)).where(BillingRun.month == month)
        ).scalar_one()
        if dedicated or (pooled and not ran):
            result.not_billed = True
            diff.append(
                f"{month:%Y-%m} is not billed: {dedicated} dedicated allocations and {pooled} "
                "pooled awards ran in it, and no invoice was issued"
            )
    if result.subsidy_cents != result.ledger_disbursed_cents:
        diff.append(
            f"total: subsidy {result.subsidy_cents} invoiced, {result.ledger_disbursed_cents} "
            "disbursed"
        )
    return result
