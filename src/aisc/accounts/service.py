"""Organisations and people.

Granting a staff role (``aisc.access.STAFF_ROLES``) through the API or the portal makes a
pending ``RoleRequest``; the role is granted only when a different staff member approves it
(the two-person rule). The command line acts as the system and grants directly: whoever runs
it holds the database credentials, and a new centre needs its first staff somehow.
Deactivating a person ends their sessions and tokens for good (a reactivation revives none).
"""

from __future__ import annotations

from sqlalchemy import func, select

from aisc.access import STAFF_ROLES, AccessDenied, authorize, check, permit, visible
from aisc.accounts.models import (
    Membership,
    Organisation,
    Person,
    PersonRole,
    Role,
    RoleRequest,
    RoleRequestStatus,
)
from aisc.accounts.names import name_key, skeleton
from aisc.accounts.schemas import (
    OrganisationCreate,
    OrganisationUpdate,
    PersonCreate,
    PersonUpdate,
)
from aisc.accounts.sessions import end_everything
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, Forbidden, InvalidTransition, NotFound


def get_organisation(ctx: Ctx, *, organisation_id: int) -> Organisation:
    """An organisation a service step needs (screening, vetting, a page already in reach).

    Refuses a principal with no way to ``organisation.read`` at all; which organisation is
    the caller's business (``view_organisation`` checks that it is in reach).
    """
    authorize(ctx, "organisation.read")
    org = ctx.db.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(f"organisation {organisation_id} not found", field="organisation_id")
    return org


def view_organisation(ctx: Ctx, *, organisation_id: int) -> Organisation:
    """The organisation, if the principal may see it (staff, or its members)."""
    access = authorize(ctx, "organisation.read")
    org = ctx.db.get(Organisation, organisation_id)
    return visible(
        access,
        org,
        f"organisation {organisation_id}",
        field="organisation_id",
        organisation_id=organisation_id,
    )


def list_organisations(ctx: Ctx, *, limit: int = 100, offset: int = 0) -> list[Organisation]:
    access = authorize(ctx, "organisation.read")
    query = select(Organisation).order_by(Organisation.id).limit(limit).offset(offset)
    if not access.everything:
        query = query.where(Organisation.id.in_(sorted(ctx.principal.organisation_ids)))
    return list(ctx.db.execute(query).scalars())


def _name_free(ctx: Ctx, name: str, exclude_id: int | None = None) -> None:
    """Refuse a name that is another organisation's once normalised and case-folded.

    The stored key is compared, never the database's ``lower()`` (SQLite's folds ASCII only).
    """
    query = (
        select(func.count())
        .select_from(Organisation)
        .where(Organisation.name_key == name_key(name))
    )
    if exclude_id is not None:
        query = query.where(Organisation.id != exclude_id)
    if ctx.db.execute(query).scalar_one():
        raise Conflict(f"an organisation named {name!r} already exists", field="name")


def _may_vet(ctx: Ctx) -> bool:
    """Whether the principal may set categories (the secretariat, or the system)."""
    try:
        check(ctx.principal, "organisation.vet")
    except AccessDenied:
        return False
    return True


def create_organisation(ctx: Ctx, *, data: OrganisationCreate) -> Organisation:
    """A new organisation; an applicant who registers one becomes its member.

    A category declared by an applicant stays unverified until the secretariat confirms it.
    A name that looks like another organisation's is flagged for the secretariat.
    """
    from aisc.accounts import vetting

    authorize(ctx, "organisation.create")
    _name_free(ctx, data.name)
    org = Organisation(
        **data.model_dump(),
        name_key=name_key(data.name),
        name_skeleton=skeleton(data.name),
        created_at=ctx.now,
    )
    if _may_vet(ctx):
        org.category_verified_at, org.category_verified_by = ctx.now, ctx.actor
    ctx.db.add(org)
    ctx.db.flush()
    if ctx.principal.person_id is not None:
        ctx.db.add(Membership(person_id=ctx.principal.person_id, organisation_id=org.id))
        ctx.db.flush()
    record(
        ctx,
        action="organisation.create",
        object_type="organisation",
        object_id=org.id,
        after=row_dict(org),
    )
    vetting._flag_lookalikes(ctx, org)
    return org


