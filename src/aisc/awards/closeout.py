"""Close-out: an award ends as completed or terminated, and its unspent commitment goes back.

An award's commitment (its subsidy cap) is held in the fund until it is either disbursed as
subsidy on invoices or released. Close-out is the moment the rest is released, so it happens
only when nothing more can be billed against the award:

- no job of the award is queued or running (cancel them first);
- no usage of a pooled award is unbilled (run billing for those months first);
- every month with dedicated cards of the award is invoiced, up to today. (A dedicated award's
  usage is carried by its card-day charge: billing closes its usage buckets with that line, and
  usage no card-day line can carry, recorded after the award's last billed month, is covered
  by the cards and never blocks the close-out.)

``completed`` needs the award's period to be over; ``terminated`` may come early (an offer that
was never accepted, or work stopped before any dedicated day fell due), with a reason. The
status change, the release, the lifting of the award's open holds and the audit event are one
transaction. A credit note issued later
against a closed award hands its subsidy back to the fund as well (billing.credits), so a closed
award never holds commitment.

``complete_ended`` is the worker's housekeeping duty: an award whose period is over, whose last
allocation has ended and whose last month has been billed (and nothing is left to bill) is
completed and closed out, as an officer would with ``aisc award close --outcome completed``.
Until then the award reads ``ended`` (``AwardPhase``), never active.
"""

from __future__ import annotations

import enum
from datetime import date, timedelta

from sqlalchemy import func, select

from aisc.access import authorize, permit
from aisc.allocations.models import Allocation
from aisc.applications.models import RequestKind
from aisc.audit.service import record
from aisc.awards.models import Award, AwardStatus
from aisc.awards.service import lift_hold, open_holds, view_award
from aisc.billing.models import CHARGED_STATUSES, BillingRun, Invoice
from aisc.billing.months import next_month
from aisc.context import Ctx
from aisc.errors import Conflict, InvalidTransition, ValidationFailed
from aisc.jobs.models import FINISHED, Job
from aisc.ledger import service as ledger
from aisc.metering.models import UsageBucket


class CloseOutcome(enum.StrEnum):
    """How an award ends: the status it closes with."""

    COMPLETED = AwardStatus.COMPLETED.value  # its period is over
    TERMINATED = AwardStatus.TERMINATED.value  # early, with a reason


_CLOSABLE = {
    CloseOutcome.COMPLETED: (AwardStatus.ACTIVE, AwardStatus.SUSPENDED),
    CloseOutcome.TERMINATED: (AwardStatus.OFFERED, AwardStatus.ACTIVE, AwardStatus.SUSPENDED),
}


def close(ctx: Ctx, *, award_id: int, outcome: CloseOutcome, reason: str) -> Award:
    """Close ``award_id`` as ``outcome`` and release its remaining commitment to the fund."""
    award = view_award(ctx, award_id=award_id)
    permit(ctx, "award.close", application_id=award.application_id)
    reason = reason.strip()
    if outcome is CloseOutcome.TERMINATED and not reason:
        raise ValidationFailed("a termination needs a reason", field="reason")
    ledger.lock_scheme(ctx, award.scheme_id)  # no invoice or credit note slips in meanwhile
    before = award.status
    if before not in _CLOSABLE[outcome]:
        allowed = " or ".join(s.value for s in _CLOSABLE[outcome])
        raise InvalidTransition(
            f"award {award.id} is {before.value}; only an {allowed} award can be {outcome.value}",
            field="status",
        )
    today = ctx.now.date()
    if outcome is CloseOutcome.COMPLETED and today < award.end_date:
        raise Conflict(
            f"award {award.id} runs until {award.end_date}; it can be completed from then "
            "(or terminated now, with a reason)",
            field="outcome",
        )
    _nothing_left_to_bill(ctx, award, today)
    award.status = AwardStatus(outcome.value)
    ctx.db.flush()
    for hold in open_holds(ctx, award_id=award.id):  # nothing is left to hold
        lift_hold(ctx, award_id=award.id, kind=hold.kind, ref=hold.ref)
    entry = ledger.release_remaining(
        ctx, award_id=award.id, memo=f"close-out of award {award.id} ({outcome.value})"
    )
    record(
        ctx,
        action="award.close",
        object_type="award",
        object_id=award.id,
        before={"status": before},
        after={
            "status": award.status,
            "reason": reason,
            "released_cents": entry.amount_cents if entry else 0,
        },
    )
    return award


