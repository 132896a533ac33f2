"""Two tenants' projects and one signed-in person per role, for the access tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aisc.access import Audience
from aisc.accounts import auth
from aisc.accounts.models import Role
from aisc.applications import service as applications
from aisc.applications.models import ProjectRole
from aisc.awards import service as awards
from aisc.jobs import service as jobs
from aisc.jobs.schemas import JobSubmit
from aisc.metering.service import record_usage
from tests.factories import World

A = Audience


@dataclass
class Persona:
    name: str
    person_id: int | None
    roles: frozenset[Role]
    # How this persona relates to project A's objects (the ones the route test's paths name).
    relations: frozenset[Audience]
    token: str = ""
    spare_token_id: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class Centre(World):
    """Project A (Harbour University) and project B (Lantau Models), each with an active
    award, an allocation, a job and a usage record; personas hold real API tokens."""

    def __init__(self, uow: Any, clock: Any) -> None:
        super().__init__(uow)
        self.app_a = self.reviewed()
        self.approve(self.app_a)
        self.app_b = self.reviewed(
            organisation_id=self.startup,
            created_by_id=self.startup_pi,
            title="Legal document retrieval",
        )
        self.approve(self.app_b)
        with uow() as ctx:
            self.member = self._person(ctx, "member@uni.example", [Role.APPLICANT], [self.uni])
            applications.add_member(ctx, application_id=self.app_a, person_id=self.member)
            self.operator = self._person(ctx, "ops@centre.example", [Role.OPERATOR], [])
            self.finance = self._person(ctx, "fin@centre.example", [Role.FINANCE], [])
            self.auditor = self._person(ctx, "audit@centre.example", [Role.AUDITOR], [])
            # Someone to sign out, and a staff role a second secretary asked to grant them.
            self.spare = self._person(ctx, "spare@centre.example", [Role.APPLICANT], [])
            self.second_secretary = self._person(ctx, "sec2@scheme.example", [Role.SECRETARIAT], [])
            self.role_request = self.ask_role(ctx, self.second_secretary, self.spare, Role.AUDITOR)
        clock.advance(days=60)  # into the allocations' period (they start on 1 March 2025)
        with uow() as ctx:
            found = awards.list_awards(ctx)
            self.award_a = next(a.id for a in found if a.application_id == self.app_a)
            self.award_b = next(a.id for a in found if a.application_id == self.app_b)
            for award_id in (self.award_a, self.award_b):
                awards.accept(ctx, award_id=award_id)
            self.job_a = self._job(ctx, self.award_a, self.applicant)
            self.job_b = self._job(ctx, self.award_b, self.startup_pi)
            from aisc.allocations.service import list_allocations

            allocs = list_allocations(ctx)
            self.alloc_a = next(a.id for a in allocs if a.award_id == self.award_a)
            self.alloc_b = next(a.id for a in allocs if a.award_id == self.award_b)
            for job_id, award_id in ((self.job_a, self.award_a), (self.job_b, self.award_b)):
                record_usage(
                    ctx,
                    key=f"test:{job_id}",
                    source="local",
                    award_id=award_id,
                    gpu_model="H800-SXM5-80GB",
                    gpu_seconds=3600,
                    started_at=ctx.now,
                    ended_at=ctx.now,
                    job_id=job_id,
                )
        clock.advance(days=25)  # into April: March can be billed
        with uow() as ctx:
            from aisc.billing.charging import run_month
            from aisc.billing.service import list_invoices

            run_month(ctx, month=date(2025, 3, 1))
            found_invoices = {i.award_id: i.id for i in list_invoices(ctx)}
            self.invoice_a, self.invoice_b = (
                found_invoices[self.award_a],
                found_invoices[self.award_b],
            )
        self.personas = {
            p.name: p
            for p in [
                Persona("anonymous", None, frozenset(), frozenset()),
                Persona(
                    "pi",
                    self.applicant,
                    frozenset({Role.APPLICANT}),
                    frozenset({A.MEMBER, A.PI, A.ORG_MEMBER, A.SELF}),
                ),
                Persona(
                    "member",
                    self.member,
                    frozenset({Role.APPLICANT}),
                    frozenset({A.MEMBER, A.ORG_MEMBER}),
                ),
                Persona("outsider", self.other_pi, frozenset({Role.APPLICANT}), frozenset()),
                Persona(
                    "reviewer",
                    self.reviewers[0],
                    frozenset({Role.REVIEWER}),
                    frozenset({A.REVIEWER}),
                ),
                Persona(
                    "secretariat", self.secretariat, frozenset({Role.SECRETARIAT}), frozenset()
                ),
                Persona("operator", self.operator, frozenset({Role.OPERATOR}), frozenset()),
                Persona("finance", self.finance, frozenset({Role.FINANCE}), frozenset()),
                Persona("auditor", self.auditor, frozenset({Role.AUDITOR}), frozenset()),
            ]
        }
        with uow() as ctx:
            for persona in self.personas.values():
                if persona.person_id is None:
                    continue
                persona.token, _ = auth.create_token(
                    ctx, person_id=persona.person_id, name="tests", scopes=["read", "write"]
                )
                _, spare = auth.create_token(
                    ctx, person_id=persona.person_id, name="spare", scopes=["read"]
                )
                persona.spare_token_id = spare.id
                persona.headers = {"Authorization": f"Bearer {persona.token}"}

    @staticmethod
    def ask_role(ctx: Any, asker: int, person_id: int, role: Role) -> int:
        """``asker`` (staff) asks to grant ``role``: a pending request, its id."""
        from dataclasses import replace

        from aisc.access import Principal
        from aisc.accounts import service as accounts
        from aisc.accounts.schemas import PersonUpdate

        staff = accounts.get_person(ctx, person_id=asker)
        as_staff = replace(
            ctx,
            principal=Principal.for_person(
                person_id=asker, roles=staff.role_set, organisation_ids=[], via="token"
            ),
        )
        held = accounts.get_person(ctx, person_id=person_id).role_set
        person = accounts.update_person(
            as_staff, person_id=person_id, data=PersonUpdate(roles=sorted(held | {role}))
        )
        return next(r.id for r in person.pending_role_requests if r.role == role)

    def _job(self, ctx: Any, award_id: int, person_id: int) -> int:
        return jobs.submit(
            ctx,
            data=JobSubmit(
                award_id=award_id,
                submitted_by_id=person_id,
                partition="training",
                gpus_per_node=1,
                walltime_s=600,
                command=["true"],
            ),
        ).id

    def project_role(self, person_id: int) -> ProjectRole | None:
        with self.uow() as ctx:
            for m in applications.list_members(ctx, application_id=self.app_a):
                if m.person_id == person_id:
                    return m.role
        return None
