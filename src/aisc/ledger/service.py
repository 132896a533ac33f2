"""Fund ledger rules.

Invariants kept here, under any interleaving of transactions:
- earmarks + commitments - releases <= budget (the fund is never over-committed);
- for each award, disbursements + releases <= its commitment;
- balances are sums of entries, never stored totals.

Every mutation first locks the scheme row (``SELECT ... FOR UPDATE``; on SQLite the whole
database is already locked by ``BEGIN IMMEDIATE``), then reads the sums, then appends. Two
approvals racing for the last dollars therefore serialise: the second sees the first's
commitment and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aisc.access import AccessDenied, authorize, project_of
from aisc.audit.service import record
from aisc.awards.models import Award
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import InsufficientFunds, NotFound, ValidationFailed
from aisc.ledger.models import EntryKind, LedgerEntry
from aisc.money import format_hkd
from aisc.scheme.models import Scheme


@dataclass(frozen=True)
class Balances:
    """The fund position, all in cents."""

    budget: int
    earmarked: int
    committed: int
    released: int
    disbursed: int

    @property
    def net_committed(self) -> int:
        """Commitments still standing (committed minus released)."""
        return self.committed - self.released

    @property
    def available(self) -> int:
        """Money that can still be committed to new awards."""
        return self.budget - self.earmarked - self.committed + self.released

    @property
    def outstanding(self) -> int:
        """Committed money neither disbursed nor released."""
        return self.committed - self.released - self.disbursed


@dataclass(frozen=True)
class AwardBalance:
    committed: int
    released: int
    disbursed: int  # gross: every disbursement
    reversed: int = 0  # disbursed subsidy handed back by credit notes

    @property
    def net_disbursed(self) -> int:
        return self.disbursed - self.reversed

    @property
    def remaining(self) -> int:
        """Commitment still available for disbursement."""
        return self.committed - self.released - self.disbursed + self.reversed


def lock_scheme(ctx: Ctx, scheme_id: int) -> Scheme:
    """Take the fund's lock. Not an action of its own: every service that changes money or
    capacity takes it inside the action it has authorised, so it checks nothing."""
    scheme = ctx.db.execute(
        select(Scheme).where(Scheme.id == scheme_id).with_for_update()
    ).scalar_one_or_none()
    if scheme is None:
        raise NotFound(f"scheme {scheme_id} not found", field="scheme_id")
    return scheme


def _sums(db: Session, *conditions: object) -> dict[EntryKind, int]:
    query = select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).group_by(
        LedgerEntry.kind
    )
    for condition in conditions:
        query = query.where(condition)  # type: ignore[arg-type]
    totals = dict.fromkeys(EntryKind, 0)
    for kind, total in db.execute(query):
        totals[EntryKind(kind)] = int(total)
    return totals


def balances(ctx: Ctx, *, scheme_id: int | None = None, action: str = "ledger.read") -> Balances:
    """The fund position. ``action`` is the one the caller reads it under: the ledger's own
    readers by default; a published figure (the scheme's fund, the statistics) names its own."""
    if not authorize(ctx, action).everything:
        raise AccessDenied(f"{action}: the fund's position is not yours to read")
    return _balances(ctx.db, _scheme_id(ctx, scheme_id))


def award_balance(ctx: Ctx, *, award_id: int, action: str = "ledger.read") -> AwardBalance:
    """An award's commitment and what was drawn from it, for those who may read ``action``
    on the award (a project's members read their own award's balance under ``award.read``)."""
    access = authorize(ctx, action)
    if not access.covers(application_id=project_of(ctx, award_id)):
        raise NotFound(f"award {award_id} not found", field="award_id")
    return _award_balance(ctx.db, award_id)


def _scheme_id(ctx: Ctx, given: int | None) -> int:
    """``given``, or the deployment's scheme (there is one)."""
    if given is not None:
        return given
    found = ctx.db.execute(select(Scheme.id).order_by(Scheme.id).limit(1)).scalar()
    if found is None:
        raise NotFound("no scheme is set up yet: run `aisc scheme init`", field="scheme")
    return int(found)


def _balances(db: Session, scheme_id: int) -> Balances:
    sums = _sums(db, LedgerEntry.scheme_id == scheme_id)
    return Balances(
        budget=sums[EntryKind.BUDGET],
        earmarked=sums[EntryKind.EARMARK],
        committed=sums[EntryKind.COMMITMENT],
        released=sums[EntryKind.RELEASE],
        # Net of credit notes: subsidy handed back is no longer paid out.
        disbursed=sums[EntryKind.DISBURSEMENT] - sums[EntryKind.REVERSAL],
    )


def _award_balance(db: Session, award_id: int) -> AwardBalance:
    sums = _sums(db, LedgerEntry.award_id == award_id)
    return AwardBalance(
        committed=sums[EntryKind.COMMITMENT],
        released=sums[EntryKind.RELEASE],
        disbursed=sums[EntryKind.DISBURSEMENT],
        reversed=sums[EntryKind.REVERSAL],
    )


def _append(
    ctx: Ctx,
    *,
    scheme_id: int,
    kind: EntryKind,
    amount_cents: int,
    award_id: int | None = None,
    label: str = "",
    memo: str = "",
) -> LedgerEntry:
    if amount_cents <= 0:
        raise ValidationFailed("amount must be greater than zero", field="amount")
    entry = LedgerEntry(
        scheme_id=scheme_id,
        kind=kind,
        amount_cents=amount_cents,
        award_id=award_id,
        label=label,
        memo=memo,
        created_at=ctx.now,
        created_by=ctx.actor,
    )
    ctx.db.add(entry)
    ctx.db.flush()
    record(
        ctx,
        action=f"ledger.{kind.value}",
        object_type="ledger_entry",
        object_id=entry.id,
        after=row_dict(entry),
    )
    return entry


def add_budget(
    ctx: Ctx,
    *,
    amount_cents: int,
    scheme_id: int | None = None,
    label: str = "budget",
    memo: str = "",
) -> LedgerEntry:
    authorize(ctx, "ledger.write")
    scheme_id = _scheme_id(ctx, scheme_id)
    lock_scheme(ctx, scheme_id)
    return _append(
        ctx,
        scheme_id=scheme_id,
        kind=EntryKind.BUDGET,
        amount_cents=amount_cents,
        label=label,
        memo=memo,
    )


def add_earmark(
    ctx: Ctx, *, amount_cents: int, label: str, scheme_id: int | None = None, memo: str = ""
) -> LedgerEntry:
    authorize(ctx, "ledger.write")
    scheme_id = _scheme_id(ctx, scheme_id)
    lock_scheme(ctx, scheme_id)
    if not label.strip():
        raise ValidationFailed("an earmark needs a label saying what it is for", field="label")
    available = _balances(ctx.db, scheme_id).available
    if amount_cents > available:
        raise InsufficientFunds(
            f"earmark of {format_hkd(amount_cents)} exceeds the available {format_hkd(available)}",
            field="amount",
        )
    return _append(
        ctx,
        scheme_id=scheme_id,
        kind=EntryKind.EARMARK,
        amount_cents=amount_cents,
        label=label.strip(),
        memo=memo,
    )


def commit(
    ctx: Ctx, *, scheme_id: int, award_id: int, amount_cents: int, memo: str = ""
) -> LedgerEntry:
    """Reserve ``amount_cents`` of the fund for an award; refused when funds are short.

    Part of the committee's decision (``decision.make``), in its transaction. The refusal
    names no award: the award being decided was flushed in a transaction that now rolls back,
    and its id will be given to another award.
    """
    authorize(ctx, "decision.make")
    return _commit(ctx, scheme_id, award_id, amount_cents, memo, what="the subsidy cap",
                   field="subsidy_cap")  # fmt: skip


def commit_more(ctx: Ctx, *, award_id: int, amount_cents: int, memo: str) -> LedgerEntry:
    """Commit more of the fund to an existing award: a top-up (``award.change``), refused like
    ``commit`` when the fund's available money cannot cover it, under the same lock."""
    authorize(ctx, "award.change")
    return _commit(ctx, _award_scheme(ctx, award_id), award_id, amount_cents, memo,
                   what="the top-up's added subsidy", field="top_up")  # fmt: skip


def _commit(
    ctx: Ctx, scheme_id: int, award_id: int, amount_cents: int, memo: str, *, what: str, field: str
) -> LedgerEntry:
    """Reserve ``amount_cents`` for an award under the scheme's lock, or refuse (naming
    ``field``) when the fund's available money cannot cover it."""
    lock_scheme(ctx, scheme_id)
    available = _balances(ctx.db, scheme_id).available
    if amount_cents > available:
        raise InsufficientFunds(
            f"{what} of {format_hkd(amount_cents)} exceeds the fund's available "
            f"{format_hkd(available)} (total - earmarks - commitments + releases)",
            field=field,
            details={"requested_cents": amount_cents, "available_cents": available},
        )
    return _append(
        ctx,
        scheme_id=scheme_id,
        kind=EntryKind.COMMITMENT,
        amount_cents=amount_cents,
        award_id=award_id,
        label=f"award {award_id}",
        memo=memo,
    )


def release_part(ctx: Ctx, *, award_id: int, amount_cents: int, memo: str) -> LedgerEntry | None:
    """Release part of an award's commitment after a reduction or an early end
    (``award.change``): at most what remains, so that what was disbursed stays covered.
    None when nothing is to be released."""
    authorize(ctx, "award.change")
    _scheme_id, remaining = _locked_remaining(ctx, award_id)
    amount = min(amount_cents, remaining)
    if amount <= 0:
        return None
    return _draw(ctx, EntryKind.RELEASE, award_id, amount, memo)


def _award_scheme(ctx: Ctx, award_id: int) -> int:
    scheme_id = ctx.db.execute(select(Award.scheme_id).where(Award.id == award_id)).scalar()
    if scheme_id is None:
        raise NotFound(f"award {award_id} not found", field="award_id")
    return int(scheme_id)


def _locked_remaining(ctx: Ctx, award_id: int) -> tuple[int, int]:
    """(scheme id, the award's remaining commitment), read under the scheme lock."""
    scheme_id = _award_scheme(ctx, award_id)
    lock_scheme(ctx, scheme_id)
    return scheme_id, _award_balance(ctx.db, award_id).remaining


def _draw(ctx: Ctx, kind: EntryKind, award_id: int, amount_cents: int, memo: str) -> LedgerEntry:
    scheme_id, remaining = _locked_remaining(ctx, award_id)
    if amount_cents > remaining:
        raise InsufficientFunds(
            f"{kind.value} of {format_hkd(amount_cents)} exceeds award {award_id}'s remaining "
            f"commitment of {format_hkd(remaining)}",
            field="amount",
            details={"requested_cents": amount_cents, "remaining_cents": remaining},
        )
    return _append(
        ctx,
        scheme_id=scheme_id,
        kind=kind,
        amount_cents=amount_cents,
        award_id=award_id,
        label=f"award {award_id}",
        memo=memo,
    )


def disburse(ctx: Ctx, *, award_id: int, amount_cents: int, memo: str = "") -> LedgerEntry:
    """Pay subsidy out of an award's commitment."""
    authorize(ctx, "ledger.write")
    return _draw(ctx, EntryKind.DISBURSEMENT, award_id, amount_cents, memo)


def release(ctx: Ctx, *, award_id: int, amount_cents: int, memo: str = "") -> LedgerEntry:
    """Hand unspent commitment of an award back to the fund."""
    authorize(ctx, "ledger.write")
    return _draw(ctx, EntryKind.RELEASE, award_id, amount_cents, memo)


def release_remaining(
    ctx: Ctx, *, award_id: int, memo: str, action: str = "award.close"
) -> LedgerEntry | None:
    """Release all of an award's remaining commitment. None when nothing remains.

    Part of closing an award (``award.close``) or of a credit note on a closed award
    (``billing.credit``): ``action`` names which, and is checked.
    """
    if action not in ("award.close", "billing.credit"):
        raise ValueError(f"release_remaining is not part of {action!r}")
    authorize(ctx, action)
    _scheme_id, remaining = _locked_remaining(ctx, award_id)
    if remaining <= 0:
        return None
    return _draw(ctx, EntryKind.RELEASE, award_id, remaining, memo)


def pay_subsidy(
    ctx: Ctx,
    *,
    award_id: int,
    amount_cents: int,
    memo: str,
    scheme_id: int,
    remaining: int,
) -> LedgerEntry:
    """Disburse an invoice's subsidy, as part of the monthly run (``billing.run``). Billing
    calls this holding the scheme lock, having read the award's ``remaining`` commitment
    under it."""
    authorize(ctx, "billing.run")
    if amount_cents > remaining:
        raise InsufficientFunds(
            f"disbursement of {format_hkd(amount_cents)} exceeds award {award_id}'s remaining "
            f"commitment of {format_hkd(remaining)}",
            field="amount",
        )
    return _append(
        ctx,
        scheme_id=scheme_id,
        kind=EntryKind.DISBURSEMENT,
        amount_cents=amount_cents,
        award_id=award_id,
        label=f"award {award_id}",
        memo=memo,
    )


def reverse_subsidy(ctx: Ctx, *, award_id: int, amount_cents: int, memo: str) -> LedgerEntry:
    """Hand credited subsidy back to the award's commitment, as part of a credit note
    (``billing.credit``)."""
    authorize(ctx, "billing.credit")
    scheme_id = _award_scheme(ctx, award_id)
    lock_scheme(ctx, scheme_id)
    balance = _award_balance(ctx.db, award_id)
    if amount_cents > balance.net_disbursed:
        raise InsufficientFunds(
            f"reversal of {format_hkd(amount_cents)} exceeds the "
            f"{format_hkd(balance.net_disbursed)} disbursed to award {award_id}",
            field="amount",
        )
    return _append(
        ctx,
        scheme_id=scheme_id,
        kind=EntryKind.REVERSAL,
        amount_cents=amount_cents,
        award_id=award_id,
        label=f"award {award_id}",
        memo=memo,
    )


def list_entries(
    ctx: Ctx,
    *,
    scheme_id: int | None = None,
    kind: EntryKind | None = None,
    award_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[LedgerEntry]:
    authorize(ctx, "ledger.read")
    query = (
        select(LedgerEntry)
        .where(LedgerEntry.scheme_id == _scheme_id(ctx, scheme_id))
        .order_by(LedgerEntry.id)
    )
    if kind is not None:
        query = query.where(LedgerEntry.kind == kind)
    if award_id is not None:
        query = query.where(LedgerEntry.award_id == award_id)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())
