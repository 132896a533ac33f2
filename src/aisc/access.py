"""Who may do what: the principal, the one permission matrix, and tenant scoping.

Every service action that reads or changes something asks this module first:

- ``authorize(ctx, action)`` checks the *kind* of access: the principal's roles against
  ``MATRIX[action]``. It raises ``Unauthenticated`` for anonymous callers of non-public actions
  and ``AccessDenied`` for roles the matrix does not name. It returns an ``Access`` that says
  whether the principal sees everything the action covers or only objects it is related to
  (a project it is a member of, an application it reviews, its own organisation or person).
- ``Access.covers(...)`` checks one object; services turn a miss into "not found", worded
  exactly like a missing id, so that another tenant's objects are never confirmed to exist.
- ``Access.application_ids()`` is the SQL filter lists use, so lists, counts and searches
  never include another tenant's rows.

The API checks the same matrix at the route (``aisc.http.requires``) so that a refusal comes
before any input is read; the services check again, which is what protects every other caller
(the portal, the CLI acting for a person). The CLI, the scheduler loop and the demo act as the
``SYSTEM`` principal: whoever can run them already holds the database credentials.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, false, select

from aisc.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed

if TYPE_CHECKING:
    from aisc.context import Ctx


class Role(enum.StrEnum):
    """A person's roles (``aisc.accounts.models`` stores them: the column's values are these).

    Defined here, beneath the domains, because the matrix below is written in them.
    """

    APPLICANT = "applicant"
    REVIEWER = "reviewer"
    SECRETARIAT = "secretariat"
    OPERATOR = "operator"
    FINANCE = "finance"
    AUDITOR = "auditor"


class AccessDenied(Forbidden):
    """The principal's roles do not allow this action (or a token lacks the scope)."""

    code = "access_denied"


class Audience(enum.Enum):
    """Grants that depend on the principal's relation to the object, not on a role.

    A plain enum, not a string one: "reviewer" the relation must never equal "reviewer" the role.
    """

    ANYONE = "anyone"  # anonymous callers too: public figures and list prices
    SIGNED_IN = "signed_in"  # any authenticated person
    MEMBER = "member"  # member (or PI) of the project the object belongs to
    PI = "pi"  # principal investigator of the project
    ORG_MEMBER = "org_member"  # member of the organisation
    REVIEWER = "reviewer"  # reviewer assigned to the application
    SELF = "self"  # the person themself


Grant = Role | Audience
T = TypeVar("T")
A = Audience
R = Role
_STAFF_READ = (R.SECRETARIAT, R.OPERATOR, R.FINANCE, R.AUDITOR)
# Roles whose grant through the API or the portal needs a second staff member's approval: each
# holds actions over every tenant. The reviewer is not among them: the role alone reaches
# nothing; a reviewer sees only what the secretariat assigns (and declares conflicts on).
STAFF_ROLES = frozenset({R.SECRETARIAT, R.OPERATOR, R.FINANCE, R.AUDITOR})

