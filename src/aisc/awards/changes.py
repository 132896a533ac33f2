"""Changes to an award after its approval: extension, top-up, reduction, early end.

Each change is a committee decision recorded by the secretariat (``award.change``). One
transaction changes the award's terms and its allocations, writes the ledger entries (a top-up
commits more of the fund; a reduction or an early end releases part of the commitment), appends
an ``AwardChange`` row (the terms before and after, the reason, the decision it records) and its
audit event. All of it runs under the scheme lock, so a top-up races other commitments exactly
as an approval does, and its capacity check sees every allocation. A closed award (completed,
terminated) cannot be changed.

What each change means:

- **extension**: a later end date, at no cost. Only a pooled award can be extended: the same
  GPU-hours may be used over a longer time. A dedicated award's cards are charged by the day,
  so more time is more money: that is a top-up with a later end date.
- **top-up**: more GPU-hours (pooled), more cards from a date (dedicated: a new allocation
  beside the first, so that the days already billed keep their count), and/or a later end date
  (the cards keep running to it). The added compute is priced on the award's locked price list
  (a card-day is 12/365 of a card-month) and the added subsidy, the award's rate of it, is
  committed from the fund: refused, changing nothing, when the fund or the capacity cannot
  cover it.
- **reduction**: fewer cards from a date, today or later (taken from the newest allocation
  first, split at the date), or fewer GPU-hours (never below those used).
- **early end**: a dedicated award's cards end on a date inside its period, today or later. The
  award's period ends then: the cards return to the pool, and no job can be submitted on it
  after that date.

A reduction or an early end releases the commitment in proportion to the compute taken away
(the subsidy cap x card-days or GPU-hours removed / those granted before the change), never
more than the commitment not yet disbursed; the award's cap and list value shrink by the same
proportion.

Slurm follows on its next sync: its desired state (accounts, QOS limits, reservations) is
derived from the award and its allocations (``aisc.slurm.desired``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from aisc.access import permit
from aisc.allocations.models import Allocation
from aisc.allocations.service import enforce_changed
from aisc.applications.models import RequestKind
from aisc.audit.service import record
from aisc.awards.models import Award, AwardChange, AwardStatus, ChangeKind
from aisc.awards.service import view_award
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, InvalidTransition, ValidationFailed
from aisc.ledger import service as ledger
from aisc.metering.service import used_gpu_seconds
from aisc.money import apply_rate
from aisc.pricing.models import PriceList
from aisc.scheme.models import Scheme

CHANGEABLE = (AwardStatus.OFFERED, AwardStatus.ACTIVE, AwardStatus.SUSPENDED)


def _half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def months_of(start: date, end: date) -> int:
    """An award's length in whole months, as its ``months`` column keeps it (at least one)."""
    return max(1, round((end - start).days * 12 / 365))


def _changing(ctx: Ctx, award_id: int, reason: str, decided_by: str) -> tuple[Award, Scheme]:
    award = view_award(ctx, award_id=award_id)
    permit(ctx, "award.change", application_id=award.application_id)
    if not reason.strip():
        raise ValidationFailed("reason: a change to an award needs a reason", field="reason")
    if not decided_by.strip():
        raise ValidationFailed(
            "decided_by: name the decision this records (e.g. the committee meeting)",
            field="decided_by",
        )
    scheme = ledger.lock_scheme(ctx, award.scheme_id)
    ctx.db.refresh(award)  # read under the lock: a racing change has committed by now
    if award.status not in CHANGEABLE:
        raise InvalidTransition(
            f"award {award.id} is {award.status.value}; a closed award cannot be changed",
            field="status",
        )
    return award, scheme


def _allocations(ctx: Ctx, award: Award) -> list[Allocation]:
    return list(
        ctx.db.scalars(
            select(Allocation).where(Allocation.award_id == award.id).order_by(Allocation.id)
        )
    )


