"""What a progress report holds (narrative, milestones, outputs, attachments) and how reports
and conditions read."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from aisc.progress.models import ConditionStatus, ReportKind, ReportStatus
from aisc.schemas import Count, Day, ReadSchema, Schema

DOI_PATTERN = r"^10\.\d{4,9}/\S{1,200}$"

# The kinds of output outcome_totals counts, in the order the statistics show them.
OUTPUT_KINDS = (
    "papers",
    "models",
    "datasets",
    "patents",
    "products",
    "users_reached",
    "people_hired",
    "people_trained",
)


class MilestoneStatus(enum.StrEnum):
    DONE = "done"
    ON_TRACK = "on_track"
    DELAYED = "delayed"
    DROPPED = "dropped"


class Milestone(Schema):
    """One milestone of the plan in the application, and where it stands."""

    title: str = Field(min_length=1, max_length=300)
    planned: Day | None = None
    status: MilestoneStatus
    note: str = Field(default="", max_length=2000)


class Paper(Schema):
    title: str = Field(min_length=1, max_length=500)
    doi: str | None = Field(default=None, pattern=DOI_PATTERN, description="e.g. 10.1234/abcd")


class Output(Schema):
    """A model, dataset, patent or product the project made."""

    name: str = Field(min_length=1, max_length=300)
    link: str = Field(default="", max_length=500, description="where it is published, if it is")
    note: str = Field(default="", max_length=2000)


class Outputs(Schema):
    """What this report adds since the last one (the totals sum reports, so nothing twice)."""

    papers: list[Paper] = Field(default_factory=list, max_length=200)
    models: list[Output] = Field(default_factory=list, max_length=200)
    datasets: list[Output] = Field(default_factory=list, max_length=200)
    patents: list[Output] = Field(default_factory=list, max_length=200)
    products: list[Output] = Field(default_factory=list, max_length=200)
    users_reached: Count = 0
    people_hired: Count = 0
    people_trained: Count = 0
    hk_relevance: str = Field(default="", max_length=5000, description="relevance to Hong Kong")

    def totals(self) -> dict[str, int]:
        return {
            "papers": len(self.papers),
            "models": len(self.models),
            "datasets": len(self.datasets),
            "patents": len(self.patents),
            "products": len(self.products),
            "users_reached": self.users_reached,
            "people_hired": self.people_hired,
            "people_trained": self.people_trained,
        }


class Attachment(Schema):
    """A file's name, size and SHA-256, as application attachments are recorded."""

    filename: str = Field(min_length=1, max_length=255)
    size_bytes: Count
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ReportSubmit(Schema):
    narrative: str = Field(min_length=1, max_length=20_000)
    milestones: list[Milestone] = Field(default_factory=list, max_length=100)
    outputs: Outputs = Field(default_factory=Outputs)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    submitted_by_id: int | None = Field(
        default=None, gt=0, lt=2**31, description="who submits; a signed-in person is themself"
    )


class ReviewNote(Schema):
    note: str = Field(default="", max_length=5000)


class ChangesNote(Schema):
    note: str = Field(min_length=1, max_length=5000, description="what to change")


class ReportRead(ReadSchema):
    id: int
    award_id: int
    award_title: str
    kind: ReportKind
    sequence: int
    due_date: date
    status: ReportStatus
    overdue: bool = Field(description="not submitted (or sent back) and past its due date")
    late: bool = Field(description="first submitted after its due date")
    narrative: str
    milestones: list[Milestone]
    outputs: Outputs
    attachments: list[Attachment]
    submitted_at: datetime | None
    first_submitted_at: datetime | None
    submitted_by_id: int | None
    reviewed_at: datetime | None
    reviewed_by: str | None
    review_note: str


class ConditionIn(Schema):
    """One condition of approval as an item (a plain string is still taken as its text)."""

    text: str = Field(min_length=1, max_length=2000)
    due_date: Day | None = None
    holds_allocation: bool = Field(
        default=False, description="the award's compute is held until the condition is met"
    )


class ConditionResolve(Schema):
    outcome: Literal["met", "waived"]
    text: str = Field(
        min_length=1, max_length=5000, description="the evidence (met) or the reason (waived)"
    )


class ConditionRead(ReadSchema):
    id: int
    award_id: int
    position: int
    text: str
    due_date: date | None
    holds_allocation: bool
    status: ConditionStatus | Literal["overdue"]
    evidence: str
    resolved_at: datetime | None
    resolved_by: str | None
