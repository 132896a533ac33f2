"""The secretariat's hold on who an organisation is: its category and look-alike names.

- The category decides eligibility (screening's ``category_ineligible``), so only the
  secretariat sets or changes it (``set_category``, matrix action ``organisation.vet``). One
  declared by an applicant is unverified until then and screening reports it. Every change
  re-screens the organisation's open applications and audits what their findings became.
- A name whose skeleton (``aisc.accounts.names``) equals another organisation's is flagged
  when it is registered or renamed. Open flags are listed for the secretariat, shown as a
  screening finding on the organisation's applications, and cleared by the secretariat.
"""

from __future__ import annotations

from sqlalchemy import select

from aisc.access import authorize
from aisc.accounts.models import Organisation, OrganisationFlag, OrgCategory
from aisc.accounts.service import get_organisation
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, NotFound


def _flag_lookalikes(ctx: Ctx, org: Organisation) -> list[OrganisationFlag]:
    """Flag ``org`` for every other organisation whose name looks like its name."""
    others = ctx.db.execute(
        select(Organisation)
        .where(Organisation.name_skeleton == org.name_skeleton, Organisation.id != org.id)
        .order_by(Organisation.id)
    ).scalars()
    already = set(
        ctx.db.execute(
            select(OrganisationFlag.resembles_id).where(
                OrganisationFlag.organisation_id == org.id, OrganisationFlag.cleared_at.is_(None)
            )
        ).scalars()
    )
    flags = []
    for other in others:
        if other.id in already:
            continue
        flag = OrganisationFlag(
            organisation_id=org.id,
            resembles_id=other.id,
            reason=f"the name {org.name!r} looks like {other.name!r} (organisation {other.id})",
            created_at=ctx.now,
        )
        ctx.db.add(flag)
        ctx.db.flush()
        record(
            ctx,
            action="organisation.flag",
            object_type="organisation",
            object_id=org.id,
            after=row_dict(flag),
        )
        flags.append(flag)
    return flags


def open_lookalikes(ctx: Ctx, organisation_id: int) -> tuple[str, ...]:
    """The names of the organisations this one's open flags say it looks like (for screening).

    A step of screening, so it needs what screening (and its preview) needs: the application.
    """
    authorize(ctx, "application.read")
    return tuple(
        ctx.db.execute(
            select(Organisation.name)
            .join(OrganisationFlag, OrganisationFlag.resembles_id == Organisation.id)
            .where(
                OrganisationFlag.organisation_id == organisation_id,
                OrganisationFlag.cleared_at.is_(None),
            )
            .order_by(OrganisationFlag.id)
        ).scalars()
    )


def list_flags(
    ctx: Ctx, *, include_cleared: bool = False, limit: int = 100, offset: int = 0
) -> list[OrganisationFlag]:
    """Look-alike flags, open ones only unless told otherwise (the secretariat, the auditor)."""
    authorize(ctx, "organisation_flag.read")
    query = select(OrganisationFlag).order_by(OrganisationFlag.id)
    if not include_cleared:
        query = query.where(OrganisationFlag.cleared_at.is_(None))
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def clear_flag(ctx: Ctx, *, flag_id: int, note: str = "") -> OrganisationFlag:
    """The secretariat has looked: the names are different organisations. Re-screens."""
    authorize(ctx, "organisation.vet")
    flag = ctx.db.get(OrganisationFlag, flag_id)
    if flag is None:
        raise NotFound(f"flag {flag_id} not found", field="flag_id")
    if flag.cleared_at is not None:
        raise Conflict(f"flag {flag_id} is already cleared", field="flag_id")
    before = row_dict(flag)
    flag.cleared_at, flag.cleared_by, flag.note = ctx.now, ctx.actor, note
    ctx.db.flush()
    record(
        ctx,
        action="organisation.flag_clear",
        object_type="organisation",
        object_id=flag.organisation_id,
        before=before,
        after=row_dict(flag),
    )
    _rescreen_open_applications(ctx, organisation_id=flag.organisation_id, because="flag cleared")
    return flag


def set_category(
    ctx: Ctx, *, organisation_id: int, category: OrgCategory, note: str = ""
) -> Organisation:
    """Set (or confirm) an organisation's category: the secretariat's act. Re-screens."""
    authorize(ctx, "organisation.vet")
    org = get_organisation(ctx, organisation_id=organisation_id)
    before = {"category": org.category, "category_verified_at": org.category_verified_at}
    org.category = category
    org.category_verified_at, org.category_verified_by = ctx.now, ctx.actor
    ctx.db.flush()
    record(
        ctx,
        action="organisation.category",
        object_type="organisation",
        object_id=org.id,
        before=before,
        after={
            "category": org.category,
            "category_verified_at": org.category_verified_at,
            "note": note,
        },
    )
    _rescreen_open_applications(
        ctx, organisation_id=org.id, because=f"category set to {category.value}"
    )
    return org


def _rescreen_open_applications(ctx: Ctx, *, organisation_id: int, because: str) -> list[int]:
    """Run screening again on the organisation's screened, undecided applications.

    Their findings are replaced (an ``application.rescreen`` event each, before and after);
    their states do not move: the secretariat decides what the new findings mean.
    """
    from aisc.applications.models import PENDING, Application
    from aisc.applications.service import screening_findings

    changed = []
    for app in ctx.db.execute(
        select(Application)
        .where(
            Application.organisation_id == organisation_id,
            Application.status.in_(PENDING),
            Application.screened_at.is_not(None),
        )
        .order_by(Application.id)
    ).scalars():
        before = list(app.screening_findings or [])
        after = screening_findings(ctx, app)
        app.screening_findings = after
        app.screened_at = ctx.now
        ctx.db.flush()
        record(
            ctx,
            action="application.rescreen",
            object_type="application",
            object_id=app.id,
            before={"findings": before},
            after={"findings": after, "because": because},
        )
        changed.append(app.id)
    return changed
