"""Conditions of approval as items: recorded with the decision, shown on the award, marked met
(with evidence) or waived (with a reason) by the secretariat.

A condition that ``holds_allocation`` holds the award (``HoldKind.CONDITION``, ref = the
condition's id) from the moment it becomes active until the condition is met or waived. An open
condition past its due date reads as overdue; nothing is stored for that.
"""

from __future__ import annotations

from sqlalchemy import select

from aisc.access import authorize, awards_in_reach, permit, visible
from aisc.audit.service import record
from aisc.awards.models import Award, HoldKind
from aisc.awards.service import lift_hold, place_hold
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import InvalidTransition, ValidationFailed
from aisc.progress.models import AwardCondition, ConditionStatus
from aisc.progress.schemas import ConditionIn, ConditionRead


def record_conditions(
    ctx: Ctx, *, award_id: int, decision_id: int | None, items: list[ConditionIn]
) -> list[AwardCondition]:
    """The committee's conditions as items of the award (a step of ``decision.make``)."""
    authorize(ctx, "decision.make")
    rows = []
    for position, item in enumerate(items, 1):
        text = item.text.strip()
        if not text:
            raise ValidationFailed(
                f"conditions[{position - 1}].text: say what the condition is",
                field=f"conditions[{position - 1}].text",
            )
        row = AwardCondition(
            award_id=award_id,
            decision_id=decision_id,
            position=position,
            text=text,
            due_date=item.due_date,
            holds_allocation=item.holds_allocation,
            status=ConditionStatus.OPEN,
            evidence="",
            created_at=ctx.now,
        )
        ctx.db.add(row)
        rows.append(row)
    ctx.db.flush()
    for row in rows:
        record(
            ctx,
            action="condition.create",
            object_type="condition",
            object_id=row.id,
            after=row_dict(row),
        )
    return rows


def hold_for_conditions(ctx: Ctx, *, award_id: int) -> int:
    """Hold the award for each open condition that holds its allocation; how many were open.
    A step of the award becoming active (placed as the system: the rule, not the lead)."""
    authorize(ctx, "award.suspend")
    open_ones = ctx.db.scalars(
        select(AwardCondition).where(
            AwardCondition.award_id == award_id,
            AwardCondition.holds_allocation.is_(True),
            AwardCondition.status == ConditionStatus.OPEN,
        )
    ).all()
    for condition in open_ones:
        place_hold(
            ctx,
            award_id=award_id,
            kind=HoldKind.CONDITION,
            ref=condition.id,
            reason=f"condition {condition.position} not met yet: {condition.text[:200]}",
        )
    return len(open_ones)


def list_conditions(
    ctx: Ctx, *, award_id: int | None = None, status: ConditionStatus | None = None
) -> list[AwardCondition]:
    access = authorize(ctx, "condition.read")
    query = select(AwardCondition).order_by(AwardCondition.award_id, AwardCondition.position)
    scope = awards_in_reach(access, AwardCondition.award_id)
    if scope is not None:
        query = query.where(scope)
    if award_id is not None:
        query = query.where(AwardCondition.award_id == award_id)
    if status is not None:
        query = query.where(AwardCondition.status == status)
    return list(ctx.db.scalars(query))


def view_condition(ctx: Ctx, *, condition_id: int) -> AwardCondition:
    access = authorize(ctx, "condition.read")
    condition = ctx.db.get(AwardCondition, condition_id)
    award = ctx.db.get(Award, condition.award_id) if condition else None
    return visible(
        access,
        condition,
        f"condition {condition_id}",
        field="condition_id",
        application_id=award.application_id if award else None,
    )


def read_condition(ctx: Ctx, condition: AwardCondition) -> ConditionRead:
    """The condition as read, overdue when open past its due date."""
    authorize(ctx, "condition.read")
    overdue = (
        condition.status is ConditionStatus.OPEN
        and condition.due_date is not None
        and ctx.now.date() > condition.due_date
    )
    return ConditionRead(
        id=condition.id,
        award_id=condition.award_id,
        position=condition.position,
        text=condition.text,
        due_date=condition.due_date,
        holds_allocation=condition.holds_allocation,
        status="overdue" if overdue else condition.status,
        evidence=condition.evidence,
        resolved_at=condition.resolved_at,
        resolved_by=condition.resolved_by,
    )


def resolve(ctx: Ctx, *, condition_id: int, outcome: str, text: str) -> AwardCondition:
    """Mark a condition met (with its evidence) or waived (with the reason); the hold it placed
    is lifted."""
    condition = view_condition(ctx, condition_id=condition_id)
    permit(ctx, "condition.resolve")
    if outcome not in (ConditionStatus.MET, ConditionStatus.WAIVED):
        raise ValidationFailed("outcome: met or waived", field="outcome")
    if not text.strip():
        field = "evidence" if outcome == ConditionStatus.MET else "reason"
        raise ValidationFailed(f"text: give the {field}", field="text")
    if condition.status is not ConditionStatus.OPEN:
        raise InvalidTransition(
            f"condition {condition.id} is {condition.status.value} already", field="status"
        )
    condition.status = ConditionStatus(outcome)
    condition.evidence = text.strip()
    condition.resolved_at = ctx.now
    condition.resolved_by = ctx.actor
    ctx.db.flush()
    record(
        ctx,
        action=f"condition.{outcome}",
        object_type="condition",
        object_id=condition.id,
        before={"status": ConditionStatus.OPEN},
        after={"status": condition.status, "evidence": condition.evidence},
    )
    lift_hold(ctx, award_id=condition.award_id, kind=HoldKind.CONDITION, ref=condition.id)
    return condition
