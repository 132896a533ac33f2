"""Scheme configuration: one scheme per deployment, set up once and tuned afterwards."""

from __future__ import annotations

from sqlalchemy import select

from aisc.access import authorize
from aisc.accounts.models import OrgCategory
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.errors import Conflict, NotFound, ValidationFailed
from aisc.ledger import service as ledger
from aisc.money import bp_to_rate, cents_to_hkd, hkd_to_cents, rate_to_bp
from aisc.scheme.models import Scheme, SchemeCategory, SchemeCriterion
from aisc.scheme.schemas import (
    CategoriesReplace,
    CriteriaReplace,
    CriterionIn,
    CriterionRead,
    SchemeCreate,
    SchemeRead,
    SchemeUpdate,
    check_dates,
)


def get_scheme(ctx: Ctx) -> Scheme:
    """The deployment's scheme (its terms are public: ``scheme.read``)."""
    authorize(ctx, "scheme.read")
    # Asked for several times in one unit of work (a submission, the statistics): the row once
    # per session, then the session's own instance, which a second query would return anyway.
    known = ctx.db.info.get(_SCHEME)
    if isinstance(known, Scheme) and known in ctx.db:
        return known
    scheme = ctx.db.execute(select(Scheme).order_by(Scheme.id).limit(1)).scalar_one_or_none()
    if scheme is None:
        raise NotFound("no scheme is set up yet: run `aisc scheme init`", field="scheme")
    ctx.db.info[_SCHEME] = scheme
    return scheme


_SCHEME = "aisc.scheme"


def _snapshot(scheme: Scheme) -> dict[str, object]:
    return {
        "name": scheme.name,
        "start_date": scheme.start_date,
        "end_date": scheme.end_date,
        "default_rate_bp": scheme.default_rate_bp,
        "exceptional_max_bp": scheme.exceptional_max_bp,
        "review_quorum": scheme.review_quorum,
        "capacity_headroom_bp": scheme.capacity_headroom_bp,
        "over_award_policy": scheme.over_award_policy,
        "report_months": scheme.report_months,
        "final_report_days": scheme.final_report_days,
        "report_reminder_days": scheme.report_reminder_days,
        "report_grace_days": scheme.report_grace_days,
        "criteria": [[c.code, c.name, c.weight] for c in scheme.criteria],
        "eligible": sorted(c.category.value for c in scheme.categories if c.eligible),
    }


def _criteria_rows(criteria: list[CriterionIn]) -> list[SchemeCriterion]:
    return [
        SchemeCriterion(code=c.code, name=c.name, weight=c.weight, position=i)
        for i, c in enumerate(criteria)
    ]


def _category_rows(eligible: list[OrgCategory]) -> list[SchemeCategory]:
    chosen = set(eligible)
    return [SchemeCategory(category=c, eligible=c in chosen) for c in OrgCategory]


def init_scheme(ctx: Ctx, *, data: SchemeCreate) -> Scheme:
    """Create the scheme with its fund and earmarks (written to the ledger)."""
    authorize(ctx, "scheme.manage")
    if ctx.db.execute(select(Scheme.id)).first() is not None:
        raise Conflict("a scheme is already set up; use `aisc scheme update`", field="scheme")
    scheme = Scheme(
        name=data.name,
        start_date=data.start_date,
        end_date=data.end_date,
        default_rate_bp=rate_to_bp(data.default_rate, field="default_rate"),
        exceptional_max_bp=rate_to_bp(data.exceptional_max_rate, field="exceptional_max_rate"),
        review_quorum=data.review_quorum,
        capacity_headroom_bp=rate_to_bp(data.capacity_headroom, field="capacity_headroom"),
        over_award_policy=data.over_award_policy,
        is_demo=data.is_demo,
        created_at=ctx.now,
    )
    scheme.criteria = _criteria_rows(data.criteria)
    scheme.categories = _category_rows(data.eligible_categories)
    ctx.db.add(scheme)
    ctx.db.flush()
    record(
        ctx,
        action="scheme.init",
        object_type="scheme",
        object_id=scheme.id,
        after=_snapshot(scheme),
    )
    ledger.add_budget(
        ctx,
        scheme_id=scheme.id,
        amount_cents=hkd_to_cents(data.total_fund_hkd, field="total_fund_hkd"),
        label="initial fund",
    )
    for index, earmark in enumerate(data.earmarks):
        ledger.add_earmark(
            ctx,
            scheme_id=scheme.id,
            label=earmark.label,
            amount_cents=hkd_to_cents(earmark.amount_hkd, field=f"earmarks[{index}].amount_hkd"),
        )
    return scheme