def _nothing_left_to_bill(ctx: Ctx, award: Award, today: date) -> None:
    live = ctx.db.execute(
        select(func.count())
        .select_from(Job)
        .where(Job.award_id == award.id, Job.state.not_in(FINISHED))
    ).scalar_one()
    if live:
        raise Conflict(
            f"award {award.id} still has {live} queued or running job(s); cancel them first",
            field="award_id",
        )
    unbilled = None
    if award.kind is RequestKind.POOLED:  # a dedicated award's usage rides on its cards
        unbilled = ctx.db.execute(
            select(func.min(UsageBucket.month)).where(
                UsageBucket.award_id == award.id,
                UsageBucket.charge_id.is_(None),
                UsageBucket.gpu_seconds > 0,
            )
        ).scalar_one()
    if unbilled is not None:
        raise Conflict(
            f"award {award.id} has usage in {unbilled:%Y-%m} that is not billed yet; bill that "
            "month first (aisc billing run)",
            field="award_id",
        )
    month = _first_unbilled_dedicated_month(ctx, award, today)
    if month is not None:
        if month == today.replace(day=1):
            raise Conflict(
                f"award {award.id}'s dedicated cards are charged by the day and {month:%Y-%m} "
                "cannot be billed before it ends; the award can close once every month in "
                "which its cards fell due is billed",
                field="award_id",
            )
        raise Conflict(
            f"award {award.id}'s dedicated cards of {month:%Y-%m} are not billed yet; bill that "
            "month first (aisc billing run)",
            field="award_id",
        )


def _first_unbilled_dedicated_month(ctx: Ctx, award: Award, today: date) -> date | None:
    """The first month, up to today, in which the award's dedicated cards fell due but which
    has no invoice (billing charges them by the day, busy or idle)."""
    if award.status not in CHARGED_STATUSES:
        return None  # offered: nothing was ever due
    invoiced = set(
        ctx.db.execute(select(Invoice.month).where(Invoice.award_id == award.id)).scalars()
    )
    allocations = ctx.db.execute(
        select(Allocation).where(
            Allocation.award_id == award.id,
            Allocation.kind == RequestKind.DEDICATED,
            Allocation.gpu_cards > 0,
        )
    ).scalars()
    due = []
    for allocation in allocations:
        upto = min(allocation.end_date, today + timedelta(days=1))  # today's day is due too
        month = allocation.start_date.replace(day=1)
        while max(month, allocation.start_date) < upto:
            if month not in invoiced:
                due.append(month)
                break
            month = next_month(month)
    return min(due, default=None)


def complete_ended(ctx: Ctx) -> list[int]:
    """Housekeeping: complete and close out every open award whose period is over, whose
    allocations have all ended and whose last month is billed, with nothing left to bill.
    Returns the ids closed; idempotent (a closed award is never looked at again)."""
    authorize(ctx, "award.close")
    today = ctx.now.date()
    due = list(
        ctx.db.scalars(
            select(Award)
            .where(
                Award.status.in_((AwardStatus.ACTIVE, AwardStatus.SUSPENDED)),
                Award.end_date <= today,
            )
            .order_by(Award.id)
        )
    )
    closed = []
    for award in due:
        if not _ready_to_complete(ctx, award, today):
            continue
        close(
            ctx,
            award_id=award.id,
            outcome=CloseOutcome.COMPLETED,
            reason="its period is over and its last month is billed",
        )
        closed.append(award.id)
    return closed


def _ready_to_complete(ctx: Ctx, award: Award, today: date) -> bool:
    last_end = ctx.db.execute(
        select(func.max(Allocation.end_date)).where(Allocation.award_id == award.id)
    ).scalar_one()
    if last_end is not None and last_end > today:
        return False
    last_month = (award.end_date - timedelta(days=1)).replace(day=1)
    billed = ctx.db.execute(
        select(func.count()).select_from(BillingRun).where(BillingRun.month >= last_month)
    ).scalar_one()
    if not billed:
        return False
    try:
        _nothing_left_to_bill(ctx, award, today)
    except Conflict:
        return False
    return True