def _terms(ctx: Ctx, award: Award) -> dict[str, Any]:
    return {
        "start_date": award.start_date.isoformat(),
        "end_date": award.end_date.isoformat(),
        "months": award.months,
        "gpu_cards": award.gpu_cards,
        "gpu_hours": award.gpu_hours,
        "list_value_cents": award.list_value_cents,
        "subsidy_cap_cents": award.subsidy_cap_cents,
        "allocations": [
            {
                "id": a.id,
                "gpu_cards": a.gpu_cards,
                "gpu_hours": a.gpu_hours,
                "start_date": a.start_date.isoformat(),
                "end_date": a.end_date.isoformat(),
            }
            for a in _allocations(ctx, award)
        ],
    }


def _card_days(allocations: list[Allocation]) -> int:
    return sum((a.gpu_cards or 0) * (a.end_date - a.start_date).days for a in allocations)


def _price(ctx: Ctx, award: Award) -> tuple[int, int]:
    """(card-month, GPU-hour) list prices of the award's model on its locked price list."""
    price_list = ctx.db.get(PriceList, award.price_list_id)
    item = price_list.item_for(award.gpu_model_code) if price_list else None
    if item is None:
        raise Conflict(
            f"award {award.id}'s price list has no price for {award.gpu_model_code}",
            field="gpu_model",
        )
    return int(item.card_month_cents), int(item.gpu_hour_cents)


def _later_end(award: Award, scheme: Scheme, end_date: date) -> None:
    if end_date <= award.end_date:
        raise ValidationFailed(
            f"end_date: {end_date} is not after the award's end ({award.end_date})",
            field="end_date",
        )
    if end_date > scheme.end_date:
        raise ValidationFailed(
            f"end_date: {end_date} is after the scheme's end ({scheme.end_date})",
            field="end_date",
        )


def _move_end(ctx: Ctx, award: Award, end_date: date) -> list[int]:
    """Move the award's end, and the allocations that ran to it, to ``end_date``."""
    moved = []
    for allocation in _allocations(ctx, award):
        if allocation.end_date == award.end_date:
            allocation.end_date = end_date
            moved.append(allocation.id)
    award.end_date = end_date
    award.months = months_of(award.start_date, end_date)
    ctx.db.flush()
    return moved


def _new_allocation(
    ctx: Ctx, award: Award, like: Allocation, cards: int, start: date, end: date
) -> Allocation:
    allocation = Allocation(
        award_id=award.id,
        kind=award.kind,
        gpu_model_code=award.gpu_model_code,
        partition_id=like.partition_id,
        gpu_cards=cards,
        gpu_hours=None,
        start_date=start,
        end_date=end,
        created_at=ctx.now,
        created_by=ctx.actor,
        node_names=[],
    )
    ctx.db.add(allocation)
    ctx.db.flush()
    record(
        ctx,
        action="allocation.create",
        object_type="allocation",
        object_id=allocation.id,
        after=row_dict(allocation),
    )
    return allocation


def _drop_allocation(ctx: Ctx, allocation: Allocation) -> None:
    before = row_dict(allocation)
    ctx.db.delete(allocation)
    ctx.db.flush()
    record(
        ctx,
        action="allocation.delete",
        object_type="allocation",
        object_id=before["id"],
        before=before,
    )


def _positive(value: int | None, field: str, what: str) -> None:
    if value is not None and value <= 0:
        raise ValidationFailed(f"{field}: {what} must be greater than zero", field=field)


def _record(
    ctx: Ctx,
    award: Award,
    kind: ChangeKind,
    *,
    effective: date,
    before: dict[str, Any],
    reason: str,
    decided_by: str,
    committed: int = 0,
    released: int = 0,
) -> AwardChange:
    ctx.db.flush()
    change = AwardChange(
        award_id=award.id,
        kind=kind,
        effective_date=effective,
        before=before,
        after=_terms(ctx, award),
        committed_cents=committed,
        released_cents=released,
        reason=reason.strip(),
        decided_by=decided_by.strip(),
        created_at=ctx.now,
        created_by=ctx.actor,
    )
    ctx.db.add(change)
    ctx.db.flush()
    record(
        ctx,
        action=f"award.{kind.value}",
        object_type="award",
        object_id=award.id,
        before=before,
        after={
            **change.after,
            "change_id": change.id,
            "committed_cents": committed,
            "released_cents": released,
            "reason": change.reason,
            "decided_by": change.decided_by,
        },
    )
    return change


