"""Scheme statistics as of any day, computed from the records on every call.

Every figure is answered "as of the end of day D" (UTC) from timestamps alone, so that the
figure for 30 June is the same whether it is asked in July or years later:

- received: applications first submitted by then (``submitted_at``); drafts never submitted by
  then are drafts;
- approved (approved or approved with conditions), rejected, withdrawn, pending (submitted,
  screening, incomplete, under review, deferred): each application's state at that moment, read
  from its audited state changes (every move of the state machine appends one, with its time);
- committed: commitments less releases recorded by then; disbursed: disbursements less
  reversals; available: budget - earmarks - commitments + releases. Per category and per
  domain the same sums are taken over the awards of that category or domain, so the categories
  add up to the scheme's figure (releases included);
- average subsidy rate: the rate of each award made by then, weighted by the list value granted
  (per category and domain over their own awards);
- median days to decision: first submission to approval or rejection, over those decided by then;
- allocated %: committed GPU cards of installed cards in the month containing the day;
- outcomes: what accepted progress reports say the projects produced (papers, models, patents,
  ...): left ``None`` here, filled by progress reporting where it is built.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import select

from aisc.access import authorize
from aisc.accounts.models import Organisation, OrgCategory
from aisc.allocations.service import allocated_now
from aisc.applications.models import PENDING, Application, ApplicationStatus, Domain
from aisc.audit.models import AuditEvent
from aisc.awards.models import Award
from aisc.context import Ctx
from aisc.ledger.models import EntryKind, LedgerEntry
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
    disbursed_hkd: Decimal = Decimal("0.00")
    list_value_approved_hkd: Decimal = Decimal("0.00")
    average_subsidy_rate: Decimal | None = None


class SchemeStats(BaseModel):
    as_of: date
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
    # Outputs of accepted progress reports (papers, models, patents, ...) by kind, as of the
    # day. None where progress reporting does not provide them.
    outcomes: dict[str, int] | None = None


def end_of(day: date) -> datetime:
    """The first moment after ``day`` (UTC): records before it count "as of" the day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


@dataclass
class AppHistory:
    """One application as the records tell it."""

    id: int
    category: OrgCategory
    domain: Domain
    created_at: datetime
    submitted_at: datetime | None
    moves: list[tuple[datetime, ApplicationStatus]] = field(default_factory=list)

    def status_at(self, cutoff: datetime) -> ApplicationStatus:
        status = S.DRAFT
        for at, moved_to in self.moves:
            if at >= cutoff:
                break
            status = moved_to
        return status

    def decided_at(self, cutoff: datetime) -> datetime | None:
        """When it reached the state it holds at ``cutoff``, if that is approved or rejected."""
        found = None
        for at, moved_to in self.moves:
            if at >= cutoff:
                break
            found = at if moved_to in (*APPROVED, S.REJECTED) else None
        return found


@dataclass
class History:
    """What the statistics are computed from: applications, awards and ledger entries."""

    apps: dict[int, AppHistory]
    awards: dict[int, Award]  # by award id
    entries: list[LedgerEntry]


def load_history(ctx: Ctx, scheme_id: int) -> History:
    """Read the records once, for figures published under ``scheme.read``."""
    authorize(ctx, "scheme.read")
    db = ctx.db
    apps: dict[int, AppHistory] = {}
    for app, category in db.execute(
        select(Application, Organisation.category)
        .join(Organisation, Organisation.id == Application.organisation_id)
        .where(Application.scheme_id == scheme_id)
    ).all():
        apps[app.id] = AppHistory(
            id=app.id,
            category=category,
            domain=app.domain,
            created_at=app.created_at,
            submitted_at=app.submitted_at,
        )
    events = db.execute(
        select(AuditEvent.object_id, AuditEvent.at, AuditEvent.after)
        .where(AuditEvent.object_type == "application")
        .order_by(AuditEvent.seq)
    ).all()
    for object_id, at, after in events:
        history = apps.get(int(object_id)) if str(object_id).isdigit() else None
        if history is None:
            continue
        status = json.loads(after).get("status") if after else None
        if status is not None:
            history.moves.append((at, ApplicationStatus(status)))
    awards = {
        a.id: a for a in db.execute(select(Award).where(Award.scheme_id == scheme_id)).scalars()
    }
    entries = list(
        db.execute(
            select(LedgerEntry).where(LedgerEntry.scheme_id == scheme_id).order_by(LedgerEntry.id)
        ).scalars()
    )
    return History(apps=apps, awards=awards, entries=entries)


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


def weighted_rate(awards: Iterable[Award]) -> tuple[int, Decimal | None]:
    """(list value in cents, the rate weighted by it) of ``awards``."""
    chosen = list(awards)
    list_value = sum(a.list_value_cents for a in chosen)
    weighted = sum(a.list_value_cents * a.subsidy_rate_bp for a in chosen)
    if not list_value:
        return 0, None
    return list_value, (Decimal(weighted) / Decimal(list_value) / BASIS_POINTS).quantize(
        Decimal("0.0001")
    )


@dataclass
class _Money:
    committed: int = 0
    disbursed: int = 0


