"""Credit notes: corrections of issued invoices, split as the invoice was."""

from __future__ import annotations

from sqlalchemy import func, select

from aisc.access import authorize, project_of, visible
from aisc.audit.service import record
from aisc.awards.models import CLOSED, Award
from aisc.billing.charging import next_seq
from aisc.billing.models import (
    CreditNote,
    Invoice,
)
from aisc.context import Ctx
from aisc.errors import NotFound, ValidationFailed
from aisc.ledger import service as ledger
from aisc.money import format_hkd


def credited(ctx: Ctx, invoice_id: int) -> tuple[int, int, int]:
    """(list, subsidy, payable) already credited against an invoice (``billing.read``)."""
    access = authorize(ctx, "billing.read")
    if not access.everything:
        invoice = ctx.db.get(Invoice, invoice_id)
        visible(
            access,
            invoice,
            f"invoice {invoice_id}",
            field="invoice_id",
            application_id=project_of(ctx, invoice.award_id if invoice else None),
        )
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
    seq = next_seq(ctx, CreditNote)
    number = f"CN-{seq:06d}"
    entry = None
    if subsidy > 0:
        entry = ledger.reverse_subsidy(
            ctx,
            award_id=award.id,
            amount_cents=subsidy,
            memo=f"credit note {number} on {invoice.number}",
        )
    if entry is not None and award.status in CLOSED:
        # A closed award holds no commitment: the subsidy handed back goes on to the fund.
        ledger.release_remaining(
            ctx,
            award_id=award.id,
            memo=f"credit note {number} on {invoice.number}: award {award.id} is closed",
            action="billing.credit",
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
        object_type="credit_note",
        object_id=note.id,
        after={
            "number": note.number,
            "invoice_id": invoice.id,
            "invoice": invoice.number,
            "ledger_entry_id": note.ledger_entry_id,
            "list_cents": note.list_cents,
            "subsidy_cents": note.subsidy_cents,
            "payable_cents": note.payable_cents,
            "reason": note.reason,
        },
    )
    return note
