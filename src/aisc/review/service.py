"""Reviews and the committee's decision.

Decisions (the committee's outcome, the award and its commitment) are in ``decisions``.

Rules kept here:
- only people holding the reviewer role are assigned, never a member of the applicant
  organisation;
- a reviewer declares a conflict (or none) before scoring or seeing anyone's scores; a
  conflicted reviewer can do neither;
- a decision on a reviewed application needs the scheme's quorum of completed reviews;
- an approval prices the granted compute at the price list in force, caps the subsidy at
  rate x list value (rate <= default, or <= the exceptional maximum with a written
  justification) and commits the cap in the ledger in the same transaction.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from aisc.access import AccessDenied, acting_person, authorize, permit
from aisc.accounts.models import Role
from aisc.accounts.service import get_person, require_role
from aisc.applications.models import Application, ApplicationStatus
from aisc.applications.service import view_application
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from aisc.review.models import ReviewAssignment, ReviewScore
from aisc.review.schemas import (
    DeclarationIn,
    ReviewRead,
    ReviewSummary,
    ScoreRead,
    ScoresIn,
)
from aisc.scheme.service import get_scheme

S = ApplicationStatus
TWO_PLACES = Decimal("0.01")


# --- reviews -----------------------------------------------------------------------------


def _assignment(ctx: Ctx, application_id: int, reviewer_id: int) -> ReviewAssignment:
    assignment = ctx.db.execute(
        select(ReviewAssignment).where(
            ReviewAssignment.application_id == application_id,
            ReviewAssignment.reviewer_id == reviewer_id,
        )
    ).scalar_one_or_none()
    if assignment is None:
        raise NotFound(
            f"person {reviewer_id} is not assigned to review application {application_id}",
            field="reviewer_id",
        )
    return assignment


def _as_reviewer(ctx: Ctx, application_id: int, reviewer_id: int) -> Application:
    """The application, when the principal is the assigned reviewer acting for themself."""
    app = view_application(ctx, application_id=application_id)
    permit(ctx, "review.write", application_id=app.id)
    if acting_person(ctx, reviewer_id, field="reviewer_id") != reviewer_id:
        raise AccessDenied("reviewer_id: a reviewer acts only for themself", field="reviewer_id")
    return app


def assign_reviewer(ctx: Ctx, *, application_id: int, reviewer_id: int) -> ReviewAssignment:
    authorize(ctx, "review.assign")
    app = view_application(ctx, application_id=application_id)
    if app.status not in (S.UNDER_REVIEW, S.DEFERRED):
        raise InvalidTransition(
            f"application {app.id} is {app.status.value}; reviewers are assigned once it is "
            "under review",
            field="status",
        )
    reviewer = get_person(ctx, person_id=reviewer_id)
    require_role(reviewer, Role.REVIEWER, field="reviewer_id")
    if app.organisation_id in reviewer.organisation_ids:
        raise Conflict(
            f"person {reviewer.id} belongs to the applicant organisation and cannot review it",
            field="reviewer_id",
        )
    exists = ctx.db.execute(
        select(ReviewAssignment.id).where(
            ReviewAssignment.application_id == app.id,
            ReviewAssignment.reviewer_id == reviewer.id,
        )
    ).first()
    if exists:
        raise Conflict(
            f"person {reviewer.id} is already assigned to application {app.id}", field="reviewer_id"
        )
    assignment = ReviewAssignment(
        application_id=app.id, reviewer_id=reviewer.id, assigned_at=ctx.now
    )
    ctx.db.add(assignment)
    ctx.db.flush()
    record(
        ctx,
        action="review.assign",
        object_type="review",
        object_id=assignment.id,
        after=row_dict(assignment),
    )
    return assignment


def declare(
    ctx: Ctx, *, application_id: int, reviewer_id: int, data: DeclarationIn
) -> ReviewAssignment:
    """Declare a conflict of interest, or none. A declared conflict cannot be withdrawn."""
    app = _as_reviewer(ctx, application_id, reviewer_id)
    assignment = _assignment(ctx, application_id, reviewer_id)
    if app.status not in (S.UNDER_REVIEW, S.DEFERRED):
        raise InvalidTransition(
            f"application {app.id} is {app.status.value}; reviews are closed", field="status"
        )
    if assignment.conflict is True:
        raise Conflict("a declared conflict of interest cannot be withdrawn", field="conflict")
    if assignment.conflict is False and not data.conflict:
        raise Conflict("no conflict has already been declared", field="conflict")
    before = row_dict(assignment)
    assignment.conflict = data.conflict
    assignment.conflict_note = data.note
    assignment.declared_at = ctx.now
    if data.conflict:
        # Scores given before the conflict came to light no longer count.
        assignment.scores.clear()
        assignment.completed_at = None
    ctx.db.flush()
    record(
        ctx,
        action="review.declare",
        object_type="review",
        object_id=assignment.id,
        before=before,
        after=row_dict(assignment),
    )
    return assignment


def submit_scores(
    ctx: Ctx, *, application_id: int, reviewer_id: int, data: ScoresIn
) -> ReviewAssignment:
    """Score every criterion of the scheme (0-10); re-scoring replaces earlier scores."""
    app = _as_reviewer(ctx, application_id, reviewer_id)
    assignment = _assignment(ctx, application_id, reviewer_id)
    if app.status is not S.UNDER_REVIEW:
        raise InvalidTransition(
            f"application {app.id} is {app.status.value}; it is not open for scoring",
            field="status",
        )
    if assignment.conflict is None:
        raise Conflict("declare a conflict of interest (or none) before scoring", field="conflict")
    if assignment.conflict:
        raise Forbidden(
            "a reviewer with a declared conflict cannot score this application", field="reviewer_id"
        )
    scheme = get_scheme(ctx)
    codes = [c.code for c in scheme.criteria]
    unknown = sorted(set(data.scores) - set(codes))
    if unknown:
        raise ValidationFailed(
            f"scores: unknown criterion {unknown[0]!r}", field=f"scores.{unknown[0]}"
        )
    missing = [code for code in codes if code not in data.scores]
    if missing:
        raise ValidationFailed(
            f"scores: criterion {missing[0]!r} is not scored", field=f"scores.{missing[0]}"
        )
    before = _review_snapshot(assignment)
    assignment.scores.clear()
    ctx.db.flush()
    for criterion in scheme.criteria:
        given = data.scores[criterion.code]
        assignment.scores.append(
            ReviewScore(
                criterion_code=criterion.code,
                weight=criterion.weight,
                score=given.score,
                comment=given.comment,
            )
        )
    assignment.comment = data.comment
    assignment.completed_at = ctx.now
    ctx.db.flush()
    record(
        ctx,
        action="review.score",
        object_type="review",
        object_id=assignment.id,
        before=before,
        after=_review_snapshot(assignment),
    )
    return assignment


def _review_snapshot(assignment: ReviewAssignment) -> dict[str, object]:
    return {
        "completed_at": assignment.completed_at,
        "comment": assignment.comment,
        "scores": {s.criterion_code: [s.score, s.weight] for s in assignment.scores},
    }


def weighted_total(assignment: ReviewAssignment) -> Decimal | None:
    """Weighted score on a 0-100 scale: sum(score x weight) / 10."""
    if assignment.completed_at is None or not assignment.scores:
        return None
    points = sum(s.score * s.weight for s in assignment.scores)
    weights = sum(s.weight for s in assignment.scores)
    return (Decimal(points) * 10 / weights).quantize(TWO_PLACES)


def read_review(assignment: ReviewAssignment) -> ReviewRead:
    return ReviewRead(
        id=assignment.id,
        application_id=assignment.application_id,
        reviewer_id=assignment.reviewer_id,
        assigned_at=assignment.assigned_at,
        conflict=assignment.conflict,
        conflict_note=assignment.conflict_note,
        declared_at=assignment.declared_at,
        completed_at=assignment.completed_at,
        comment=assignment.comment,
        scores=[ScoreRead.model_validate(s) for s in assignment.scores],
        weighted_total=weighted_total(assignment),
    )


def assignments_of(ctx: Ctx, application_id: int) -> list[ReviewAssignment]:
    """The reviews of an application, for a summary or a decision that checked its reach."""
    authorize(ctx, "review.read")
    return list(
        ctx.db.execute(
            select(ReviewAssignment)
            .where(ReviewAssignment.application_id == application_id)
            .order_by(ReviewAssignment.id)
        ).scalars()
    )


def completed_reviews(assignments: list[ReviewAssignment]) -> list[ReviewAssignment]:
    return [a for a in assignments if a.conflict is False and a.completed_at is not None]


def review_summary(ctx: Ctx, *, application_id: int, viewer_id: int | None) -> ReviewSummary:
    """All reviews of an application, as the viewer may see them.

    The viewer is the signed-in person (the system names one). The secretariat and the
    auditor see everything. A reviewer sees the reviews only after declaring no conflict on
    this application; a conflicted or undeclared reviewer sees nothing.
    """
    authorize(ctx, "review.read")
    app = view_application(ctx, application_id=application_id)
    viewer = get_person(ctx, person_id=acting_person(ctx, viewer_id, field="viewer_id"))
    assignments = assignments_of(ctx, app.id)
    if not viewer.role_set & {Role.SECRETARIAT, Role.AUDITOR}:
        own = next((a for a in assignments if a.reviewer_id == viewer.id), None)
        if own is None:
            raise AccessDenied(
                "only the secretariat, the auditor and assigned reviewers may see these reviews",
                field="viewer_id",
            )
        if own.conflict is None:
            raise AccessDenied(
                "declare a conflict of interest (or none) before seeing reviews", field="viewer_id"
            )
        if own.conflict:
            raise AccessDenied(
                "a reviewer with a declared conflict may not see the reviews", field="viewer_id"
            )
    done = completed_reviews(assignments)
    totals = [weighted_total(a) for a in done]
    mean = (
        (sum((t for t in totals if t is not None), Decimal(0)) / len(totals)).quantize(TWO_PLACES)
        if totals
        else None
    )
    return ReviewSummary(
        application_id=app.id,
        quorum=get_scheme(ctx).review_quorum,
        completed_reviews=len(done),
        weighted_total=mean,
        reviews=[read_review(a) for a in assignments],
    )


def list_assignments_for(ctx: Ctx, *, reviewer_id: int) -> list[ReviewRead]:
    """A reviewer's queue (their own; the secretariat and auditor see anyone's).

    Other reviewers' scores are not part of it.
    """
    access = authorize(ctx, "review.read")
    if not access.everything and reviewer_id != ctx.principal.person_id:
        raise AccessDenied("a reviewer sees only their own queue", field="reviewer_id")
    get_person(ctx, person_id=reviewer_id)
    rows = ctx.db.execute(
        select(ReviewAssignment)
        .where(ReviewAssignment.reviewer_id == reviewer_id)
        .order_by(ReviewAssignment.id)
    ).scalars()
    return [read_review(a) for a in rows]
