"""Awards: read; accept an offer (offered -> active); suspend and resume (active <-> suspended)."""

from __future__ import annotations

from sqlalchemy import select

from aisc.audit.service import record
from aisc.awards.models import Award, AwardStatus
from aisc.awards.schemas import AwardRead
from aisc.context import Ctx
from aisc.errors import InvalidTransition, NotFound, ValidationFailed
from aisc.ledger.service import award_balance


def get_award(ctx: Ctx, *, award_id: int) -> Award:
    award = ctx.db.get(Award, award_id)
    if award is None:
        raise NotFound(f"award {award_id} not found", field="award_id")
    return award


def list_awards(
    ctx: Ctx,
    *,
    status: AwardStatus | None = None,
    organisation_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Award]:
    query = select(Award).order_by(Award.id)
    if status is not None:
        query = query.where(Award.status == status)
    if organisation_id is not None:
        query = query.where(Award.organisation_id == organisation_id)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def read_award(ctx: Ctx, award: Award) -> AwardRead:
    return AwardRead.of(award, award_balance(ctx.db, award_id=award.id))


def accept(ctx: Ctx, *, award_id: int) -> Award:
    """The organisation accepts the offer; the award becomes active."""
    award = get_award(ctx, award_id=award_id)
    if award.status is not AwardStatus.OFFERED:
        raise InvalidTransition(
            f"award {award.id} is {award.status.value}; only an offered award can be accepted",
            field="status",
        )
    award.status = AwardStatus.ACTIVE
    ctx.db.flush()
    record(
        ctx,
        action="award.accept",
        object_type="award",
        object_id=award.id,
        before={"status": AwardStatus.OFFERED},
        after={"status": award.status},
    )
    return award


def suspend(ctx: Ctx, *, award_id: int, reason: str) -> Award:
    """Suspend an active award (e.g. an overdue report); its allocations are suspended too."""
    award = get_award(ctx, award_id=award_id)
    if not reason.strip():
        raise ValidationFailed("a suspension needs a reason", field="reason")
    if award.status is not AwardStatus.ACTIVE:
        raise InvalidTransition(
            f"award {award.id} is {award.status.value}; only an active award can be suspended",
            field="status",
        )
    award.status = AwardStatus.SUSPENDED
    ctx.db.flush()
    record(
        ctx,
        action="award.suspend",
        object_type="award",
        object_id=award.id,
        before={"status": AwardStatus.ACTIVE},
        after={"status": award.status, "reason": reason.strip()},
    )
    return award


def resume(ctx: Ctx, *, award_id: int) -> Award:
    award = get_award(ctx, award_id=award_id)
    if award.status is not AwardStatus.SUSPENDED:
        raise InvalidTransition(
            f"award {award.id} is {award.status.value}; only a suspended award can resume",
            field="status",
        )
    award.status = AwardStatus.ACTIVE
    ctx.db.flush()
    record(
        ctx,
        action="award.resume",
        object_type="award",
        object_id=award.id,
        before={"status": AwardStatus.SUSPENDED},
        after={"status": award.status},
    )
    return award
