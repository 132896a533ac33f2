"""The worker's housekeeping for reports (``aisc.housekeeping.TASKS``).

At each pass, as the system at ``ctx.now``:

1. every running award without a report schedule gets one (awards active before reports
   existed, and any acceptance that predates this code);
2. the lead of each report still owed is reminded ``report_reminder_days`` before its due date
   and on the day it falls due;
3. a report still owed ``report_grace_days`` after its due date holds the award
   (``HoldKind.REPORT_OVERDUE``, ref = the report's id), which suspends it, and the lead is told.

Idempotent: schedules are made once, each message has its outbox key (queued once), and a hold
is placed once (``place_hold`` ignores the same open hold).
"""

from __future__ import annotations

from datetime import timedelta

from aisc.access import authorize
from aisc.awards.models import HoldKind
from aisc.awards.service import place_hold
from aisc.context import Ctx
from aisc.progress import service
from aisc.scheme.service import get_scheme


def run(ctx: Ctx) -> dict[str, int]:
    """One pass; what it did, by kind (``schedules``, ``reminders``, ``holds``)."""
    authorize(ctx, "progress.review")
    done = {"schedules": 0, "reminders": 0, "holds": 0}
    for award_id in service.running_award_ids(ctx):
        if not service.list_reports(ctx, award_id=award_id, limit=1):
            service.ensure_schedule(ctx, award_id=award_id)
            done["schedules"] += 1
    scheme = get_scheme(ctx)
    today = ctx.now.date()
    remind = timedelta(days=scheme.report_reminder_days)
    grace = timedelta(days=scheme.report_grace_days)
    for report in service.owed_reports(ctx):
        what = f"the {report.kind.value} report {report.sequence} of award {report.award_id}"
        if report.due_date - remind <= today < report.due_date:
            done["reminders"] += service.tell_lead(
                ctx,
                report,
                key=f"progress-report:{report.id}:before",
                subject=f"[aisc] {what} is due on {report.due_date}",
                body=f"A reminder: {what} is due on {report.due_date}. Submit it in the "
                f"portal (Projects) or through the API.\n",
            )
        if today >= report.due_date:
            done["reminders"] += service.tell_lead(
                ctx,
                report,
                key=f"progress-report:{report.id}:due",
                subject=f"[aisc] {what} is due today",
                body=f"{what} was due on {report.due_date}. Past "
                f"{scheme.report_grace_days} days' grace the award is suspended until the "
                "report is accepted.\n",
            )
        if today > report.due_date + grace:
            place_hold(
                ctx,
                award_id=report.award_id,
                kind=HoldKind.REPORT_OVERDUE,
                ref=report.id,
                reason=f"progress report {report.id} due {report.due_date} not received",
            )
            if service.tell_lead(
                ctx,
                report,
                key=f"progress-report:{report.id}:hold",
                subject=f"[aisc] award {report.award_id} suspended: {what} is overdue",
                body=f"{what} was due on {report.due_date} and is now more than "
                f"{scheme.report_grace_days} days late. The award is suspended (no new jobs) "
                "until the report is submitted and accepted.\n",
            ):
                done["holds"] += 1
    return done