def update_organisation(
    ctx: Ctx, *, organisation_id: int, data: OrganisationUpdate
) -> Organisation:
    """Change an organisation's profile (its members or the secretariat).

    The category only the secretariat sets (``aisc.accounts.vetting.set_category``, which
    re-screens the organisation's open applications): a member who sends a different one is
    refused and nothing changes; sending the current one is no change.
    """
    from aisc.accounts import vetting

    org = view_organisation(ctx, organisation_id=organisation_id)
    permit(ctx, "organisation.update", organisation_id=org.id)
    changes = data.model_dump(exclude_unset=True)
    # name, category and description cannot be blanked: a null there means "leave unchanged".
    for key in ("name", "category", "description"):
        if key in changes and changes[key] is None:
            del changes[key]
    category = changes.pop("category", org.category)
    if category != org.category and not _may_vet(ctx):
        raise Forbidden(
            "category: only the secretariat sets or changes an organisation's category "
            "(it decides eligibility); ask the secretariat",
            field="category",
        )
    renamed = "name" in changes and name_key(changes["name"]) != org.name_key
    if "name" in changes:
        _name_free(ctx, changes["name"], exclude_id=org.id)
        changes["name_key"] = name_key(changes["name"])
        changes["name_skeleton"] = skeleton(changes["name"])
    before = row_dict(org)
    for key, value in changes.items():
        setattr(org, key, value)
    ctx.db.flush()
    record(
        ctx,
        action="organisation.update",
        object_type="organisation",
        object_id=org.id,
        before=before,
        after=row_dict(org),
    )
    if renamed:
        vetting._flag_lookalikes(ctx, org)
    if category != org.category:
        vetting.set_category(ctx, organisation_id=org.id, category=category)
    return org


def get_person(ctx: Ctx, *, person_id: int) -> Person:
    """A person a service step needs (the author, the reviewer, the decider).

    Refuses a principal with no way to ``person.read`` at all; which person is the caller's
    business (``view_person`` checks that they are in reach).
    """
    authorize(ctx, "person.read")
    person = ctx.db.get(Person, person_id)
    if person is None:
        raise NotFound(f"person {person_id} not found", field="person_id")
    return person


def view_person(ctx: Ctx, *, person_id: int) -> Person:
    """The person, if the principal may see them (staff, or themself)."""
    access = authorize(ctx, "person.read")
    person = ctx.db.get(Person, person_id)
    return visible(access, person, f"person {person_id}", field="person_id", person_id=person_id)


def get_person_by_email(ctx: Ctx, *, email: str) -> Person:
    """A person by e-mail, for a step such as adding a project member (as ``get_person``)."""
    authorize(ctx, "person.read")
    person = ctx.db.execute(
        select(Person).where(Person.email == email.strip().lower())
    ).scalar_one_or_none()
    if person is None:
        raise NotFound(f"no person with e-mail {email!r}", field="email")
    return person


def list_people(
    ctx: Ctx, *, role: Role | None = None, limit: int = 100, offset: int = 0
) -> list[Person]:
    access = authorize(ctx, "person.read")
    query = select(Person).order_by(Person.id)
    if not access.everything:
        query = query.where(Person.id == ctx.principal.person_id)
    if role is not None:
        query = query.where(Person.roles.any(PersonRole.role == role))
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def list_reviewers(ctx: Ctx) -> list[Person]:
    """Active people with the reviewer role, by name: whom the secretariat can assign."""
    access = authorize(ctx, "person.read")
    query = (
        select(Person)
        .where(Person.is_active.is_(True), Person.roles.any(PersonRole.role == Role.REVIEWER))
        .order_by(Person.name, Person.id)
    )
    if not access.everything:
        query = query.where(Person.id == ctx.principal.person_id)
    return list(ctx.db.execute(query).scalars())