# The permission matrix: action -> who holds it. The auditor reads everything and changes
# nothing (tested); every API route names exactly one action (tested).
_GRANTS: dict[str, tuple[Grant, ...]] = {
    "scheme.read": (A.ANYONE,),
    "scheme.manage": (R.SECRETARIAT,),
    "session.start": (A.ANYONE,),
    "session.read": (A.SIGNED_IN,),
    "session.manage": (A.SIGNED_IN,),
    # Signing out: with no session there is nothing to end, so nobody is refused.
    "session.end": (A.ANYONE,),
    "organisation.read": (*_STAFF_READ, A.ORG_MEMBER),
    "organisation.create": (R.APPLICANT, R.SECRETARIAT),
    "organisation.update": (R.SECRETARIAT, A.ORG_MEMBER),
    # The category (which decides eligibility) and look-alike flags: the secretariat's alone.
    "organisation.vet": (R.SECRETARIAT,),
    "organisation_flag.read": (R.SECRETARIAT, R.AUDITOR),
    "person.read": (*_STAFF_READ, A.SELF),
    "person.manage": (R.SECRETARIAT, R.OPERATOR),
    "person.signout": (R.SECRETARIAT, R.OPERATOR),
    "password.change": (A.SIGNED_IN,),
    "password.reset": (A.ANYONE,),
    "role_request.read": (R.SECRETARIAT, R.OPERATOR, R.AUDITOR),
    "role_request.decide": (R.SECRETARIAT, R.OPERATOR),
    "cluster.read": (A.SIGNED_IN,),
    "cluster.manage": (R.OPERATOR,),
    "cluster.provision": (R.OPERATOR,),
    "metrics.read": (R.OPERATOR, R.AUDITOR),
    "price.read": (A.ANYONE,),
    "price.manage": (R.FINANCE,),
    "application.read": (R.SECRETARIAT, R.FINANCE, R.AUDITOR, A.MEMBER, A.REVIEWER),
    "application.create": (R.APPLICANT,),
    "application.edit": (A.MEMBER,),
    "application.submit": (A.PI,),
    "application.members": (R.SECRETARIAT, A.PI),
    "application.screen": (R.SECRETARIAT,),
    "review.assign": (R.SECRETARIAT,),
    "review.write": (A.REVIEWER,),
    "review.read": (R.SECRETARIAT, R.AUDITOR, A.REVIEWER),
    # A reviewer's own queue (what is assigned to them): the role, before any assignment.
    "review.queue": (R.REVIEWER,),
    # The secretariat's desk: every application in the pipeline with the fund beside it.
    "casework.read": (R.SECRETARIAT, R.AUDITOR),
    "decision.make": (R.SECRETARIAT,),
    "decision.read": (R.SECRETARIAT, R.FINANCE, R.AUDITOR, A.MEMBER),
    "award.read": (*_STAFF_READ, A.MEMBER),
    "award.accept": (A.PI,),
    "award.suspend": (R.SECRETARIAT,),
    "award.close": (R.SECRETARIAT,),
    # After the award: the project's reports and conditions; reviewers read them with the case.
    "progress.read": (*_STAFF_READ, A.MEMBER, A.REVIEWER),
    "progress.submit": (A.PI,),
    "progress.review": (R.SECRETARIAT,),
    "condition.read": (*_STAFF_READ, A.MEMBER, A.REVIEWER),
    "condition.resolve": (R.SECRETARIAT,),
    # Variations after approval (extension, top-up, reduction, early end), as the committee
    # decided them, recorded by the secretariat.
    "award.change": (R.SECRETARIAT,),
    "allocation.read": (*_STAFF_READ, A.MEMBER),
    "allocation.manage": (R.OPERATOR,),
    "capacity.read": (R.SECRETARIAT, R.OPERATOR, R.AUDITOR),
    "job.submit": (A.MEMBER,),
    "job.read": (R.OPERATOR, R.AUDITOR, A.MEMBER),
    "job.cancel": (R.OPERATOR, A.MEMBER),
    "qos.read": (*_STAFF_READ, A.MEMBER),
    "qos.grant": (R.SECRETARIAT, R.OPERATOR),
    "usage.read": (*_STAFF_READ, A.MEMBER),
    "billing.read": (R.SECRETARIAT, R.FINANCE, R.AUDITOR, A.MEMBER),
    "billing.run": (R.FINANCE,),
    "billing.credit": (R.FINANCE,),
    "reconciliation.read": (R.FINANCE, R.AUDITOR),
    # Payments received against invoices (appended; a reversal is a negative payment).
    "payment.record": (R.FINANCE,),
    # An organisation's statement of account: staff, and the organisation's own members.
    "receivable.read": (R.SECRETARIAT, R.FINANCE, R.AUDITOR, A.ORG_MEMBER),
    "ledger.read": (R.SECRETARIAT, R.FINANCE, R.AUDITOR),
    "ledger.write": (R.FINANCE,),
    # Spending against an earmark (security, promotion and education): finance pays, the
    # secretariat and the auditor follow what remains.
    "earmark.read": (R.SECRETARIAT, R.FINANCE, R.AUDITOR),
    "earmark.spend": (R.FINANCE,),
    "audit.read": (R.SECRETARIAT, R.AUDITOR),
    # The audit chain's keys live in a file beside the platform: no role changes them, only
    # the system (the command line run by whoever holds that file).
    "audit.key": (),
}
MATRIX: dict[str, frozenset[Grant]] = {k: frozenset(v) for k, v in _GRANTS.items()}
# Actions no person holds: only the system does them, so no route or page names them.
SYSTEM_ONLY = frozenset(a for a, grants in MATRIX.items() if not grants)

