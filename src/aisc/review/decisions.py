"""The committee's decision on an application.

A decision on a reviewed application needs the scheme's quorum of completed reviews; an approval
prices the granted compute at the price list in force, caps the subsidy at rate x list value
(rate <= default, or <= the exceptional maximum with a written justification), allocates it on
a partition (the capacity check) and commits the cap in the ledger, all in one transaction.
"""

from __future__ import annotations

from sqlalchemy import select

from aisc.access import acting_person, authorize, visible
from aisc.accounts.models import Role
from aisc.accounts.service import get_person, require_role
from aisc.allocations import service as allocations
from aisc.allocations.schemas import AllocationCreate
from aisc.applications.models import Application, ApplicationStatus, RequestKind
from aisc.applications.screening import RULE_CODES, add_months
from aisc.applications.service import transition, view_application
from aisc.audit.service import record
from aisc.awards.models import Award, AwardStatus
from aisc.cluster.models import GpuModel, Partition
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from aisc.ledger import service as ledger
from aisc.money import apply_rate, bp_to_rate, cents_to_hkd, rate_to_bp
from aisc.pricing.models import PriceList
from aisc.pricing.service import list_value_cents, price_list_in_force
from aisc.progress import conditions as progress_conditions
from aisc.progress import service as progress
from aisc.progress.schemas import ConditionIn
from aisc.review.models import Decision, DecisionOutcome
from aisc.review.schemas import (
    DecisionCreate,
    DecisionRead,
    Reason,
)
from aisc.review.service import assignments_of, completed_reviews
from aisc.scheme.models import Scheme
from aisc.scheme.service import get_scheme

S = ApplicationStatus
OUTCOME_STATUS = {
    DecisionOutcome.APPROVE: S.APPROVED,
    DecisionOutcome.APPROVE_WITH_CONDITIONS: S.APPROVED_WITH_CONDITIONS,
    DecisionOutcome.DEFER: S.DEFERRED,
    DecisionOutcome.REJECT: S.REJECTED,
}


def _lock_application(ctx: Ctx, application_id: int) -> Application:
    app = ctx.db.execute(
        select(Application).where(Application.id == application_id).with_for_update()
    ).scalar_one_or_none()
    if app is None:
        raise NotFound(f"application {application_id} not found", field="application_id")
    return app


def _check_reasons(scheme: Scheme, reasons: list[Reason], outcome: DecisionOutcome) -> None:
    allowed = {c.code for c in scheme.criteria} | set(RULE_CODES)
    for index, reason in enumerate(reasons):
        if reason.code not in allowed:
            raise ValidationFailed(
                f"reasons[{index}].code: {reason.code!r} is neither a criterion nor a "
                f"screening rule (one of: {', '.join(sorted(allowed))})",
                field=f"reasons[{index}].code",
            )
    if outcome in (DecisionOutcome.REJECT, DecisionOutcome.DEFER) and not reasons:
        raise ValidationFailed(
            f"a decision to {outcome.value} needs at least one reason", field="reasons"
        )


def decide(ctx: Ctx, *, application_id: int, data: DecisionCreate) -> Decision:
    """Record the committee's decision; an approval creates the award and commits its cap."""
    authorize(ctx, "decision.make")
    view_application(ctx, application_id=application_id)
    app = _lock_application(ctx, application_id)
    scheme = get_scheme(ctx)
    decider = get_person(
        ctx, person_id=acting_person(ctx, data.decided_by_id, field="decided_by_id")
    )
    require_role(decider, Role.SECRETARIAT, field="decided_by_id")
    _check_reasons(scheme, data.reasons, data.outcome)
    at_screening = app.status is S.SCREENING and data.outcome is DecisionOutcome.REJECT
    if not at_screening:
        if app.status is not S.UNDER_REVIEW:
            raise InvalidTransition(
                f"application {app.id} is {app.status.value}; decisions are taken on "
                "applications under review (or rejections at screening)",
                field="status",
            )
        done = completed_reviews(assignments_of(ctx, app.id))
        if len(done) < scheme.review_quorum:
            raise Conflict(
                f"a decision needs {scheme.review_quorum} completed reviews; application "
                f"{app.id} has {len(done)}",
                field="reviews",
            )
    items = [c if isinstance(c, ConditionIn) else ConditionIn(text=c) for c in data.conditions]
    if data.outcome is DecisionOutcome.APPROVE_WITH_CONDITIONS and not any(
        c.text.strip() for c in items
    ):
        raise ValidationFailed(
            "an approval with conditions needs at least one condition", field="conditions"
        )
    decision = Decision(
        application_id=app.id,
        outcome=data.outcome,
        reasons=[r.model_dump() for r in data.reasons],
        conditions=[c.text.strip() for c in items if c.text.strip()],
        decided_by_id=decider.id,
        decided_at=ctx.now,
    )
    award = None
    if data.outcome in (DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS):
        award = _approve(ctx, app, scheme, data, decision)
    ctx.db.add(decision)
    ctx.db.flush()
    if award is not None:
        progress_conditions.record_conditions(
            ctx,
            award_id=award.id,
            decision_id=decision.id,
            items=[c for c in items if c.text.strip()],
        )
        if data.report_months is not None:
            progress.set_plan(ctx, award_id=award.id, report_months=data.report_months)
    target = OUTCOME_STATUS[data.outcome]
    if target is not S.DEFERRED:
        app.decided_at = ctx.now
    transition(
        ctx,
        app,
        "reject_at_screening" if at_screening else "decide",
        target=target,
        extra={"decision_id": decision.id, "award_id": award.id if award else None},
    )
    record(
        ctx,
        action="decision.create",
        object_type="decision",
        object_id=decision.id,
        after=row_dict(decision),
    )
    return decision