def create_person(ctx: Ctx, *, data: PersonCreate) -> Person:
    authorize(ctx, "person.manage")
    exists = ctx.db.execute(select(Person.id).where(Person.email == data.email)).first()
    if exists:
        raise Conflict(f"a person with e-mail {data.email!r} already exists", field="email")
    for org_id in data.organisation_ids:
        get_organisation(ctx, organisation_id=org_id)
    if data.username is not None:
        _username_free(ctx, data.username)
    person = Person(email=data.email, name=data.name, username=data.username, created_at=ctx.now)
    granted, asked = _split_grant(ctx, set(data.roles), held=set())
    person.roles = [PersonRole(role=r) for r in sorted(granted)]
    person.memberships = [Membership(organisation_id=o) for o in sorted(set(data.organisation_ids))]
    ctx.db.add(person)
    ctx.db.flush()
    _request_roles(ctx, person, asked)
    record(
        ctx,
        action="person.create",
        object_type="person",
        object_id=person.id,
        after={
            **row_dict(person),
            "roles": sorted(person.role_set),
            "organisation_ids": person.organisation_ids,
        },
    )
    return person


def update_person(ctx: Ctx, *, person_id: int, data: PersonUpdate) -> Person:
    """Rename, re-role, re-home or (de)activate a person.

    A deactivated person's sessions and tokens end at once (and stay ended if they are
    reactivated). New staff roles asked by a signed-in person wait for approval.
    """
    authorize(ctx, "person.manage")
    person = get_person(ctx, person_id=person_id)
    if person.id == ctx.principal.person_id and (
        data.is_active is False or (data.roles is not None and set(data.roles) != person.role_set)
    ):
        raise Conflict("you cannot change your own roles or deactivate yourself", field="roles")
    before = _person_snapshot(person)
    if data.name is not None:
        person.name = data.name
    if data.username is not None and data.username != person.username:
        _username_free(ctx, data.username)
        person.username = data.username
    # Change only what differs: re-inserting a kept role would collide with its own row.
    asked: set[Role] = set()
    if data.roles is not None:
        wanted, asked = _split_grant(ctx, set(data.roles), held=person.role_set)
        for role_row in [r for r in person.roles if r.role not in wanted]:
            person.roles.remove(role_row)
        person.roles.extend(PersonRole(role=r) for r in sorted(wanted - person.role_set))
    if data.organisation_ids is not None:
        for org_id in data.organisation_ids:
            get_organisation(ctx, organisation_id=org_id)
        homes = set(data.organisation_ids)
        for home_row in [m for m in person.memberships if m.organisation_id not in homes]:
            person.memberships.remove(home_row)
        person.memberships.extend(
            Membership(organisation_id=o) for o in sorted(homes - set(person.organisation_ids))
        )
    deactivated = data.is_active is False and person.is_active
    if data.is_active is not None:
        person.is_active = data.is_active
    ctx.db.flush()
    _request_roles(ctx, person, asked)
    ctx.db.refresh(person)
    record(
        ctx,
        action="person.update",
        object_type="person",
        object_id=person.id,
        before=before,
        after=_person_snapshot(person),
    )
    if deactivated:
        end_everything(ctx, person_id=person.id, reason="deactivated")
    return person


def _split_grant(ctx: Ctx, wanted: set[Role], *, held: set[Role]) -> tuple[set[Role], set[Role]]:
    """(roles to hold now, staff roles to ask for): a signed-in person cannot grant staff
    roles alone; the system (the command line) can."""
    if ctx.principal.person_id is None:
        return wanted, set()
    asked = (wanted - held) & STAFF_ROLES
    return wanted - asked, asked


