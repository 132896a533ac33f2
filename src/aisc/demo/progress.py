"""The demo's reports after the award: what the projects said they delivered, on time, one
late, and one overdue long enough to suspend its award until the report was accepted.

Replayed through the services like the rest of the demo, in time order, before DEMO_PRESENT:
every report due by then is submitted (two days early) and accepted (three days after its due
date), except

- the first report of "Real-time 3D scene generation" (due 6 February 2025), which comes in
  only after the worker's pass of 21 February held the award (``HoldKind.REPORT_OVERDUE``); its
  acceptance on 5 March lifts the hold and the award runs again;
- the first report of the medical imaging project, a week late but within the grace period;
- reports due in the month after DEMO_PRESENT, submitted early and waiting in the secretariat's
  queue.

The outputs follow the public record (domain.md): the Cantonese-English model behind the
government's tool used by most departments, and healthcare models for cancer treatment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select

from aisc.applications.models import ProjectMember, ProjectRole
from aisc.awards.models import Award, AwardStatus
from aisc.context import Ctx
from aisc.demo.records import DEMO_PRESENT
from aisc.progress import conditions, duties
from aisc.progress import service as progress
from aisc.progress.models import ProgressReport, ReportStatus
from aisc.progress.schemas import ReportSubmit

LATE_HOLD = "Real-time 3D scene generation"
LATE = "Medical imaging foundation model for public hospitals"
LLM = "Cantonese-English foundation language model"


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _outputs(title: str, sequence: int) -> dict[str, Any]:
    """What a project reports, by title: the public record's outputs for two, modest for others."""
    if title == LLM:
        return {
            "models": [{"name": f"Cantonese-English LLM v{sequence}"}],
            "papers": [
                {
                    "title": "Code-switching Cantonese-English pretraining",
                    "doi": f"10.5555/hkgai.2025.{sequence}",
                }
            ],
            "products": [{"name": "Government assistant used by most departments"}]
            if sequence == 2
            else [],
            "users_reached": 12_000 * sequence,
            "people_hired": 6,
            "people_trained": 40,
            "hk_relevance": "A Cantonese-English model for the government's own tool, used by "
            "more than 70% of its departments.",
        }
    if title == LATE:
        return {
            "models": [{"name": "Radiotherapy planning model for nasopharyngeal cancer"}],
            "datasets": [{"name": "De-identified CT and MRI series (public hospitals)"}],
            "papers": [
                {
                    "title": "Foundation models for cancer-treatment planning",
                    "doi": f"10.5555/medimg.2025.{sequence}",
                }
            ],
            "people_trained": 12,
            "hk_relevance": "Cancer-treatment planning for Hong Kong's public hospitals.",
        }
    return {
        "papers": [{"title": f"{title}: progress {sequence}"}],
        "people_hired": 1,
        "people_trained": 3,
        "hk_relevance": "Builds local capability in Hong Kong.",
    }


def demo_progress(builder: Any) -> int:
    """Replay the reports (and the medical project's conditions); how many reports were sent."""
    events: list[tuple[datetime, int, Callable[[Ctx], object]]] = []

    def at(moment: datetime, action: Callable[[Ctx], object]) -> None:
        events.append((moment, len(events), action))

    with builder.step(_at(DEMO_PRESENT)) as ctx:
        rows = ctx.db.execute(
            select(ProgressReport, Award)
            .join(Award, Award.id == ProgressReport.award_id)
            .where(
                Award.status.in_((AwardStatus.ACTIVE, AwardStatus.SUSPENDED)),
                ProgressReport.status == ReportStatus.DUE,
                ProgressReport.due_date <= DEMO_PRESENT + timedelta(days=30),
            )
            .order_by(ProgressReport.due_date, ProgressReport.id)
        ).all()
        leads = {
            award.id: ctx.db.scalar(
                select(ProjectMember.person_id).where(
                    ProjectMember.application_id == award.application_id,
                    ProjectMember.role == ProjectRole.PI,
                )
            )
            for _report, award in rows
        }
        plans = [(r.id, r.sequence, r.due_date, a.id, a.title) for r, a in rows]
        medical = [
            c.id
            for award_id in {a.id for _r, a in rows if a.title == LATE}
            for c in conditions.list_conditions(ctx, award_id=award_id)
        ]
    sent = 0
    for report_id, sequence, due, award_id, title in plans:
        data = ReportSubmit.model_validate(
            {
                "narrative": f"Period {sequence} of {title}: training and evaluation went to "
                "plan; the next period's work is scheduled.",
                "milestones": [{"title": f"Milestone {sequence}", "status": "done"}],
                "outputs": _outputs(title, sequence),
                "submitted_by_id": leads[award_id],
            }
        )
        submitted = min(due - timedelta(days=2), DEMO_PRESENT - timedelta(days=1))
        accepted: date | None = due + timedelta(days=3)
        if title == LATE_HOLD and sequence == 1:
            submitted, accepted = date(2025, 3, 3), date(2025, 3, 5)
        elif title == LATE and sequence == 1:
            submitted, accepted = due + timedelta(days=7), due + timedelta(days=9)
        if accepted is not None and accepted > DEMO_PRESENT:
            accepted = None  # still in the secretariat's queue
        if submitted > DEMO_PRESENT:
            continue

        at(_at(submitted), partial(progress.submit_report, report_id=report_id, data=data))
        sent += 1
        if accepted is not None:
            accept = partial(progress.accept_report, report_id=report_id, note="Accepted.")
            at(_at(accepted, 15), accept)
    # The worker's pass that found the 3D scene report past its 14 days' grace.
    at(_at(date(2025, 2, 21), 0), duties.run)
    for condition_id in medical:
        met = partial(conditions.resolve, condition_id=condition_id, outcome="met",
                      text="Confirmed at the site visit.")  # fmt: skip
        at(_at(date(2025, 3, 20)), met)
    for moment, _order, action in sorted(events, key=lambda e: (e[0], e[1])):
        with builder.step(moment) as ctx:
            action(ctx)
    return sent