def _release_share(ctx: Ctx, award: Award, removed: int, granted: int, memo: str) -> int:
    """Release the cap's share ``removed / granted`` (at most what remains); shrink the cap
    and the list value by the same share. Returns the cents released."""
    if removed <= 0 or granted <= 0:
        return 0
    share = award.subsidy_cap_cents * removed // granted
    award.list_value_cents -= award.list_value_cents * removed // granted
    award.subsidy_cap_cents -= share
    entry = ledger.release_part(ctx, award_id=award.id, amount_cents=share, memo=memo)
    return entry.amount_cents if entry else 0


# --- the four changes --------------------------------------------------------------------


def extend(ctx: Ctx, *, award_id: int, end_date: date, reason: str, decided_by: str) -> AwardChange:
    """A later end date for a pooled award, at no cost (see the module's docstring)."""
    award, scheme = _changing(ctx, award_id, reason, decided_by)
    if award.kind is RequestKind.DEDICATED:
        raise ValidationFailed(
            f"end_date: award {award.id} is dedicated; its cards are charged by the day, so "
            "more time is more money: record a top-up with the new end date instead",
            field="end_date",
        )
    _later_end(award, scheme, end_date)
    before = _terms(ctx, award)
    effective = award.end_date
    moved = _move_end(ctx, award, end_date)
    enforce_changed(ctx, allocation_ids=moved, subject=f"the extension of award {award.id}")
    return _record(
        ctx,
        award,
        ChangeKind.EXTENSION,
        effective=effective,
        before=before,
        reason=reason,
        decided_by=decided_by,
    )


def top_up(
    ctx: Ctx,
    *,
    award_id: int,
    reason: str,
    decided_by: str,
    gpu_cards: int | None = None,
    gpu_hours: int | None = None,
    end_date: date | None = None,
    effective_date: date | None = None,
) -> AwardChange:
    """More compute for an award, and the subsidy for it committed from the fund."""
    award, scheme = _changing(ctx, award_id, reason, decided_by)
    _positive(gpu_cards, "gpu_cards", "the cards added")
    _positive(gpu_hours, "gpu_hours", "the GPU-hours added")
    if gpu_cards is None and gpu_hours is None and end_date is None:
        raise ValidationFailed(
            "top_up: a top-up adds cards (dedicated), GPU-hours (pooled) or a later end date",
            field="top_up",
        )
    dedicated = award.kind is RequestKind.DEDICATED
    if dedicated and gpu_hours is not None:
        raise ValidationFailed(
            "gpu_hours: a dedicated award is topped up in cards and time", field="gpu_hours"
        )
    if not dedicated and gpu_cards is not None:
        raise ValidationFailed(
            "gpu_cards: a pooled award is topped up in GPU-hours and time", field="gpu_cards"
        )
    if effective_date is not None and not gpu_cards:
        raise ValidationFailed(
            "effective_date: only added cards start from a date", field="effective_date"
        )
    if end_date is not None:
        _later_end(award, scheme, end_date)
    allocations = _allocations(ctx, award)
    if not allocations:
        raise Conflict(f"award {award.id} has no allocation to top up", field="award_id")
    before = _terms(ctx, award)
    card_month, gpu_hour = _price(ctx, award)
    today = ctx.now.date()
    changed: list[int] = []
    card_days = 0
    list_cents = 0
    if end_date is not None:
        card_days += sum(
            (a.gpu_cards or 0) * (end_date - a.end_date).days
            for a in allocations
            if a.end_date == award.end_date
        )
        changed += _move_end(ctx, award, end_date)
    if dedicated and gpu_cards:
        start = effective_date or max(today, award.start_date)
        if start < max(today, award.start_date) or start >= award.end_date:
            raise ValidationFailed(
                f"effective_date: added cards start from today or later, within the award's "
                f"period ({award.start_date} to {award.end_date})",
                field="effective_date",
            )
        added = _new_allocation(ctx, award, allocations[-1], gpu_cards, start, award.end_date)
        changed.append(added.id)
        card_days += gpu_cards * (award.end_date - start).days
        award.gpu_cards = (award.gpu_cards or 0) + gpu_cards
    if dedicated:
        list_cents = _half_up(card_month * card_days * 12, 365)
    elif gpu_hours:
        last = max(allocations, key=lambda a: (a.end_date, a.id))
        last.gpu_hours = (last.gpu_hours or 0) + gpu_hours
        award.gpu_hours = (award.gpu_hours or 0) + gpu_hours
        list_cents = gpu_hours * gpu_hour
        changed.append(last.id)
    ctx.db.flush()
    enforce_changed(
        ctx, allocation_ids=sorted(set(changed)), subject=f"the top-up of award {award.id}"
    )
    added_cap = apply_rate(list_cents, award.subsidy_rate_bp)
    if added_cap > 0:
        ledger.commit_more(
            ctx, award_id=award.id, amount_cents=added_cap, memo=f"top-up of award {award.id}"
        )
    award.list_value_cents += list_cents
    award.subsidy_cap_cents += added_cap
    return _record(
        ctx,
        award,
        ChangeKind.TOP_UP,
        effective=effective_date or (max(today, award.start_date) if gpu_cards else today),
        before=before,
        reason=reason,
        decided_by=decided_by,
        committed=added_cap,
    )