def _ledger_as_of(
    history: History, cutoff: datetime
) -> tuple[dict[EntryKind, int], dict[int, _Money]]:
    totals = dict.fromkeys(EntryKind, 0)
    per_award: dict[int, _Money] = defaultdict(_Money)
    signs = {
        EntryKind.COMMITMENT: ("committed", 1),
        EntryKind.RELEASE: ("committed", -1),
        EntryKind.DISBURSEMENT: ("disbursed", 1),
        EntryKind.REVERSAL: ("disbursed", -1),
    }
    for entry in history.entries:
        if entry.created_at >= cutoff:
            continue
        totals[entry.kind] += entry.amount_cents
        if entry.award_id is not None and entry.kind in signs:
            name, sign = signs[entry.kind]
            money = per_award[entry.award_id]
            setattr(money, name, getattr(money, name) + sign * entry.amount_cents)
    return totals, per_award


def stats_from(history: History, as_of: date) -> SchemeStats:
    """The statistics as of the end of ``as_of``, from records already read (allocated % aside)."""
    cutoff = end_of(as_of)
    total = Breakdown()
    by_category: dict[OrgCategory, Breakdown] = defaultdict(Breakdown)
    by_domain: dict[Domain, Breakdown] = defaultdict(Breakdown)
    drafts = 0
    days: list[float] = []
    for app in history.apps.values():
        if app.created_at >= cutoff:
            continue
        if app.submitted_at is None or app.submitted_at >= cutoff:
            drafts += 1
            continue
        status = app.status_at(cutoff)
        for bucket in (total, by_category[app.category], by_domain[app.domain]):
            _count(bucket, status)
        decided = app.decided_at(cutoff)
        if decided is not None:
            days.append((decided - app.submitted_at).total_seconds() / 86400)

    totals, per_award = _ledger_as_of(history, cutoff)
    made = [a for a in history.awards.values() if a.created_at < cutoff]
    category_awards: dict[OrgCategory, list[Award]] = defaultdict(list)
    domain_awards: dict[Domain, list[Award]] = defaultdict(list)
    for award in made:
        owner = history.apps.get(award.application_id)
        if owner is None:
            continue
        money = per_award.get(award.id, _Money())
        category_awards[owner.category].append(award)
        domain_awards[owner.domain].append(award)
        for bucket in (by_category[owner.category], by_domain[owner.domain]):
            bucket.committed_hkd += cents_to_hkd(money.committed)
            bucket.disbursed_hkd += cents_to_hkd(money.disbursed)
    for buckets, grouped in ((by_category, category_awards), (by_domain, domain_awards)):
        for key, awards in grouped.items():
            value, rate = weighted_rate(awards)
            buckets[key].list_value_approved_hkd = cents_to_hkd(value)  # type: ignore[index]
            buckets[key].average_subsidy_rate = rate  # type: ignore[index]

    list_value, average = weighted_rate(made)
    median = Decimal(str(round(statistics.median(days), 1))) if days else None
    committed = totals[EntryKind.COMMITMENT] - totals[EntryKind.RELEASE]
    return SchemeStats(
        as_of=as_of,
        applications_received=total.applications_received,
        approved=total.approved,
        rejected=total.rejected,
        pending=total.pending,
        withdrawn=total.withdrawn,
        drafts=drafts,
        total_fund_hkd=cents_to_hkd(totals[EntryKind.BUDGET]),
        earmarked_hkd=cents_to_hkd(totals[EntryKind.EARMARK]),
        committed_hkd=cents_to_hkd(committed),
        disbursed_hkd=cents_to_hkd(totals[EntryKind.DISBURSEMENT] - totals[EntryKind.REVERSAL]),
        released_hkd=cents_to_hkd(totals[EntryKind.RELEASE]),
        available_hkd=cents_to_hkd(
            totals[EntryKind.BUDGET] - totals[EntryKind.EARMARK] - committed
        ),
        list_value_approved_hkd=cents_to_hkd(list_value),
        average_subsidy_rate=average,
        median_days_to_decision=median,
        allocated_pct_now=None,
        allocated_month=None,
        by_category=dict(sorted(by_category.items())),
        by_domain=dict(sorted(by_domain.items())),
    )


def outcomes_as_of(ctx: Ctx, *, as_of: date) -> dict[str, int]:
    """Outputs of accepted progress reports by kind (papers, models, patents, ...) as of the
    end of ``as_of`` (a report counts from the day it was accepted): the statistics'
    ``outcomes``, summed by the progress reports' service."""
    from aisc.progress.service import outcome_totals

    return outcome_totals(ctx, as_of=as_of)


def scheme_stats(ctx: Ctx, *, today: date) -> SchemeStats:
    """The statistics as of the end of ``today`` (any past day: nothing is taken from now).

    Published figures (``scheme.read``): counts and sums over every tenant, none named.
    """
    authorize(ctx, "scheme.read")
    scheme = get_scheme(ctx)
    result = stats_from(load_history(ctx, scheme.id), today)
    result.outcomes = outcomes_as_of(ctx, as_of=today)
    month = allocated_now(ctx, today=today)
    if month is not None:
        result.allocated_pct_now = month.allocated_pct
        result.allocated_month = month.month
    return result
