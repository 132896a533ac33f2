"""Scheme statistics, computed from applications, decisions and the ledger on every call.

Definitions:
- received: applications ever submitted (drafts never submitted are not received);
- approved: approved or approved with conditions; rejected; withdrawn (after submission);
- pending: submitted, screening, incomplete, under review or deferred;
- committed: commitments minus releases; disbursed; available (budget - earmarks -
  commitments + releases);
- average subsidy rate: the rate of each approval weighted by the list value it was granted;
- median days to decision: from first submission to approval or rejection;
- allocated % now: committed GPU cards / installed GPU cards in the current month (the share
  of available compute allocated; measured use comes with metering).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import select

from aisc.access import authorize
from aisc.accounts.models import Organisation, OrgCategory
from aisc.allocations.service import allocated_now
from aisc.applications.models import PENDING, Application, ApplicationStatus, Domain
from aisc.awards.models import Award
from aisc.context import Ctx
from aisc.ledger.service import balances
from aisc.money import BASIS_POINTS, cents_to_hkd
from aisc.scheme.service import get_scheme

S = ApplicationStatus
APPROVED = (S.APPROVED, S.APPROVED_WITH_CONDITIONS)


class Breakdown(BaseModel):
    applications_received: int = 0
    approved: int = 0
    rejected: int = 0
    pending: int = 0
    withdrawn: int = 0
    committed_hkd: Decimal = Decimal("0.00")


class SchemeStats(BaseModel):
    applications_received: int
    approved: int
    rejected: int
    pending: int
    withdrawn: int
    drafts: int
    total_fund_hkd: Decimal
    earmarked_hkd: Decimal
    committed_hkd: Decimal
    disbursed_hkd: Decimal
    released_hkd: Decimal
    available_hkd: Decimal
    list_value_approved_hkd: Decimal
    average_subsidy_rate: Decimal | None
    median_days_to_decision: Decimal | None
    allocated_pct_now: Decimal | None
    allocated_month: str | None
    by_category: dict[OrgCategory, Breakdown]
    by_domain: dict[Domain, Breakdown]


def _count(bucket: Breakdown, status: ApplicationStatus) -> None:
    bucket.applications_received += 1
    if status in APPROVED:
        bucket.approved += 1
    elif status is S.REJECTED:
        bucket.rejected += 1
    elif status is S.WITHDRAWN:
        bucket.withdrawn += 1
    elif status in PENDING:
        bucket.pending += 1


def scheme_stats(ctx: Ctx, *, today: date) -> SchemeStats:
    """Statistics as they stand; allocated % is for the month containing ``today``.

    Published figures (``scheme.read``): counts and sums over every tenant, none named.
    """
    authorize(ctx, "scheme.read")
    db = ctx.db
    scheme = get_scheme(ctx)
    now = allocated_now(ctx, today=today)
    fund = balances(ctx, scheme_id=scheme.id, action="scheme.read")
    rows = db.execute(
        select(Application, Organisation.category)
        .join(Organisation, Organisation.id == Application.organisation_id)
        .where(Application.scheme_id == scheme.id)
    ).all()
    awards = {
        a.application_id: a
        for a in db.execute(select(Award).where(Award.scheme_id == scheme.id)).scalars()
    }

    total = Breakdown()
    by_category: dict[OrgCategory, Breakdown] = defaultdict(Breakdown)
    by_domain: dict[Domain, Breakdown] = defaultdict(Breakdown)
    drafts = 0
    days: list[float] = []
    for app, category in rows:
        if app.submitted_at is None:
            drafts += 1
            continue
        for bucket in (total, by_category[category], by_domain[app.domain]):
            _count(bucket, app.status)
        if app.status in (*APPROVED, S.REJECTED) and app.decided_at is not None:
            days.append((app.decided_at - app.submitted_at).total_seconds() / 86400)

    # Per-bucket commitments: the cap of each award (the ledger's releases are scheme-wide).
    for app, category in rows:
        award = awards.get(app.id)
        if award is not None:
            for bucket in (by_category[category], by_domain[app.domain]):
                bucket.committed_hkd += cents_to_hkd(award.subsidy_cap_cents)

    list_value = sum(a.list_value_cents for a in awards.values())
    weighted = sum(a.list_value_cents * a.subsidy_rate_bp for a in awards.values())
    average = (
        (Decimal(weighted) / Decimal(list_value) / BASIS_POINTS).quantize(Decimal("0.0001"))
        if list_value
        else None
    )
    median = Decimal(str(round(statistics.median(days), 1))) if days else None
    return SchemeStats(
        applications_received=total.applications_received,
        approved=total.approved,
        rejected=total.rejected,
        pending=total.pending,
        withdrawn=total.withdrawn,
        drafts=drafts,
        total_fund_hkd=cents_to_hkd(fund.budget),
        earmarked_hkd=cents_to_hkd(fund.earmarked),
        committed_hkd=cents_to_hkd(fund.net_committed),
        disbursed_hkd=cents_to_hkd(fund.disbursed),
        released_hkd=cents_to_hkd(fund.released),
        available_hkd=cents_to_hkd(fund.available),
        list_value_approved_hkd=cents_to_hkd(list_value),
        average_subsidy_rate=average,
        median_days_to_decision=median,
        allocated_pct_now=now.allocated_pct if now else None,
        allocated_month=now.month if now else None,
        by_category=dict(sorted(by_category.items())),
        by_domain=dict(sorted(by_domain.items())),
    )
