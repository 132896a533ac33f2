"""Open data: the scheme's published figures, month by month and as of a day, aggregates only.

What is published (``scheme.read``: anyone, no sign-in), and nothing else:

- the statistics as of the day (``aisc.reports.stats``): counts of applications by state, the
  fund's sums, the average subsidy rate, allocated % — in total, by category of applicant and
  by domain (each a count or a sum over at least the applications of that group);
- month by month from the scheme's opening: applications received, approvals, subsidy
  committed in the month (commitments less releases) and cumulatively, allocated % (committed
  GPU cards of installed) and busy % (GPU time used of the time reserved by dedicated
  allocations, over all of them together).

Never published here: the name of any applicant, organisation or person, the title of any
project, any figure of one application or one award (its cap, its rate, its usage), reviewers'
scores, and the spending against earmarks line by line. A category or domain with a single
award does show that award's committed sum: that is the figure the committee already announces
with each approval, so it is not held back.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel

from aisc.access import SYSTEM, authorize
from aisc.allocations.service import allocated_now, utilisation
from aisc.billing import service as billing
from aisc.billing.months import next_month
from aisc.billing.views import busy_pct
from aisc.context import Ctx
from aisc.ledger.models import EntryKind
from aisc.money import cents_to_hkd
from aisc.reports.stats import (
    APPROVED,
    SchemeStats,
    end_of,
    load_history,
    outcomes_as_of,
    stats_from,
)
from aisc.scheme.service import get_scheme

PUBLISHED = (
    "Aggregates only: counts and sums over groups of applications, never one application's.",
    "No names of applicants, organisations or people; no project titles.",
    "No per-application or per-award money, rates or usage; no reviewers' scores.",
    "Figures as of the end of the day (UTC), computed from the timestamps of the records.",
)


class MonthFigures(BaseModel):
    month: str
    applications_received: int
    approvals: int
    committed_in_month_hkd: Decimal
    committed_cumulative_hkd: Decimal
    allocated_pct: Decimal | None
    busy_pct: Decimal | None


class OpenData(BaseModel):
    as_of: date
    published: list[str]
    stats: SchemeStats
    months: list[MonthFigures]


def _months(first: date, last: date) -> list[date]:
    months, month = [], date(first.year, first.month, 1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def open_data(ctx: Ctx, *, today: date) -> OpenData:
    """The published figures as of the end of ``today``, and month by month up to it."""
    authorize(ctx, "scheme.read")
    scheme = get_scheme(ctx)
    history = load_history(ctx, scheme.id)
    stats = stats_from(history, today)
    stats.outcomes = outcomes_as_of(ctx, as_of=today)
    now = allocated_now(ctx, today=today)
    if now is not None:
        stats.allocated_pct_now, stats.allocated_month = now.allocated_pct, now.month
    cutoff = end_of(today)

    received: dict[str, int] = {}
    approvals: dict[str, int] = {}
    for app in history.apps.values():
        if app.submitted_at is not None and app.submitted_at < cutoff:
            key = f"{app.submitted_at:%Y-%m}"
            received[key] = received.get(key, 0) + 1
        first = next((at for at, s in app.moves if s in APPROVED and at < cutoff), None)
        if first is not None:
            approvals[f"{first:%Y-%m}"] = approvals.get(f"{first:%Y-%m}", 0) + 1
    committed: dict[str, int] = {}
    for entry in history.entries:
        if entry.created_at < cutoff and entry.kind in (EntryKind.COMMITMENT, EntryKind.RELEASE):
            sign = 1 if entry.kind is EntryKind.COMMITMENT else -1
            key = f"{entry.created_at:%Y-%m}"
            committed[key] = committed.get(key, 0) + sign * entry.amount_cents
    # Busy % over every dedicated allocation together and allocated % over the whole centre:
    # published aggregates, read as the system (one tenant's usage and the capacity table are
    # not public, and no per-award figure leaves this function).
    system = replace(ctx, principal=SYSTEM)
    busy = {
        f"{m.month:%Y-%m}": busy_pct(m.busy_gpu_seconds, m.reserved_gpu_seconds)
        for m in billing.busy_by_month(system, today=today)
    }
    allocated = {m.month: m.allocated_pct for m in utilisation(system, today=today).months}
    months = []
    cumulative = 0
    for month in _months(scheme.start_date, today) if scheme.start_date <= today else []:
        key = f"{month:%Y-%m}"
        cumulative += committed.get(key, 0)
        months.append(
            MonthFigures(
                month=key,
                applications_received=received.get(key, 0),
                approvals=approvals.get(key, 0),
                committed_in_month_hkd=cents_to_hkd(committed.get(key, 0)),
                committed_cumulative_hkd=cents_to_hkd(cumulative),
                allocated_pct=allocated.get(key),
                busy_pct=busy.get(key),
            )
        )
    return OpenData(as_of=today, published=list(PUBLISHED), stats=stats, months=months)


# --- files -----------------------------------------------------------------------------------

MONTH_COLUMNS = list(MonthFigures.model_fields)
GROUP_COLUMNS = [
    "group",
    "applications_received",
    "approved",
    "rejected",
    "pending",
    "withdrawn",
    "committed_hkd",
    "disbursed_hkd",
    "list_value_approved_hkd",
    "average_subsidy_rate",
]


def _csv(rows: list[dict[str, object]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    return buffer.getvalue()


def monthly_csv(data: OpenData) -> str:
    return _csv([m.model_dump(mode="json") for m in data.months], MONTH_COLUMNS)


def groups_csv(data: OpenData) -> str:
    """One row per category of applicant and per domain (``category:university``, ...)."""
    dumped = data.stats.model_dump(mode="json")
    rows = [
        {"group": f"{kind}:{name}", **row}
        for kind, key in (("category", "by_category"), ("domain", "by_domain"))
        for name, row in dumped[key].items()
    ]
    return _csv(rows, GROUP_COLUMNS)


def write_files(data: OpenData, out: Path) -> list[Path]:
    """open-data.json, monthly.csv, groups.csv and README.txt in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "open-data.json": json.dumps(data.model_dump(mode="json"), indent=2, ensure_ascii=False)
        + "\n",
        "monthly.csv": monthly_csv(data),
        "groups.csv": groups_csv(data),
        "README.txt": f"Open data of the scheme as of {data.as_of}.\n\n"
        + "\n".join(f"- {line}" for line in data.published)
        + "\n",
    }
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
