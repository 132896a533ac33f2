from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from aisc.applications.models import (
    Application,
    ApplicationStatus,
    Domain,
    Precision,
    ProjectRole,
    RequestKind,
    Workload,
)
from aisc.schemas import BigCount, Count, Day, Id, LongText, ReadSchema, Schema, Title


class ComputeRequest(Schema):
    """Dedicated: ``gpu_cards`` for ``months``. Pooled: ``gpu_hours`` spent over ``months``."""

    kind: RequestKind = RequestKind.DEDICATED
    gpu_model: str = Field(min_length=1, max_length=50)
    gpu_cards: Count | None = None
    gpu_hours: BigCount | None = None
    months: Count | None = Field(default=None, le=120)
    preferred_start: Day | None = None

    @model_validator(mode="after")
    def _shape(self) -> ComputeRequest:
        if self.kind is RequestKind.DEDICATED and self.gpu_hours is not None:
            raise ValueError("gpu_hours applies to pooled requests; use gpu_cards for dedicated")
        if self.kind is RequestKind.POOLED and self.gpu_cards is not None:
            raise ValueError("gpu_cards applies to dedicated requests; use gpu_hours for pooled")
        return self


class RnDDetails(Schema):
    model_parameters: BigCount | None = Field(default=None, description="parameter count")
    dataset_size_gb: BigCount | None = None
    precision: Precision | None = None
    workload: Workload | None = None


class Declarations(Schema):
    no_double_funding: bool = False
    information_true: bool = False
    consent_disclosure: bool = False
    legal_compliance: bool = False


class AttachmentIn(Schema):
    kind: str = Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")
    filename: str = Field(min_length=1, max_length=255)
    size_bytes: BigCount
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    description: str = Field(default="", max_length=2000)


class ApplicationCreate(Schema):
    organisation_id: Id
    created_by_id: Id | None = Field(
        default=None, description="the author; a signed-in person may only name themself"
    )
    title: Title
    domain: Domain
    summary: LongText = ""
    hk_relevance: LongText = ""
    local_rnd_staff: Count = 0
    nonlocal_rnd_staff: Count = 0
    compute: ComputeRequest
    rnd: RnDDetails = Field(default_factory=RnDDetails)
    declarations: Declarations = Field(default_factory=Declarations)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=50)
    previous_application_id: Id | None = None


class ApplicationUpdate(Schema):
    """Fields to change on a draft or incomplete application; nested objects replace whole."""

    title: Title | None = None
    domain: Domain | None = None
    summary: LongText | None = None
    hk_relevance: LongText | None = None
    local_rnd_staff: Count | None = None
    nonlocal_rnd_staff: Count | None = None
    compute: ComputeRequest | None = None
    rnd: RnDDetails | None = None
    declarations: Declarations | None = None
    attachments: list[AttachmentIn] | None = Field(default=None, max_length=50)


class FindingRead(ReadSchema):
    code: str
    message: str
    field: str | None = None


class AttachmentRead(ReadSchema):
    id: int
    kind: str
    filename: str
    size_bytes: int
    sha256: str | None
    description: str


class ApplicationRead(ReadSchema):
    id: int
    organisation_id: int
    created_by_id: int
    status: ApplicationStatus
    title: str
    domain: Domain
    summary: str
    hk_relevance: str
    local_rnd_staff: int
    nonlocal_rnd_staff: int
    compute: ComputeRequest
    rnd: RnDDetails
    declarations: Declarations
    attachments: list[AttachmentRead]
    previous_application_id: int | None
    screening_findings: list[FindingRead] | None
    screened_at: datetime | None
    submitted_at: datetime | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, app: Application) -> ApplicationRead:
        findings = (
            [FindingRead(**f) for f in app.screening_findings]
            if app.screening_findings is not None
            else None
        )
        return cls(
            id=app.id,
            organisation_id=app.organisation_id,
            created_by_id=app.created_by_id,
            status=app.status,
            title=app.title,
            domain=app.domain,
            summary=app.summary,
            hk_relevance=app.hk_relevance,
            local_rnd_staff=app.local_rnd_staff,
            nonlocal_rnd_staff=app.nonlocal_rnd_staff,
            compute=ComputeRequest.model_construct(
                kind=app.request_kind,
                gpu_model=app.gpu_model_code,
                gpu_cards=app.gpu_cards,
                gpu_hours=app.gpu_hours,
                months=app.months,
                preferred_start=app.preferred_start,
            ),
            rnd=RnDDetails(
                model_parameters=app.model_parameters,
                dataset_size_gb=app.dataset_size_gb,
                precision=app.precision,
                workload=app.workload,
            ),
            declarations=Declarations(
                no_double_funding=app.decl_no_double_funding,
                information_true=app.decl_information_true,
                consent_disclosure=app.decl_consent_disclosure,
                legal_compliance=app.decl_legal_compliance,
            ),
            attachments=[AttachmentRead.model_validate(a) for a in app.attachments],
            previous_application_id=app.previous_application_id,
            screening_findings=findings,
            screened_at=app.screened_at,
            submitted_at=app.submitted_at,
            decided_at=app.decided_at,
            created_at=app.created_at,
            updated_at=app.updated_at,
        )


class MemberIn(Schema):
    person_id: Id
    role: ProjectRole = ProjectRole.MEMBER


class MemberRead(ReadSchema):
    application_id: int
    person_id: int
    role: ProjectRole
    added_at: datetime
