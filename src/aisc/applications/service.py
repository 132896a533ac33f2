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

from typing import Any

from sqlalchemy import func, select

from aisc.access import acting_person, authorize, permit, visible
from aisc.accounts.models import Role
from aisc.accounts.service import (
    get_organisation,
    get_person,
    get_person_by_email,
    require_role,
    view_organisation,
)
from aisc.accounts.vetting import open_lookalikes
from aisc.applications.models import (
    PENDING,
    Application,
    ApplicationStatus,
    Attachment,
    Domain,
    ProjectMember,
    ProjectRole,
)
from aisc.applications.schemas import (
    ApplicationCreate,
    ApplicationUpdate,
    AttachmentIn,
    ComputeRequest,
    Declarations,
    RnDDetails,
)
from aisc.applications.screening import ScreeningFacts, blocking, screen
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
# The matrix action each move belongs to (withdrawing is the PI's, as submitting is).
TRANSITION_ACTIONS = {
    "submit": "application.submit",
    "withdraw": "application.submit",
    "screen": "application.screen",
    "return": "application.screen",
    "start_review": "application.screen",
    "reopen": "application.screen",
    "decide": "decision.make",
    "reject_at_screening": "decision.make",
}


def transition(
    ctx: Ctx,
    app: Application,
    action: str,
    *,
    target: ApplicationStatus | None = None,
    extra: dict[str, Any] | None = None,
) -> Application:
    """Move ``app`` along the state machine and audit it; refuse illegal moves.

    A step of the service that decided the move (which checked the application is in reach):
    here the move's own action is authorised, so no caller can skip it.
    """
    authorize(ctx, TRANSITION_ACTIONS[action])
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
    """Load an application for a step that checked its reach already (see view_application).

    Refuses a principal with no way to ``application.read`` at all.
    """
    authorize(ctx, "application.read")
    app = ctx.db.get(Application, application_id)
    if app is None:
        raise NotFound(f"application {application_id} not found", field="application_id")
    return app


def view_application(ctx: Ctx, *, application_id: int) -> Application:
    """The application, if the principal may see it; otherwise "not found", as if missing."""
    access = authorize(ctx, "application.read")
    return visible(
        access,
        ctx.db.get(Application, application_id),
        f"application {application_id}",
        field="application_id",
        application_id=application_id,
    )


def _acting_on(ctx: Ctx, application_id: int, action: str) -> Application:
    """An application the principal can see and may do ``action`` to."""
    app = view_application(ctx, application_id=application_id)
    permit(ctx, action, application_id=app.id)
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
    access = authorize(ctx, "application.read")
    query = select(Application).order_by(Application.id)
    reach = access.application_ids()
    if reach is not None:
        query = query.where(Application.id.in_(reach))
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
    """A draft application; its author becomes the project's PI."""
    authorize(ctx, "application.create")
    scheme = get_scheme(ctx)
    # Another tenant's organisation is "not found", as a missing one is (no existence oracle).
    view_organisation(ctx, organisation_id=data.organisation_id)
    author = get_person(
        ctx, person_id=acting_person(ctx, data.created_by_id, field="created_by_id")
    )
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
    ctx.db.add(
        ProjectMember(
            application_id=app.id, person_id=author.id, role=ProjectRole.PI, added_at=ctx.now
        )
    )
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
    app = _acting_on(ctx, application_id, "application.edit")
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
    app = _acting_on(ctx, application_id, "application.submit")
    transition(ctx, app, "submit")
    if app.submitted_at is None:
        app.submitted_at = ctx.now
    return app


def withdraw(ctx: Ctx, *, application_id: int, reason: str = "") -> Application:
    app = _acting_on(ctx, application_id, "application.submit")
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
    """Run every screening rule against ``app`` as it stands (a preview reads it too)."""
    authorize(ctx, "application.read")
    scheme = get_scheme(ctx)
    org = get_organisation(ctx, organisation_id=app.organisation_id)
    facts = ScreeningFacts(
        category=org.category,
        eligible_categories=frozenset(scheme.eligible_categories),
        scheme_start=scheme.start_date,
        scheme_end=scheme.end_date,
        known_gpu_models=frozenset(ctx.db.execute(select(GpuModel.code)).scalars()),
        duplicate_ids=_duplicates(ctx, app),
        category_verified=org.category_verified_at is not None,
        resembles=open_lookalikes(ctx, org.id),
        today=ctx.now.date(),
    )
    return [f.as_dict() for f in screen(app, facts)]