def _request_roles(ctx: Ctx, person: Person, roles: set[Role]) -> None:
    pending = {r.role for r in person.pending_role_requests}
    for role in sorted(roles - pending):
        request = RoleRequest(
            person_id=person.id,
            role=role,
            status=RoleRequestStatus.PENDING,
            requested_by_id=ctx.principal.person_id,
            requested_at=ctx.now,
        )
        ctx.db.add(request)
        ctx.db.flush()
        record(
            ctx,
            action="role.request",
            object_type="role_request",
            object_id=request.id,
            after={"person_id": person.id, "role": role.value},
        )
    if roles - pending:
        ctx.db.expire(person, ["pending_role_requests"])


def list_role_requests(
    ctx: Ctx, *, status: RoleRequestStatus | None = None, limit: int = 100, offset: int = 0
) -> list[RoleRequest]:
    authorize(ctx, "role_request.read")
    query = select(RoleRequest).order_by(RoleRequest.id.desc())
    if status is not None:
        query = query.where(RoleRequest.status == status)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def _pending_request(ctx: Ctx, request_id: int) -> RoleRequest:
    authorize(ctx, "role_request.decide")
    request = ctx.db.get(RoleRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFound(f"role request {request_id} not found", field="request_id")
    if request.status != RoleRequestStatus.PENDING:
        raise InvalidTransition(
            f"role request {request_id} is already {request.status.value}", field="request_id"
        )
    return request


def approve_role_request(ctx: Ctx, *, request_id: int, note: str = "") -> RoleRequest:
    """A second staff member grants the asked role (never the one who asked, nor its holder)."""
    request = _pending_request(ctx, request_id)
    me = ctx.principal.person_id
    if me is not None and me == request.requested_by_id:
        raise AccessDenied(
            "request_id: a role you asked for needs another staff member's approval",
            field="request_id",
        )
    if me is not None and me == request.person_id:
        raise AccessDenied("request_id: nobody approves their own role", field="request_id")
    person = get_person(ctx, person_id=request.person_id)
    before = _person_snapshot(person)
    if request.role not in person.role_set:
        person.roles.append(PersonRole(role=request.role))
    request.status, request.decided_by_id, request.decided_at = (
        RoleRequestStatus.APPROVED,
        me,
        ctx.now,
    )
    request.note = note
    ctx.db.flush()
    ctx.db.refresh(person)
    record(
        ctx,
        action="role.approve",
        object_type="role_request",
        object_id=request.id,
        before=before,
        after={**_person_snapshot(person), "person_id": person.id, "role": request.role.value},
    )
    return request


def reject_role_request(ctx: Ctx, *, request_id: int, note: str = "") -> RoleRequest:
    """Refuse an asked role (whoever asked may also withdraw it this way)."""
    request = _pending_request(ctx, request_id)
    request.status, request.decided_by_id, request.decided_at = (
        RoleRequestStatus.REJECTED,
        ctx.principal.person_id,
        ctx.now,
    )
    request.note = note
    ctx.db.flush()
    record(
        ctx,
        action="role.reject",
        object_type="role_request",
        object_id=request.id,
        after={"person_id": request.person_id, "role": request.role.value, "note": note},
    )
    return request


def _username_free(ctx: Ctx, username: str) -> None:
    taken = ctx.db.execute(select(Person.id).where(Person.username == username)).first()
    if taken:
        raise Conflict(f"the cluster user name {username!r} is taken", field="username")


def _person_snapshot(person: Person) -> dict[str, object]:
    return {
        "name": person.name,
        "username": person.username,
        "roles": sorted(person.role_set),
        "organisation_ids": person.organisation_ids,
        "is_active": person.is_active,
    }


def require_role(person: Person, role: Role, *, field: str) -> None:
    """Refuse when ``person`` does not hold ``role``."""
    if role not in person.role_set:
        raise Forbidden(f"person {person.id} does not hold the {role.value} role", field=field)
