"""Spending against an earmark.

An earmark is money the ledger set aside for a purpose (``earmark`` entries, named by their
label: ``security``, ``promotion and education``). Spending is recorded here, one row per
payment (vendor, purpose, date, amount, evidence); a payment recorded in error is cancelled by a
reversal row that names it, never by an edit or a delete.

Invariants kept under any interleaving of transactions:
- for each earmark, spends - reversals <= the earmark's entries (never overspent);
- a spend is reversed at most once (a unique column), and a reversal is never reversed.

Every spend and reversal first locks the scheme row, as the ledger's own mutations do, then
reads the sums, then appends: two officers spending the last of an earmark at once serialise,
and the second is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from aisc.access import authorize
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, InsufficientFunds, NotFound, ValidationFailed
from aisc.ledger.models import EarmarkSpend, EntryKind, LedgerEntry, SpendKind
from aisc.ledger.service import _scheme_id, lock_scheme
from aisc.money import format_hkd


@dataclass(frozen=True)
class EarmarkPosition:
    """One earmark in cents: set aside, spent (net of reversals), remaining."""

    earmark: str
    earmarked: int
    spent: int

    @property
    def remaining(self) -> int:
        return self.earmarked - self.spent


def _positions(
    ctx: Ctx, scheme_id: int, before: datetime | None = None
) -> dict[str, EarmarkPosition]:
    """Each earmark's position from the entries recorded before ``before`` (all if None)."""
    entries = select(LedgerEntry.label, func.sum(LedgerEntry.amount_cents)).where(
        LedgerEntry.scheme_id == scheme_id, LedgerEntry.kind == EntryKind.EARMARK
    )
    spends = select(
        EarmarkSpend.earmark, EarmarkSpend.kind, func.sum(EarmarkSpend.amount_cents)
    ).where(EarmarkSpend.scheme_id == scheme_id)
    if before is not None:
        entries = entries.where(LedgerEntry.created_at < before)
        spends = spends.where(EarmarkSpend.created_at < before)
    earmarked = dict(ctx.db.execute(entries.group_by(LedgerEntry.label)).all())
    spent: dict[str, int] = {}
    for label, kind, total in ctx.db.execute(
        spends.group_by(EarmarkSpend.earmark, EarmarkSpend.kind)
    ):
        sign = 1 if SpendKind(kind) is SpendKind.SPEND else -1
        spent[label] = spent.get(label, 0) + sign * int(total)
    return {
        label: EarmarkPosition(earmark=label, earmarked=int(total), spent=spent.get(label, 0))
        for label, total in sorted(earmarked.items())
    }


def earmarks(
    ctx: Ctx, *, scheme_id: int | None = None, before: datetime | None = None
) -> list[EarmarkPosition]:
    """Every earmark with what was spent against it and what remains (from the entries
    recorded before ``before``, for a figure as of a past day)."""
    authorize(ctx, "earmark.read")
    return list(_positions(ctx, _scheme_id(ctx, scheme_id), before).values())


def list_spends(
    ctx: Ctx, *, earmark: str | None = None, scheme_id: int | None = None
) -> list[EarmarkSpend]:
    """Spends and reversals, oldest first."""
    authorize(ctx, "earmark.read")
    query = (
        select(EarmarkSpend)
        .where(EarmarkSpend.scheme_id == _scheme_id(ctx, scheme_id))
        .order_by(EarmarkSpend.id)
    )
    if earmark is not None:
        query = query.where(EarmarkSpend.earmark == earmark)
    return list(ctx.db.execute(query).scalars())


def spend(
    ctx: Ctx,
    *,
    earmark: str,
    vendor: str,
    purpose: str,
    spent_on: date,
    amount_cents: int,
    evidence_ref: str = "",
    evidence_sha256: str | None = None,
    scheme_id: int | None = None,
) -> EarmarkSpend:
    """Record a payment out of ``earmark``; refused (nothing changes) beyond what remains."""
    authorize(ctx, "earmark.spend")
    scheme_id = _scheme_id(ctx, scheme_id)
    if amount_cents <= 0:
        raise ValidationFailed("amount must be greater than zero", field="amount")
    if not vendor.strip() or not purpose.strip():
        raise ValidationFailed("a spend names its vendor and its purpose", field="vendor")
    if spent_on > ctx.now.date():
        raise ValidationFailed(
            f"spent_on: {spent_on} is in the future; record a payment once it is made",
            field="spent_on",
        )
    lock_scheme(ctx, scheme_id)
    position = _positions(ctx, scheme_id).get(earmark)
    if position is None:
        raise NotFound(f"earmark {earmark!r} not found", field="earmark")
    if amount_cents > position.remaining:
        raise InsufficientFunds(
            f"spend of {format_hkd(amount_cents)} exceeds what remains of the {earmark!r} "
            f"earmark ({format_hkd(position.remaining)})",
            field="amount",
            details={"requested_cents": amount_cents, "remaining_cents": position.remaining},
        )
    row = EarmarkSpend(
        scheme_id=scheme_id,
        earmark=earmark,
        kind=SpendKind.SPEND,
        vendor=vendor.strip(),
        purpose=purpose.strip(),
        spent_on=spent_on,
        amount_cents=amount_cents,
        evidence_ref=evidence_ref.strip(),
        evidence_sha256=evidence_sha256,
        created_at=ctx.now,
        created_by=ctx.actor,
    )
    ctx.db.add(row)
    ctx.db.flush()
    record(ctx, action="earmark.spend", object_type="earmark_spend", object_id=row.id,
           after=row_dict(row))  # fmt: skip
    return row


def reverse(ctx: Ctx, *, spend_id: int, reason: str) -> EarmarkSpend:
    """Cancel a spend with a reversing entry: the earmark gets its amount back."""
    authorize(ctx, "earmark.spend")
    if not reason.strip():
        raise ValidationFailed("a reversal needs a reason", field="reason")
    original = ctx.db.get(EarmarkSpend, spend_id)
    if original is None:
        raise NotFound(f"earmark spend {spend_id} not found", field="spend_id")
    lock_scheme(ctx, original.scheme_id)
    if original.kind is not SpendKind.SPEND:
        raise Conflict(f"entry {spend_id} is a reversal; it cannot be reversed", field="spend_id")
    already = ctx.db.execute(
        select(EarmarkSpend.id).where(EarmarkSpend.reverses_id == spend_id)
    ).scalar()
    if already is not None:
        raise Conflict(
            f"spend {spend_id} was already reversed by entry {already}", field="spend_id"
        )
    row = EarmarkSpend(
        scheme_id=original.scheme_id,
        earmark=original.earmark,
        kind=SpendKind.REVERSAL,
        vendor=original.vendor,
        purpose=reason.strip(),
        spent_on=ctx.now.date(),
        amount_cents=original.amount_cents,
        evidence_ref=original.evidence_ref,
        evidence_sha256=original.evidence_sha256,
        reverses_id=original.id,
        created_at=ctx.now,
        created_by=ctx.actor,
    )
    ctx.db.add(row)
    ctx.db.flush()
    record(ctx, action="earmark.reverse", object_type="earmark_spend", object_id=row.id,
           after=row_dict(row))  # fmt: skip
    return row