def start_screening(ctx: Ctx, *, application_id: int) -> Application:
    """Secretariat takes a submitted application into screening; the rules run now."""
    app = _acting_on(ctx, application_id, "application.screen")
    findings = screening_findings(ctx, app)
    app.screening_findings = findings
    app.screened_at = ctx.now
    return transition(ctx, app, "screen", extra={"findings": findings})


def return_incomplete(ctx: Ctx, *, application_id: int, note: str = "") -> Application:
    """Send an application back to the applicant with its screening findings."""
    app = _acting_on(ctx, application_id, "application.screen")
    return transition(ctx, app, "return", extra={"note": note})


def start_review(ctx: Ctx, *, application_id: int) -> Application:
    """Pass screening: only an application without findings goes to the reviewers."""
    app = _acting_on(ctx, application_id, "application.screen")
    if app.status is S.SCREENING:
        findings = blocking(app.screening_findings or [])
        if findings:
            codes = ", ".join(sorted({str(f["code"]) for f in findings}))
            raise Conflict(
                f"application {app.id} has screening findings ({codes}); return it as "
                "incomplete or reject it",
                field="screening_findings",
            )
    return transition(ctx, app, "start_review")


def reopen(ctx: Ctx, *, application_id: int) -> Application:
    app = _acting_on(ctx, application_id, "application.screen")
    return transition(ctx, app, "reopen")


def list_members(ctx: Ctx, *, application_id: int) -> list[ProjectMember]:
    """The project team: its PI(s) and members."""
    app = view_application(ctx, application_id=application_id)
    return list(
        ctx.db.execute(
            select(ProjectMember)
            .where(ProjectMember.application_id == app.id)
            .order_by(ProjectMember.id)
        ).scalars()
    )


def add_member(
    ctx: Ctx, *, application_id: int, person_id: int, role: ProjectRole = ProjectRole.MEMBER
) -> ProjectMember:
    """Put a person on the project team (the PI or the secretariat does this).

    Members must belong to the applicant organisation: the project is that tenant's.
    """
    app = _acting_on(ctx, application_id, "application.members")
    person = get_person(ctx, person_id=person_id)
    if app.organisation_id not in person.organisation_ids:
        if not authorize(ctx, "person.read").covers(person_id=person.id):
            # Someone of another tenant: "not found", as a missing id is.
            raise NotFound(f"person {person_id} not found", field="person_id")
        raise Conflict(
            f"person {person.id} is not a member of organisation {app.organisation_id}",
            field="person_id",
        )
    taken = ctx.db.execute(
        select(ProjectMember.id).where(
            ProjectMember.application_id == app.id, ProjectMember.person_id == person.id
        )
    ).first()
    if taken:
        raise Conflict(
            f"person {person.id} is already on the team of application {app.id}",
            field="person_id",
        )
    member = ProjectMember(application_id=app.id, person_id=person.id, role=role, added_at=ctx.now)
    ctx.db.add(member)
    ctx.db.flush()
    record(
        ctx,
        action="project.member_add",
        object_type="application",
        object_id=app.id,
        after={"person_id": person.id, "role": role.value},
    )
    return member


def add_member_by_email(ctx: Ctx, *, application_id: int, email: str) -> ProjectMember:
    """Put the person with this e-mail address on the team (the portal's form).

    The same words whether the address is unknown or belongs to another organisation: the
    form is no way to probe for accounts.
    """
    app = _acting_on(ctx, application_id, "application.members")
    unknown = ValidationFailed(
        f"email: no registered person of the applicant organisation has the e-mail "
        f"address {email!r}",
        field="email",
    )
    if not email.strip():
        raise ValidationFailed("email: give the e-mail address of the person", field="email")
    try:
        person = get_person_by_email(ctx, email=email)
    except NotFound:
        raise unknown from None
    if app.organisation_id not in person.organisation_ids:
        raise unknown
    return add_member(ctx, application_id=app.id, person_id=person.id)


def remove_member(ctx: Ctx, *, application_id: int, person_id: int) -> None:
    """Take a person off the team; the last PI cannot be removed."""
    app = _acting_on(ctx, application_id, "application.members")
    team = {m.person_id: m for m in list_members(ctx, application_id=app.id)}
    member = team.get(person_id)
    if member is None:
        raise NotFound(
            f"person {person_id} is not on the team of application {app.id}", field="person_id"
        )
    pis = [m for m in team.values() if m.role is ProjectRole.PI]
    if member.role is ProjectRole.PI and len(pis) == 1:
        raise Conflict(
            f"person {person_id} is the only PI of application {app.id}; add another PI first",
            field="person_id",
        )
    ctx.db.delete(member)
    ctx.db.flush()
    record(
        ctx,
        action="project.member_remove",
        object_type="application",
        object_id=app.id,
        before={"person_id": person_id, "role": member.role.value},
    )
