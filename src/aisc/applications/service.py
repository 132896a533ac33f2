"""Applications: editing, the state machine and screening.

Transitions (anything else is refused with ``InvalidTransition`` and changes nothing):

    draft --submit--> submitted --screen--> screening --start_review--> under_review
    screening --return--> incomplete --submit--> submitted
    under_review --decide--> approved | approved_with_conditions | deferred | rejected
    screening --decide(reject)--> rejected        deferred --reopen--> under_review
    any state before a decision --withdraw--> withdrawn

Decisions live in ``aisc.review``; they use ``transition`` from here.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from aisc.accounts.models import Role
from aisc.accounts.service import get_organisation, get_person, require_role
from aisc.applications.models import (
    PENDING,
    Application,
    ApplicationStatus,
    Attachment,
    Domain,
)
from aisc.applications.schemas import (
    ApplicationCreate,
    ApplicationUpdate,
    AttachmentIn,
    ComputeRequest,
    Declarations,
    RnDDetails,
)
from aisc.applications.screening import ScreeningFacts, screen
from aisc.audit.service import record
from aisc.cluster.models import GpuModel
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from aisc.scheme.service import get_scheme

S = ApplicationStatus
TRANSITIONS: dict[str, tuple[frozenset[ApplicationStatus], ApplicationStatus | None]] = {
    "submit": (frozenset({S.DRAFT, S.INCOMPLETE}), S.SUBMITTED),
    "screen": (frozenset({S.SUBMITTED}), S.SCREENING),
    "return": (frozenset({S.SCREENING}), S.INCOMPLETE),
    "start_review": (frozenset({S.SCREENING}), S.UNDER_REVIEW),
    "reopen": (frozenset({S.DEFERRED}), S.UNDER_REVIEW),
    "withdraw": (frozenset({S.DRAFT} | PENDING), S.WITHDRAWN),
    # The decision's target depends on the outcome; ``transition`` is told it.
    "decide": (frozenset({S.UNDER_REVIEW}), None),
    "reject_at_screening": (frozenset({S.SCREENING}), S.REJECTED),
}
EDITABLE = frozenset({S.DRAFT, S.INCOMPLETE})
# States in which an application blocks another for the same project.
ACTIVE_FOR_DUPLICATES = PENDING | {S.APPROVED, S.APPROVED_WITH_CONDITIONS}


def transition(
    ctx: Ctx,
    app: Application,
    action: str,
    *,
    target: ApplicationStatus | None = None,
    extra: dict[str, Any] | None = None,
) -> Application:
    """Move ``app`` along the state machine and audit it; refuse illegal moves."""
    allowed, default_target = TRANSITIONS[action]
    if app.status not in allowed:
        states = ", ".join(sorted(s.value for s in allowed))
        raise InvalidTransition(
            f"cannot {action.replace('_', ' ')} application {app.id} in state "
            f"{app.status.value!r} (allowed from: {states})",
            field="status",
        )
    new_status = target or default_target
    assert new_status is not None
    before = {"status": app.status}
    app.status = new_status
    app.updated_at = ctx.now
    ctx.db.flush()
    record(
        ctx,
        action=f"application.{action}",
        object_type="application",
        object_id=app.id,
        before=before,
        after={"status": new_status, **(extra or {})},
    )
    return app


def get_application(ctx: Ctx, *, application_id: int) -> Application:
    app = ctx.db.get(Application, application_id)
    if app is None:
        raise NotFound(f"application {application_id} not found", field="application_id")
    return app


def list_applications(
    ctx: Ctx,
    *,
    status: ApplicationStatus | None = None,
    organisation_id: int | None = None,
    domain: Domain | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Application]:
    query = select(Application).order_by(Application.id)
    if status is not None:
        query = query.where(Application.status == status)
    if organisation_id is not None:
        query = query.where(Application.organisation_id == organisation_id)
    if domain is not None:
        query = query.where(Application.domain == domain)
    if search:
        query = query.where(func.lower(Application.title).contains(search.lower()))
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def _apply_compute(app: Application, compute: ComputeRequest) -> None:
    app.request_kind = compute.kind
    app.gpu_model_code = compute.gpu_model.strip()
    app.gpu_cards = compute.gpu_cards
    app.gpu_hours = compute.gpu_hours
    app.months = compute.months
    app.preferred_start = compute.preferred_start


def _apply_rnd(app: Application, rnd: RnDDetails) -> None:
    app.model_parameters = rnd.model_parameters
    app.dataset_size_gb = rnd.dataset_size_gb
    app.precision = rnd.precision
    app.workload = rnd.workload


def _apply_declarations(app: Application, decl: Declarations) -> None:
    app.decl_no_double_funding = decl.no_double_funding
    app.decl_information_true = decl.information_true
    app.decl_consent_disclosure = decl.consent_disclosure
    app.decl_legal_compliance = decl.legal_compliance


def _attachments(items: list[AttachmentIn]) -> list[Attachment]:
    return [Attachment(**item.model_dump()) for item in items]


def _snapshot(app: Application) -> dict[str, Any]:
    data = row_dict(app)
    data["attachments"] = [[a.kind, a.filename, a.size_bytes, a.sha256] for a in app.attachments]
    return data


def create_application(ctx: Ctx, *, data: ApplicationCreate) -> Application:
    scheme = get_scheme(ctx.db)
    get_organisation(ctx, organisation_id=data.organisation_id)
    author = get_person(ctx, person_id=data.created_by_id)
    require_role(author, Role.APPLICANT, field="created_by_id")
    if data.organisation_id not in author.organisation_ids:
        raise Forbidden(
            f"person {author.id} is not a member of organisation {data.organisation_id}",
            field="created_by_id",
        )
    if data.previous_application_id is not None:
        _check_previous(ctx, data.previous_application_id, data.organisation_id)
    app = Application(
        scheme_id=scheme.id,
        organisation_id=data.organisation_id,
        created_by_id=author.id,
        status=S.DRAFT,
        title=data.title,
        domain=data.domain,
        summary=data.summary,
        hk_relevance=data.hk_relevance,
        local_rnd_staff=data.local_rnd_staff,
        nonlocal_rnd_staff=data.nonlocal_rnd_staff,
        previous_application_id=data.previous_application_id,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    _apply_compute(app, data.compute)
    _apply_rnd(app, data.rnd)
    _apply_declarations(app, data.declarations)
    app.attachments = _attachments(data.attachments)
    ctx.db.add(app)
    ctx.db.flush()
    record(
        ctx,
        action="application.create",
        object_type="application",
        object_id=app.id,
        after=_snapshot(app),
    )
    return app


def _check_previous(ctx: Ctx, previous_id: int, organisation_id: int) -> None:
    previous = ctx.db.get(Application, previous_id)
    if previous is None or previous.organisation_id != organisation_id:
        raise ValidationFailed(
            f"previous_application_id: no application {previous_id} of this organisation",
            field="previous_application_id",
        )
    if previous.status not in (S.REJECTED, S.DEFERRED, S.WITHDRAWN):
        raise ValidationFailed(
            f"previous_application_id: application {previous_id} is {previous.status.value}; "
            "only rejected, deferred or withdrawn applications can be resubmitted",
            field="previous_application_id",
        )


def update_application(ctx: Ctx, *, application_id: int, data: ApplicationUpdate) -> Application:
    app = get_application(ctx, application_id=application_id)
    if app.status not in EDITABLE:
        raise InvalidTransition(
            f"application {app.id} is {app.status.value}; only draft or incomplete "
            "applications can be edited",
            field="status",
        )
    before = _snapshot(app)
    changes = data.model_dump(exclude_unset=True)
    for key in (
        "title",
        "domain",
        "summary",
        "hk_relevance",
        "local_rnd_staff",
        "nonlocal_rnd_staff",
    ):
        if changes.get(key) is not None:
            setattr(app, key, getattr(data, key))
    if data.compute is not None:
        _apply_compute(app, data.compute)
    if data.rnd is not None:
        _apply_rnd(app, data.rnd)
    if data.declarations is not None:
        _apply_declarations(app, data.declarations)
    if data.attachments is not None:
        app.attachments.clear()
        ctx.db.flush()
        app.attachments.extend(_attachments(data.attachments))
    app.updated_at = ctx.now
    ctx.db.flush()
    record(
        ctx,
        action="application.update",
        object_type="application",
        object_id=app.id,
        before=before,
        after=_snapshot(app),
    )
    return app


def submit(ctx: Ctx, *, application_id: int) -> Application:
    app = get_application(ctx, application_id=application_id)
    transition(ctx, app, "submit")
    if app.submitted_at is None:
        app.submitted_at = ctx.now
    return app


def withdraw(ctx: Ctx, *, application_id: int, reason: str = "") -> Application:
    app = get_application(ctx, application_id=application_id)
    return transition(ctx, app, "withdraw", extra={"reason": reason})


def _duplicates(ctx: Ctx, app: Application) -> tuple[int, ...]:
    title = " ".join(app.title.lower().split())
    rows = ctx.db.execute(
        select(Application.id, Application.title).where(
            Application.organisation_id == app.organisation_id,
            Application.id != app.id,
            Application.status.in_(ACTIVE_FOR_DUPLICATES),
        )
    )
    return tuple(
        row_id
        for row_id, other in rows
        if " ".join(other.lower().split()) == title and row_id != app.previous_application_id
    )


def screening_findings(ctx: Ctx, app: Application) -> list[dict[str, str | None]]:
    """Run every screening rule against ``app`` as it stands."""
    scheme = get_scheme(ctx.db)
    org = get_organisation(ctx, organisation_id=app.organisation_id)
    facts = ScreeningFacts(
        category=org.category,
        eligible_categories=frozenset(scheme.eligible_categories),
        scheme_start=scheme.start_date,
        scheme_end=scheme.end_date,
        known_gpu_models=frozenset(ctx.db.execute(select(GpuModel.code)).scalars()),
        duplicate_ids=_duplicates(ctx, app),
    )
    return [f.as_dict() for f in screen(app, facts)]


def start_screening(ctx: Ctx, *, application_id: int) -> Application:
    """Secretariat takes a submitted application into screening; the rules run now."""
    app = get_application(ctx, application_id=application_id)
    findings = screening_findings(ctx, app)
    app.screening_findings = json.dumps(findings)
    app.screened_at = ctx.now
    return transition(ctx, app, "screen", extra={"findings": findings})


def return_incomplete(ctx: Ctx, *, application_id: int, note: str = "") -> Application:
    """Send an application back to the applicant with its screening findings."""
    app = get_application(ctx, application_id=application_id)
    return transition(ctx, app, "return", extra={"note": note})


def start_review(ctx: Ctx, *, application_id: int) -> Application:
    """Pass screening: only an application without findings goes to the reviewers."""
    app = get_application(ctx, application_id=application_id)
    if app.status is S.SCREENING:
        findings = json.loads(app.screening_findings or "[]")
        if findings:
            codes = ", ".join(sorted({f["code"] for f in findings}))
            raise Conflict(
                f"application {app.id} has screening findings ({codes}); return it as "
                "incomplete or reject it",
                field="screening_findings",
            )
    return transition(ctx, app, "start_review")


def reopen(ctx: Ctx, *, application_id: int) -> Application:
    app = get_application(ctx, application_id=application_id)
    return transition(ctx, app, "reopen")