def reduce(
    ctx: Ctx,
    *,
    award_id: int,
    reason: str,
    decided_by: str,
    gpu_cards: int | None = None,
    gpu_hours: int | None = None,
    effective_date: date | None = None,
) -> AwardChange:
    """Less compute ahead: ``gpu_cards`` fewer cards from ``effective_date`` (dedicated), or
    ``gpu_hours`` fewer GPU-hours (pooled); the commitment's share is released."""
    award, _scheme = _changing(ctx, award_id, reason, decided_by)
    _positive(gpu_cards, "gpu_cards", "the cards taken away")
    _positive(gpu_hours, "gpu_hours", "the GPU-hours taken away")
    dedicated = award.kind is RequestKind.DEDICATED
    wanted, field = (gpu_cards, "gpu_cards") if dedicated else (gpu_hours, "gpu_hours")
    other, other_field = (gpu_hours, "gpu_hours") if dedicated else (gpu_cards, "gpu_cards")
    if other is not None:
        raise ValidationFailed(
            f"{other_field}: a {award.kind.value} award is reduced in {field}", field=other_field
        )
    if wanted is None:
        raise ValidationFailed(f"{field}: say how many to take away", field=field)
    today = ctx.now.date()
    before = _terms(ctx, award)
    allocations = _allocations(ctx, award)
    if dedicated:
        start = effective_date or max(today, award.start_date)
        if start < max(today, award.start_date) or start >= award.end_date:
            raise ValidationFailed(
                f"effective_date: a reduction takes effect from today or later, within the "
                f"award's period ({award.start_date} to {award.end_date})",
                field="effective_date",
            )
        if wanted >= (award.gpu_cards or 0):
            raise ValidationFailed(
                f"gpu_cards: award {award.id} has {award.gpu_cards} cards; taking {wanted} "
                "away leaves none (end the award early instead)",
                field="gpu_cards",
            )
        granted = _card_days(allocations)
        removed = 0
        left = wanted
        for allocation in sorted(allocations, key=lambda a: a.id, reverse=True):
            if left == 0 or allocation.end_date <= start or not allocation.gpu_cards:
                continue
            take = min(allocation.gpu_cards, left)
            removed += take * (allocation.end_date - max(allocation.start_date, start)).days
            left -= take
            if allocation.start_date >= start:
                if take == allocation.gpu_cards:
                    _drop_allocation(ctx, allocation)
                else:
                    allocation.gpu_cards -= take
            else:
                kept, old_end = allocation.gpu_cards - take, allocation.end_date
                allocation.end_date = start
                if kept:
                    _new_allocation(ctx, award, allocation, kept, start, old_end)
        if left:
            raise ValidationFailed(
                f"gpu_cards: only {wanted - left} cards of award {award.id} run from {start}",
                field="gpu_cards",
            )
        award.gpu_cards = (award.gpu_cards or 0) - wanted
    else:
        if effective_date is not None and effective_date != today:
            raise ValidationFailed(
                "effective_date: a pooled award's GPU-hours are reduced from today",
                field="effective_date",
            )
        start = today
        used = -(-used_gpu_seconds(ctx, award_id=award.id) // 3600)
        granted = award.gpu_hours or 0
        if granted - wanted < max(used, 1):
            raise ValidationFailed(
                f"gpu_hours: award {award.id} has {granted} GPU-hours of which {used} are "
                f"used; at most {max(granted - max(used, 1), 0)} can be taken away",
                field="gpu_hours",
            )
        removed = wanted
        left = wanted
        for allocation in sorted(allocations, key=lambda a: a.id, reverse=True):
            if left == 0 or not allocation.gpu_hours:
                continue
            take = min(allocation.gpu_hours, left)
            left -= take
            if take == allocation.gpu_hours:
                _drop_allocation(ctx, allocation)
            else:
                allocation.gpu_hours -= take
        award.gpu_hours = granted - wanted
    ctx.db.flush()
    released = _release_share(
        ctx, award, removed, granted, memo=f"reduction of award {award.id} from {start}"
    )
    return _record(
        ctx,
        award,
        ChangeKind.REDUCTION,
        effective=start,
        before=before,
        reason=reason,
        decided_by=decided_by,
        released=released,
    )


def end_early(
    ctx: Ctx, *, award_id: int, end_date: date, reason: str, decided_by: str
) -> AwardChange:
    """A dedicated award's cards end on ``end_date`` (inside its period, today or later): the
    award ends then, and the commitment of the card-days given up is released pro rata."""
    award, _scheme = _changing(ctx, award_id, reason, decided_by)
    if award.kind is not RequestKind.DEDICATED:
        raise ValidationFailed(
            f"end_date: award {award.id} is pooled and holds no cards; reduce its GPU-hours "
            "or close it instead",
            field="end_date",
        )
    today = ctx.now.date()
    if end_date <= award.start_date or end_date >= award.end_date or end_date < today:
        raise ValidationFailed(
            f"end_date: an early end falls after the award's start ({award.start_date}), "
            f"before its end ({award.end_date}) and not before today ({today})",
            field="end_date",
        )
    before = _terms(ctx, award)
    allocations = _allocations(ctx, award)
    granted = _card_days(allocations)
    removed = 0
    for allocation in allocations:
        if allocation.end_date <= end_date:
            continue
        removed += (allocation.gpu_cards or 0) * (
            allocation.end_date - max(allocation.start_date, end_date)
        ).days
        if allocation.start_date >= end_date:
            _drop_allocation(ctx, allocation)
        else:
            allocation.end_date = end_date
    award.end_date = end_date
    award.months = months_of(award.start_date, end_date)
    ctx.db.flush()
    released = _release_share(
        ctx, award, removed, granted, memo=f"early end of award {award.id} on {end_date}"
    )
    return _record(
        ctx,
        award,
        ChangeKind.EARLY_END,
        effective=end_date,
        before=before,
        reason=reason,
        decided_by=decided_by,
        released=released,
    )


def list_changes(ctx: Ctx, *, award_id: int) -> list[AwardChange]:
    """The award's changes, oldest first, for whoever may read the award."""
    view_award(ctx, award_id=award_id)
    return list(
        ctx.db.scalars(
            select(AwardChange).where(AwardChange.award_id == award_id).order_by(AwardChange.id)
        )
    )