def update_scheme(ctx: Ctx, *, data: SchemeUpdate) -> Scheme:
    authorize(ctx, "scheme.manage")
    scheme = ledger.lock_scheme(ctx, get_scheme(ctx).id)
    before = _snapshot(scheme)
    changes = data.model_dump(exclude_none=True)
    start = changes.get("start_date", scheme.start_date)
    end = changes.get("end_date", scheme.end_date)
    try:
        check_dates(start, end)
    except ValueError as exc:
        raise ValidationFailed(f"end_date: {exc}", field="end_date") from exc
    default_bp = (
        rate_to_bp(changes["default_rate"], field="default_rate")
        if "default_rate" in changes
        else scheme.default_rate_bp
    )
    max_bp = (
        rate_to_bp(changes["exceptional_max_rate"], field="exceptional_max_rate")
        if "exceptional_max_rate" in changes
        else scheme.exceptional_max_bp
    )
    if max_bp < default_bp:
        raise ValidationFailed(
            "exceptional_max_rate must be at least default_rate", field="exceptional_max_rate"
        )
    scheme.start_date, scheme.end_date = start, end
    scheme.default_rate_bp, scheme.exceptional_max_bp = default_bp, max_bp
    scheme.name = changes.get("name", scheme.name)
    scheme.review_quorum = changes.get("review_quorum", scheme.review_quorum)
    if "capacity_headroom" in changes:
        scheme.capacity_headroom_bp = rate_to_bp(
            changes["capacity_headroom"], field="capacity_headroom"
        )
    if changes.get("over_award_policy"):
        scheme.over_award_policy = changes["over_award_policy"]
    if "report_months" in changes:  # after-award reporting (aisc.progress)
        months = sorted({int(m) for m in changes["report_months"].split(",")})
        if not months or not all(1 <= m <= 120 for m in months):
            raise ValidationFailed("report_months: months run from 1 to 120", field="report_months")
        scheme.report_months = ",".join(str(m) for m in months)
    for key in ("final_report_days", "report_reminder_days", "report_grace_days"):
        if key in changes:
            setattr(scheme, key, changes[key])
    ctx.db.flush()
    record(
        ctx,
        action="scheme.update",
        object_type="scheme",
        object_id=scheme.id,
        before=before,
        after=_snapshot(scheme),
    )
    return scheme


def replace_criteria(ctx: Ctx, *, data: CriteriaReplace) -> Scheme:
    """Replace the assessment criteria as a whole (weights must sum to 100).

    Scores already given keep the weight they were given under.
    """
    authorize(ctx, "scheme.manage")
    scheme = ledger.lock_scheme(ctx, get_scheme(ctx).id)
    before = _snapshot(scheme)
    scheme.criteria.clear()
    ctx.db.flush()
    scheme.criteria.extend(_criteria_rows(data.criteria))
    ctx.db.flush()
    record(
        ctx,
        action="scheme.criteria",
        object_type="scheme",
        object_id=scheme.id,
        before=before,
        after=_snapshot(scheme),
    )
    return scheme


def replace_categories(ctx: Ctx, *, data: CategoriesReplace) -> Scheme:
    authorize(ctx, "scheme.manage")
    scheme = ledger.lock_scheme(ctx, get_scheme(ctx).id)
    before = _snapshot(scheme)
    chosen = set(data.eligible_categories)
    for row in scheme.categories:
        row.eligible = row.category in chosen
    ctx.db.flush()
    record(
        ctx,
        action="scheme.categories",
        object_type="scheme",
        object_id=scheme.id,
        before=before,
        after=_snapshot(scheme),
    )
    return scheme


def fund_position(ctx: Ctx) -> ledger.Balances:
    """The fund of the scheme as the ledger stands: committed, disbursed, available."""
    authorize(ctx, "ledger.read")
    return ledger.balances(ctx)


def read_scheme(ctx: Ctx, scheme: Scheme) -> SchemeRead:
    """The scheme's terms and its fund (budget and earmarks are published with it)."""
    authorize(ctx, "scheme.read")
    fund = ledger.balances(ctx, scheme_id=scheme.id, action="scheme.read")
    return SchemeRead(
        id=scheme.id,
        name=scheme.name,
        start_date=scheme.start_date,
        end_date=scheme.end_date,
        default_rate=bp_to_rate(scheme.default_rate_bp),
        exceptional_max_rate=bp_to_rate(scheme.exceptional_max_bp),
        review_quorum=scheme.review_quorum,
        capacity_headroom=bp_to_rate(scheme.capacity_headroom_bp),
        over_award_policy=scheme.over_award_policy,
        report_months=scheme.report_months,
        final_report_days=scheme.final_report_days,
        report_reminder_days=scheme.report_reminder_days,
        report_grace_days=scheme.report_grace_days,
        criteria=[CriterionRead.model_validate(c) for c in scheme.criteria],
        eligible_categories=sorted(scheme.eligible_categories),
        total_fund_hkd=cents_to_hkd(fund.budget),
        earmarked_hkd=cents_to_hkd(fund.earmarked),
        is_demo=scheme.is_demo,
        created_at=scheme.created_at,
    )