def _approve(
    ctx: Ctx, app: Application, scheme: Scheme, data: DecisionCreate, decision: Decision
) -> Award:
    grant = data.grant
    kind = grant.kind or app.request_kind
    gpu_model = (grant.gpu_model or app.gpu_model_code).strip()
    if ctx.db.get(GpuModel, gpu_model) is None:
        raise ValidationFailed(
            f"grant.gpu_model: unknown GPU model {gpu_model!r}", field="grant.gpu_model"
        )
    months = grant.months if grant.months is not None else app.months
    start = grant.start or app.preferred_start
    cards = (
        grant.gpu_cards
        if grant.gpu_cards is not None
        else (app.gpu_cards if kind is RequestKind.DEDICATED else None)
    )
    hours = (
        grant.gpu_hours
        if grant.gpu_hours is not None
        else (app.gpu_hours if kind is RequestKind.POOLED else None)
    )
    if kind is RequestKind.DEDICATED:
        hours = None
        _positive(cards, "grant.gpu_cards")
        if (
            kind is app.request_kind
            and app.gpu_cards is not None
            and cards
            and cards > app.gpu_cards
        ):
            raise ValidationFailed(
                f"grant.gpu_cards: {cards} exceeds the {app.gpu_cards} requested",
                field="grant.gpu_cards",
            )
    else:
        cards = None
        _positive(hours, "grant.gpu_hours")
        if (
            kind is app.request_kind
            and app.gpu_hours is not None
            and hours
            and hours > app.gpu_hours
        ):
            raise ValidationFailed(
                f"grant.gpu_hours: {hours} exceeds the {app.gpu_hours} requested",
                field="grant.gpu_hours",
            )
    _positive(months, "grant.months")
    if start is None:
        raise ValidationFailed("grant.start: a start date is needed", field="grant.start")
    assert months is not None
    end = add_months(start, months)
    if start < scheme.start_date or end > scheme.end_date:
        raise ValidationFailed(
            f"grant.start: the period {start} to {end} is outside the scheme "
            f"({scheme.start_date} to {scheme.end_date})",
            field="grant.start",
        )

    rate_bp = (
        rate_to_bp(data.subsidy_rate, field="subsidy_rate")
        if data.subsidy_rate is not None
        else scheme.default_rate_bp
    )
    if rate_bp > scheme.exceptional_max_bp:
        raise ValidationFailed(
            f"subsidy_rate: {bp_to_rate(rate_bp)} exceeds the scheme's maximum of "
            f"{bp_to_rate(scheme.exceptional_max_bp)}",
            field="subsidy_rate",
        )
    if rate_bp > scheme.default_rate_bp and not data.exceptional_justification.strip():
        raise ValidationFailed(
            f"subsidy_rate: {bp_to_rate(rate_bp)} is above the default "
            f"{bp_to_rate(scheme.default_rate_bp)} and needs an exceptional_justification",
            field="exceptional_justification",
        )

    # Capacity and money are decided under the scheme lock: racing approvals serialise here.
    ledger.lock_scheme(ctx, scheme.id)
    partition_name = grant.partition or allocations.default_partition(ctx, gpu_model=gpu_model)
    partition = ctx.db.execute(
        select(Partition).where(Partition.name == partition_name)
    ).scalar_one_or_none()
    if partition is None:
        raise ValidationFailed(
            f"grant.partition: unknown partition {partition_name!r}", field="grant.partition"
        )
    price_list: PriceList = price_list_in_force(ctx, on=ctx.now.date())
    value = list_value_cents(
        price_list, kind=kind, gpu_model=gpu_model, gpu_cards=cards, months=months, gpu_hours=hours
    )
    cap = apply_rate(value, rate_bp)
    award = Award(
        scheme_id=scheme.id,
        application_id=app.id,
        organisation_id=app.organisation_id,
        title=app.title,
        status=AwardStatus.OFFERED,
        kind=kind,
        gpu_model_code=gpu_model,
        partition_id=partition.id,
        gpu_cards=cards,
        gpu_hours=hours,
        start_date=start,
        end_date=end,
        months=months,
        subsidy_rate_bp=rate_bp,
        list_value_cents=value,
        subsidy_cap_cents=cap,
        price_list_id=price_list.id,
        created_at=ctx.now,
    )
    ctx.db.add(award)
    ctx.db.flush()
    allocations.make_allocation(
        ctx,
        data=AllocationCreate(
            award_id=award.id, partition=partition.name, capacity_override=data.capacity_override
        ),
        subject=f"the approval of application {app.id}",
    )
    if cap > 0:
        ledger.commit(
            ctx,
            scheme_id=scheme.id,
            award_id=award.id,
            amount_cents=cap,
            memo=f"application {app.id}",
        )
    record(
        ctx, action="award.create", object_type="award", object_id=award.id, after=row_dict(award)
    )
    decision.granted_kind = kind
    decision.granted_gpu_model = gpu_model
    decision.granted_cards = cards
    decision.granted_gpu_hours = hours
    decision.granted_months = months
    decision.granted_start = start
    decision.granted_partition = partition.name
    if data.capacity_override is not None:
        decision.capacity_override_by_id = data.capacity_override.by_id
        decision.capacity_override_justification = data.capacity_override.justification.strip()
    decision.subsidy_rate_bp = rate_bp
    decision.exceptional_justification = data.exceptional_justification.strip()
    decision.price_list_id = price_list.id
    decision.list_value_cents = value
    decision.subsidy_cap_cents = cap
    return award


