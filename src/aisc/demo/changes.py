"""The demo's changes to awards after approval, replayed through the services like the rest of
the record (after the month-end billing, at the moments they were decided):

- the elderly-care robots project ends its dedicated cards early, on 1 July 2025 (the committee
  agreed that morning, so the end of June's figures still count the commitment whole): the cards
  return to the pool, the commitment of the months given up goes back to
  the fund, and once June is billed the worker's housekeeping completes and closes the award;
- the climate downscaling project, a pooled award, is topped up with more GPU-hours in July.

The public figures stay as they were: ten approved by June 2025, more than HK$300 m committed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from aisc.awards import changes, closeout
from aisc.awards import service as awards
from aisc.awards.models import Award
from aisc.context import Ctx

if TYPE_CHECKING:
    from aisc.demo import Builder

ENDS_EARLY = "Embodied AI for elderly-care robots"
TOPPED_UP = "Climate downscaling for the Pearl River Delta"
DECIDED_BY = "AISS Committee meeting of {day:%-d %B %Y}"


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _award(ctx: Ctx, title: str) -> Award:
    return next(a for a in awards.list_awards(ctx, limit=1000) if a.title == title)


def demo_changes(builder: Builder) -> None:
    decided = date(2025, 7, 1)
    with builder.step(_at(decided, 9)) as ctx:
        changes.end_early(
            ctx,
            award_id=_award(ctx, ENDS_EARLY).id,
            end_date=date(2025, 7, 1),
            reason="The robot platform's supplier withdrew; the team asked to stop after June "
            "and the committee agreed.",
            decided_by=DECIDED_BY.format(day=decided),
        )
    # June was billed on 2 July; the next morning's housekeeping closes the award.
    with builder.step(_at(date(2025, 7, 3), 6)) as ctx:
        closeout.complete_ended(ctx)
    decided = date(2025, 7, 15)
    with builder.step(_at(decided)) as ctx:
        changes.top_up(
            ctx,
            award_id=_award(ctx, TOPPED_UP).id,
            gpu_hours=450_000,
            reason="Ensemble runs for the 2025 typhoon season tripled the work planned.",
            decided_by=DECIDED_BY.format(day=decided),
        )