# Actions that only read. A token without the ``write`` scope may use these and nothing else.
READ_ACTIONS = frozenset(a for a in MATRIX if a.endswith(".read"))


@dataclass(frozen=True)
class Principal:
    """Who is acting: a signed-in person (by session or token), nobody, or the system."""

    person_id: int | None
    roles: frozenset[Role] = frozenset()
    organisation_ids: frozenset[int] = frozenset()
    scopes: frozenset[str] = frozenset({"read", "write"})
    via: str = "system"  # system | session | token | anonymous
    label: str = "system"  # how the audit trail names the actor

    @property
    def is_system(self) -> bool:
        return self.via == "system"

    @property
    def is_anonymous(self) -> bool:
        return self.via == "anonymous"

    @classmethod
    def for_person(
        cls,
        *,
        person_id: int,
        roles: Iterable[Role],
        organisation_ids: Iterable[int],
        via: str,
        scopes: Iterable[str] = ("read", "write"),
    ) -> Principal:
        return cls(
            person_id=person_id,
            roles=frozenset(roles),
            organisation_ids=frozenset(organisation_ids),
            scopes=frozenset(scopes),
            via=via,
            label=f"person:{person_id}",
        )


SYSTEM = Principal(person_id=None, roles=frozenset(Role))
ANONYMOUS = Principal(person_id=None, scopes=frozenset(), via="anonymous", label="anonymous")


def check(principal: Principal, action: str) -> tuple[bool, frozenset[Audience]]:
    """(sees everything the action covers, audiences still to check per object).

    Raises ``Unauthenticated`` or ``AccessDenied`` when the action is out of reach whatever
    the object.
    """
    grants = MATRIX[action]
    if principal.is_system or A.ANYONE in grants:
        return True, frozenset()
    if principal.is_anonymous:
        raise Unauthenticated("sign in first: this needs an authenticated account")
    if action not in READ_ACTIONS and "write" not in principal.scopes:
        raise AccessDenied(f"{action}: this token has only the read scope")
    if A.SIGNED_IN in grants or principal.roles & grants:
        return True, frozenset()
    audiences = frozenset(g for g in grants if isinstance(g, Audience))
    if audiences:
        return False, audiences
    if not grants:
        raise AccessDenied(f"{action}: only the platform's command line does this")
    needed = ", ".join(sorted(str(g.value) for g in grants))
    raise AccessDenied(f"{action}: needs one of the roles {needed}")


@dataclass
class Access:
    """The outcome of ``authorize``: everything, or only what the audiences relate to."""

    ctx: Ctx
    action: str
    everything: bool
    audiences: frozenset[Audience]
    _cache: dict[str, frozenset[int]] = field(default_factory=dict)

    @property
    def principal(self) -> Principal:
        return self.ctx.principal

    def _ids(self, kind: str) -> frozenset[int]:
        """Application ids the principal is related to as ``kind`` (member, pi, reviewer)."""
        if kind not in self._cache:
            self._cache[kind] = frozenset(
                self.ctx.db.execute(_related(kind, self.principal)).scalars()
            )
        return self._cache[kind]

    def covers(
        self,
        *,
        application_id: int | None = None,
        organisation_id: int | None = None,
        person_id: int | None = None,
    ) -> bool:
        if self.everything:
            return True
        p = self.principal
        if application_id is not None:
            if A.MEMBER in self.audiences and application_id in self._ids("member"):
                return True
            if A.PI in self.audiences and application_id in self._ids("pi"):
                return True
            if A.REVIEWER in self.audiences and application_id in self._ids("reviewer"):
                return True
        if A.ORG_MEMBER in self.audiences and organisation_id in p.organisation_ids:
            return True
        if person_id is not None and A.SELF in self.audiences:
            return person_id == p.person_id
        return False

    def application_ids(self) -> Select[Any] | None:
        """A subquery of the application ids this access reaches (None: all of them)."""
        if self.everything:
            return None
        kinds = [k for k, a in _KINDS.items() if a in self.audiences]
        if not kinds:
            return _related("member", self.principal).where(false())
        query = _related(kinds[0], self.principal)
        for kind in kinds[1:]:
            query = query.union(_related(kind, self.principal))  # type: ignore[assignment]
        return query


