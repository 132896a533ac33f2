"""An application: the project, its team, its compute request and declarations.

The compute request is either *dedicated* (GPU cards for a number of months) or *pooled*
(GPU-hours to spend over a number of months). The GPU model is stored as free text on purpose:
an unknown model is a screening finding, not an input error.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aisc.db.base import Base, UTCDateTime, enum_column


class ApplicationStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    SCREENING = "screening"
    INCOMPLETE = "incomplete"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions"
    DEFERRED = "deferred"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


DECIDED = frozenset(
    {
        ApplicationStatus.APPROVED,
        ApplicationStatus.APPROVED_WITH_CONDITIONS,
        ApplicationStatus.REJECTED,
    }
)
PENDING = frozenset(
    {
        ApplicationStatus.SUBMITTED,
        ApplicationStatus.SCREENING,
        ApplicationStatus.INCOMPLETE,
        ApplicationStatus.UNDER_REVIEW,
        ApplicationStatus.DEFERRED,
    }
)


class Domain(enum.StrEnum):
    LLM = "llm"
    MATERIALS = "materials"
    SYNTHETIC_BIOLOGY = "synthetic_biology"
    MEDICAL = "medical"
    FINANCE = "finance"
    ROBOTICS = "robotics"
    CLIMATE = "climate"
    MEDIA = "media"
    OTHER = "other"


class RequestKind(enum.StrEnum):
    DEDICATED = "dedicated"
    POOLED = "pooled"


class Precision(enum.StrEnum):
    FP8 = "fp8"
    BF16 = "bf16"
    FP16 = "fp16"
    TF32 = "tf32"
    FP32 = "fp32"
    MIXED = "mixed"


class Workload(enum.StrEnum):
    TRAINING = "training"
    INFERENCE = "inference"
    BOTH = "both"


# Declarations an applicant must make before an application can pass screening.
REQUIRED_DECLARATIONS = (
    "decl_no_double_funding",
    "decl_information_true",
    "decl_consent_disclosure",
    "decl_legal_compliance",
)


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(
            "local_rnd_staff >= 0 AND nonlocal_rnd_staff >= 0", name="staff_non_negative"
        ),
        CheckConstraint("gpu_cards IS NULL OR gpu_cards >= 0", name="cards_non_negative"),
        CheckConstraint("gpu_hours IS NULL OR gpu_hours >= 0", name="hours_non_negative"),
        CheckConstraint("months IS NULL OR months >= 0", name="months_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("schemes.id"), nullable=False)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id"), nullable=False, index=True
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"), nullable=False)
    status: Mapped[ApplicationStatus] = mapped_column(
        enum_column(ApplicationStatus, "application_status"), nullable=False, index=True
    )

    title: Mapped[str] = mapped_column(String(300), nullable=False)
    domain: Mapped[Domain] = mapped_column(enum_column(Domain, "domain"), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    hk_relevance: Mapped[str] = mapped_column(Text, nullable=False, default="")
    local_rnd_staff: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    nonlocal_rnd_staff: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    request_kind: Mapped[RequestKind] = mapped_column(
        enum_column(RequestKind, "request_kind"), nullable=False
    )
    gpu_model_code: Mapped[str] = mapped_column(String(50), nullable=False)
    gpu_cards: Mapped[int | None] = mapped_column(Integer)
    gpu_hours: Mapped[int | None] = mapped_column(BigInteger)
    months: Mapped[int | None] = mapped_column(Integer)
    preferred_start: Mapped[date | None] = mapped_column(Date)

    model_parameters: Mapped[int | None] = mapped_column(BigInteger)
    dataset_size_gb: Mapped[int | None] = mapped_column(BigInteger)
    precision: Mapped[Precision | None] = mapped_column(enum_column(Precision, "precision"))
    workload: Mapped[Workload | None] = mapped_column(enum_column(Workload, "workload"))

    decl_no_double_funding: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    decl_information_true: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    decl_consent_disclosure: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    decl_legal_compliance: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    previous_application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    # Set by screening (``Finding.as_dict`` each); NULL, not JSON null, until then.
    screening_findings: Mapped[list[dict[str, str | None]] | None] = mapped_column(
        JSON(none_as_null=True)
    )
    screened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    attachments: Mapped[list[Attachment]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Attachment.id"
    )


class Attachment(Base):
    """Metadata of a document the applicant supplied (the file itself is stored elsewhere)."""

    __tablename__ = "application_attachments"
    __table_args__ = (CheckConstraint("size_bytes >= 0", name="size_non_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ProjectRole(enum.StrEnum):
    PI = "pi"
    MEMBER = "member"


class ProjectMember(Base):
    """A person on an application's project team: its PI or a member.

    Project membership is what tenant isolation rests on: members see the application, its
    award, allocations, jobs and usage; nobody else outside the centre's staff does.
    """

    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("application_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), nullable=False, index=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[ProjectRole] = mapped_column(
        enum_column(ProjectRole, "project_role"), nullable=False
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
