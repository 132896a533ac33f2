"""Awards: read; accept an offer (offered -> active); hold and lift (active <-> suspended).

An award is suspended while it has an open hold (``AwardHold``): an officer's (``suspend`` /
``resume``) or a rule's (a report overdue, an invoice unpaid: ``place_hold`` / ``lift_hold``,
called by the worker's housekeeping and by what cures the reason). Lifting one reason never
lifts another.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from aisc.access import authorize, permit, visible
from aisc.applications.models import RequestKind
from aisc.audit.service import record
from aisc.awards.models import Award, AwardHold, AwardStatus, HoldKind
from aisc.awards.schemas import AwardBurn, AwardRead
from aisc.context import Ctx
from aisc.errors import InvalidTransition, NotFound, ValidationFailed
from aisc.ledger.service import award_balance
from aisc.metering.service import used_gpu_seconds


def get_award(ctx: Ctx, *, award_id: int) -> Award:
    """Load an award for a step that checked its reach already (see view_award).

    Refuses a principal with no way to ``award.read`` at all.
    """
    authorize(ctx, "award.read")
    award = ctx.db.get(Award, award_id)
    if award is None:
        raise NotFound(f"award {award_id} not found", field="award_id")
    return award


def view_award(ctx: Ctx, *, award_id: int, action: str = "award.read") -> Award:
    """The award, if the principal may see it (``action`` names the reading right used)."""
    access = authorize(ctx, action)
    award = ctx.db.get(Award, award_id)
    return visible(
        access,
        award,
        f"award {award_id}",
        field="award_id",
        application_id=award.application_id if award else None,
    )


def list_awards(
    ctx: Ctx,
    *,
    status: AwardStatus | None = None,
    organisation_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Award]:
    access = authorize(ctx, "award.read")
    query = select(Award).order_by(Award.id)
    reach = access.application_ids()
    if reach is not None:
        query = query.where(Award.application_id.in_(reach))
    if status is not None:
        query = query.where(Award.status == status)
        if status in (AwardStatus.ACTIVE, AwardStatus.SUSPENDED):
            # As read: an award past its period reads "ended", not active (AwardPhase).
            query = query.where(Award.end_date > ctx.now.date())
    if organisation_id is not None:
        query = query.where(Award.organisation_id == organisation_id)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def read_award(ctx: Ctx, award: Award) -> AwardRead:
    """The award as read, with its balance; ``award`` came through ``view_award`` or a list."""
    return AwardRead.of(
        award, award_balance(ctx, award_id=award.id, action="award.read"), ctx.now.date()
    )


def burn(ctx: Ctx, award: Award) -> AwardBurn:
    """Used and planned share of ``award`` as of today (the plan: linear over its period)."""
    access = authorize(ctx, "usage.read")
    visible(access, award, f"award {award.id}", field="award_id",
            application_id=award.application_id)  # fmt: skip
    used = used_gpu_seconds(ctx, award_id=award.id)
    days = max((award.end_date - award.start_date).days, 1)
    total = (
        (award.gpu_cards or 0) * days * 86_400
        if award.kind is RequestKind.DEDICATED
        else (award.gpu_hours or 0) * 3600
    )
    elapsed = min(max((ctx.now.date() - award.start_date).days, 0), days)
    tenth = Decimal("0.1")
    return AwardBurn(
        used_pct=(Decimal(100 * used) / total).quantize(tenth) if total else Decimal("0.0"),
        planned_pct=(Decimal(100 * elapsed) / days).quantize(tenth),
        used_gpu_hours=(Decimal(used) / 3600).quantize(tenth),
        total_gpu_hours=(Decimal(total) / 3600).quantize(tenth),
    )


def _move(
    ctx: Ctx,
    award_id: int,
    action: str,
    source: AwardStatus,
    target: AwardStatus,
    *,
    verb: str,
    extra: dict[str, object] | None = None,
    right: str,
) -> Award:
    """One award transition: refused unless the award is in ``source``; audited."""
    award = view_award(ctx, award_id=award_id)
    permit(ctx, right, application_id=award.application_id)
    if award.status is not source:
        raise InvalidTransition(
            f"award {award.id} is {award.status.value}; only an {source.value} award can {verb}",
            field="status",
        )
    award.status = target
    ctx.db.flush()
    record(
        ctx,
        action=f"award.{action}",
        object_type="award",
        object_id=award.id,
        before={"status": source},
        after={"status": target, **(extra or {})},
    )
    return award


def accept(ctx: Ctx, *, award_id: int) -> Award:
    """The project's PI accepts the offer; the award becomes active, with its report schedule
    and the holds of conditions to meet first (``aisc.progress``)."""
    from aisc.progress.service import on_award_active  # progress builds on awards

    award = _move(
        ctx,
        award_id,
        "accept",
        AwardStatus.OFFERED,
        AwardStatus.ACTIVE,
        verb="be accepted",
        right="award.accept",
    )
    on_award_active(ctx, award_id=award.id)
    return award


def suspend(ctx: Ctx, *, award_id: int, reason: str) -> Award:
    """Suspend an active award by hand (an officer's hold); its allocations are suspended too."""
    if not reason.strip():
        raise ValidationFailed("a suspension needs a reason", field="reason")
    award = view_award(ctx, award_id=award_id)
    permit(ctx, "award.suspend", application_id=award.application_id)
    if award.status is not AwardStatus.ACTIVE:
        raise InvalidTransition(
            f"award {award.id} is {award.status.value}; only an active award can be suspended",
            field="status",
        )
    return place_hold(ctx, award_id=award_id, kind=HoldKind.MANUAL, reason=reason)


def resume(ctx: Ctx, *, award_id: int) -> Award:
    """Lift the officer's hold. The award is active again unless a rule still holds it (a
    report overdue, an invoice unpaid): those are lifted by what cures them, and named here."""
    award = view_award(ctx, award_id=award_id)
    permit(ctx, "award.suspend", application_id=award.application_id)
    if award.status is not AwardStatus.SUSPENDED:
        raise InvalidTransition(
            f"award {award.id} is {award.status.value}; only a suspended award can resume",
            field="status",
        )
    if _open_hold(ctx, award_id, HoldKind.MANUAL, "") is None:
        others = "; ".join(
            f"{h.kind.value}: {h.reason}" for h in open_holds(ctx, award_id=award_id)
        )
        raise InvalidTransition(
            f"award {award.id} is not suspended by hand; it is held by {others}",
            field="status",
        )
    return lift_hold(ctx, award_id=award_id, kind=HoldKind.MANUAL)


def _open_hold(ctx: Ctx, award_id: int, kind: HoldKind, ref: str) -> AwardHold | None:
    return ctx.db.scalars(
        select(AwardHold).where(
            AwardHold.award_id == award_id,
            AwardHold.kind == kind,
            AwardHold.ref == ref,
            AwardHold.lifted_at.is_(None),
        )
    ).first()


def open_holds(ctx: Ctx, *, award_id: int) -> list[AwardHold]:
    """What holds the award now, oldest first (empty for an award that is not suspended)."""
    view_award(ctx, award_id=award_id)
    return list(
        ctx.db.scalars(
            select(AwardHold)
            .where(AwardHold.award_id == award_id, AwardHold.lifted_at.is_(None))
            .order_by(AwardHold.id)
        )
    )


def place_hold(
    ctx: Ctx, *, award_id: int, kind: HoldKind, reason: str, ref: str | int = ""
) -> Award:
    """Hold an award for one reason: an active award becomes suspended (audited), and stays so
    until every hold is lifted. Idempotent: the same open hold (kind and ref) is not placed twice.
    An award that is not active or suspended (offered, closed) is left as it is."""
    authorize(ctx, "award.suspend")
    award = ctx.db.get(Award, award_id, with_for_update=True)
    if award is None:
        raise NotFound(f"award {award_id} not found")
    ref = str(ref)
    if award.status not in (AwardStatus.ACTIVE, AwardStatus.SUSPENDED):
        return award
    if _open_hold(ctx, award_id, kind, ref) is not None:
        return award
    hold = AwardHold(
        award_id=award_id,
        kind=kind,
        ref=ref,
        reason=reason.strip(),
        placed_at=ctx.now,
        placed_by=ctx.actor,
    )
    ctx.db.add(hold)
    before = award.status
    award.status = AwardStatus.SUSPENDED
    ctx.db.flush()
    record(
        ctx,
        action="award.suspend",
        object_type="award",
        object_id=award.id,
        before={"status": before},
        after={"status": award.status, "hold": kind, "ref": ref, "reason": hold.reason},
    )
    return award


def lift_hold(ctx: Ctx, *, award_id: int, kind: HoldKind, ref: str | int = "") -> Award:
    """Lift one hold (if it is open): the award is active again when no hold is left. A hold
    that is not open changes nothing, so a rule may lift what it may never have placed."""
    authorize(ctx, "award.suspend")
    award = ctx.db.get(Award, award_id, with_for_update=True)
    if award is None:
        raise NotFound(f"award {award_id} not found")
    hold = _open_hold(ctx, award_id, kind, str(ref))
    if hold is None:
        return award
    hold.lifted_at = ctx.now
    hold.lifted_by = ctx.actor
    ctx.db.flush()
    left = ctx.db.scalars(
        select(AwardHold.id).where(AwardHold.award_id == award_id, AwardHold.lifted_at.is_(None))
    ).first()
    before = award.status
    if left is None and award.status is AwardStatus.SUSPENDED:
        award.status = AwardStatus.ACTIVE
        ctx.db.flush()
    record(
        ctx,
        action="award.resume" if award.status is AwardStatus.ACTIVE else "award.hold_lifted",
        object_type="award",
        object_id=award.id,
        before={"status": before, "hold": kind, "ref": hold.ref},
        after={"status": award.status},
    )
    return award