_KINDS = {"member": A.MEMBER, "pi": A.PI, "reviewer": A.REVIEWER}


def awards_in_reach(access: Access, award_id: Any) -> Any | None:
    """A condition on an award-id column: only awards of projects in reach (None: all)."""
    from aisc.awards.models import Award

    reach = access.application_ids()
    if reach is None:
        return None
    return award_id.in_(select(Award.id).where(Award.application_id.in_(reach)))


def project_of(ctx: Ctx, award_id: int | None) -> int | None:
    """The application (project) an award belongs to, for ``Access.covers``."""
    from aisc.awards.models import Award

    award = ctx.db.get(Award, award_id) if award_id is not None else None
    return award.application_id if award is not None else None


def _related(kind: str, principal: Principal) -> Select[Any]:
    from aisc.applications.models import ProjectMember, ProjectRole
    from aisc.review.models import ReviewAssignment

    if kind == "reviewer":
        return select(ReviewAssignment.application_id).where(
            ReviewAssignment.reviewer_id == principal.person_id
        )
    query = select(ProjectMember.application_id).where(
        ProjectMember.person_id == principal.person_id
    )
    if kind == "pi":
        query = query.where(ProjectMember.role == ProjectRole.PI)
    return query


def authorize(ctx: Ctx, action: str) -> Access:
    """The principal's access for ``action`` (raises when it has none at all)."""
    everything, audiences = check(ctx.principal, action)
    return Access(ctx=ctx, action=action, everything=everything, audiences=audiences)


def permit(
    ctx: Ctx,
    action: str,
    *,
    application_id: int | None = None,
    organisation_id: int | None = None,
    person_id: int | None = None,
) -> None:
    """Refuse ``action`` on an object the caller can already see but may not act on."""
    access = authorize(ctx, action)
    if not access.covers(
        application_id=application_id, organisation_id=organisation_id, person_id=person_id
    ):
        raise AccessDenied(f"{action}: not allowed on this object")


def visible(
    access: Access, obj: T | None, what: str, *, field: str | None = None, **keys: int | None
) -> T:
    """``obj`` if it exists and is in reach; the same "not found" for both misses."""
    if obj is None or not access.covers(**keys):
        raise NotFound(f"{what} not found", field=field)
    return obj


def acting_person(ctx: Ctx, given: int | None, *, field: str) -> int:
    """The person an action is done by: the signed-in person, or (for the system) ``given``.

    A signed-in person cannot act in another person's name.
    """
    principal = ctx.principal
    if principal.person_id is not None:
        if given is not None and given != principal.person_id:
            raise AccessDenied(
                f"{field}: you act as yourself (person {principal.person_id})", field=field
            )
        return principal.person_id
    if given is None:
        raise ValidationFailed(f"{field}: say which person does this", field=field)
    return given


def matrix_markdown() -> str:
    """The permission matrix as the Markdown table in docs/accounts.md (a test keeps them equal)."""
    roles = list(Role)
    lines = [
        "| action | " + " | ".join(r.value for r in roles) + " | by relation |",
        "|---|" + "---|" * len(roles) + "---|",
    ]
    for action, grants in MATRIX.items():
        relations = ", ".join(sorted(str(g.value) for g in grants if isinstance(g, Audience)))
        relations = relations or ("the system only" if not grants else "")
        marks = " | ".join("yes" if r in grants else "" for r in roles)
        lines.append(f"| `{action}` | {marks} | {relations} |")
    return "\n".join(lines) + "\n"