def _positive(value: int | None, field: str) -> None:
    if value is None or value <= 0:
        raise ValidationFailed(f"{field}: must be greater than zero", field=field)


def list_decisions(ctx: Ctx, *, application_id: int) -> list[Decision]:
    access = authorize(ctx, "decision.read")
    visible(
        access,
        ctx.db.get(Application, application_id),
        f"application {application_id}",
        field="application_id",
        application_id=application_id,
    )
    return list(
        ctx.db.execute(
            select(Decision).where(Decision.application_id == application_id).order_by(Decision.id)
        ).scalars()
    )


def read_decision(ctx: Ctx, decision: Decision) -> DecisionRead:
    """The decision as read; ``decision`` came through ``list_decisions`` (in reach)."""
    authorize(ctx, "decision.read")
    version = None
    if decision.price_list_id is not None:
        price_list = ctx.db.get(PriceList, decision.price_list_id)
        version = price_list.version if price_list else None
    award_id = (
        ctx.db.execute(
            select(Award.id).where(Award.application_id == decision.application_id)
        ).scalar()
        if decision.outcome in (DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS)
        else None
    )
    return DecisionRead(
        id=decision.id,
        application_id=decision.application_id,
        outcome=decision.outcome,
        reasons=[Reason(**r) for r in decision.reasons],
        conditions=list(decision.conditions),
        decided_by_id=decision.decided_by_id,
        decided_at=decision.decided_at,
        granted_kind=decision.granted_kind,
        granted_gpu_model=decision.granted_gpu_model,
        granted_cards=decision.granted_cards,
        granted_gpu_hours=decision.granted_gpu_hours,
        granted_months=decision.granted_months,
        granted_start=decision.granted_start,
        granted_partition=decision.granted_partition,
        capacity_override_by_id=decision.capacity_override_by_id,
        capacity_override_justification=decision.capacity_override_justification,
        subsidy_rate=bp_to_rate(decision.subsidy_rate_bp)
        if decision.subsidy_rate_bp is not None
        else None,
        exceptional_justification=decision.exceptional_justification,
        price_list_version=version,
        list_value_hkd=cents_to_hkd(decision.list_value_cents)
        if decision.list_value_cents is not None
        else None,
        subsidy_cap_hkd=cents_to_hkd(decision.subsidy_cap_cents)
        if decision.subsidy_cap_cents is not None
        else None,
        award_id=award_id,
    )
