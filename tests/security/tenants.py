"""Two tenants with data in every table that holds tenant data, and a persona per role.

Tenant A (Harbour University) and tenant B (Lantau Models) each have an application with its
attachments, team, reviews and a decision, an award with its ledger commitment, an allocation,
jobs with their output, usage, an invoice with a credit note, a burn notification, API tokens
and browser sessions. Every text a tenant wrote carries its marker (``zza-`` / ``zzb-``, beside
the organisation's name and e-mail domain); ``ids`` holds every row's id per kind. The personas
hold real API tokens and passwords (tests/security/test_object_scoping.py uses them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from aisc.access import Audience
from aisc.accounts import auth
from aisc.accounts.models import ApiToken, Person, Role, WebSession
from aisc.allocations.models import Allocation
from aisc.allocations.service import list_allocations
from aisc.applications import service as applications
from aisc.applications.models import Application, ProjectMember
from aisc.awards import service as awards
from aisc.awards.models import Award
from aisc.billing.charging import run_month
from aisc.billing.credits import credit
from aisc.billing.models import Charge, CreditNote, Invoice, Notification
from aisc.cluster.catalogue import H800
from aisc.executors.local import Slice, dump_slices
from aisc.jobs import service as jobs
from aisc.jobs.models import Job
from aisc.jobs.schemas import JobSubmit
from aisc.ledger.models import LedgerEntry
from aisc.metering.models import UsageRecord
from aisc.metering.service import record_usage
from aisc.progress.models import AwardCondition, ProgressReport
from aisc.review import service as review
from aisc.review.models import Decision, ReviewAssignment
from aisc.review.schemas import DeclarationIn, ScoresIn
from tests.factories import World
from tests.portal.conftest import PASSWORD

A = Audience
MISSING = 999_999
A_SELF = frozenset({A.SELF})
CODES = ("alignment", "compute_reasonableness", "capability", "impact")
# Values for path parameters that name no tenant's object.
# Staff-only objects that belong to no tenant (look-alike flags, role requests) and a QOS grant,
# which is reached through its award's id (the award is what names the tenant).
SHARED_PATH = {
    "name": "h800-000",
    "code": H800,
    "version": "v1",
    "flag_id": 999_999,
    "request_id": 999_999,
    "grant_id": 999_999,
    "year": 2025,
}
# Path parameters that name a tenant's object, and the kind of object they name.
ID_PARAMS = {
    "application_id": "application",
    "award_id": "award",
    "allocation_id": "allocation",
    "job_id": "job",
    "invoice_id": "invoice",
    "organisation_id": "organisation",
    "person_id": "person",
    "reviewer_id": "person",
    "report_id": "report",
    "condition_id": "condition",
}


@dataclass
class Persona:
    name: str
    person_id: int | None
    roles: frozenset[Role]
    relations: frozenset[Audience]  # how the persona relates to its own tenant's objects
    tenant: str | None  # "A", or None: related to neither tenant
    headers: dict[str, str] = field(default_factory=dict)
    portal: bool = True  # signs in to the portal with a password (a token does not)


class Tenants(World):
    """Tenant A and tenant B, each with data in every table that holds tenant data."""

    def __init__(self, uow: Any, clock: Any, tmp: Path) -> None:
        super().__init__(uow)
        r0, r1, r2 = self.reviewers
        with uow() as ctx:
            self.b_member = self._person(
                ctx, "member@startup.example", [Role.APPLICANT], [self.startup]
            )
            self.member = self._person(ctx, "member@uni.example", [Role.APPLICANT], [self.uni])
            self.idle_reviewer = self._person(ctx, "idle@committee.example", [Role.REVIEWER], [])
            self.operator = self._person(ctx, "ops@centre.example", [Role.OPERATOR], [])
            self.finance = self._person(ctx, "fin@centre.example", [Role.FINANCE], [])
            self.auditor = self._person(ctx, "audit@centre.example", [Role.AUDITOR], [])
        # A is reviewed by r0 and r1, B by r1 and r2: r0 reviews A only.
        self.app_a = self._reviewed("a", (r0, r1), organisation_id=self.uni)
        self.app_b = self._reviewed(
            "b", (r1, r2), organisation_id=self.startup, created_by_id=self.startup_pi
        )
        with uow() as ctx:
            applications.add_member(ctx, application_id=self.app_a, person_id=self.member)
            applications.add_member(ctx, application_id=self.app_b, person_id=self.b_member)
        self.approve(self.app_a, conditions=["zza-condition"])
        self.approve(self.app_b, conditions=["zzb-condition"])
        clock.advance(days=60)  # into the allocations' period (they start on 1 March 2025)
        with uow() as ctx:
            found = {a.application_id: a.id for a in awards.list_awards(ctx)}
            self.award_a, self.award_b = found[self.app_a], found[self.app_b]
            for award_id in (self.award_a, self.award_b):
                awards.accept(ctx, award_id=award_id)
            self.job_a = self._job(ctx, "a", self.award_a, self.applicant, tmp)
            self.job_b = self._job(ctx, "b", self.award_b, self.startup_pi, tmp)
            for job_id, award_id in ((self.job_a, self.award_a), (self.job_b, self.award_b)):
                record_usage(
                    ctx,
                    key=f"test:{job_id}",
                    source="local",
                    award_id=award_id,
                    gpu_model=H800,
                    gpu_seconds=3600,
                    started_at=ctx.now,
                    ended_at=ctx.now,
                    job_id=job_id,
                )
        clock.advance(days=25)  # into April: March can be billed
        with uow() as ctx:
            run_month(ctx, month=date(2025, 3, 1))
            invoices = {i.award_id: i.id for i in ctx.db.execute(select(Invoice)).scalars()}
            self.invoice_a, self.invoice_b = invoices[self.award_a], invoices[self.award_b]
            for tenant, invoice_id in (("a", self.invoice_a), ("b", self.invoice_b)):
                credit(ctx, invoice_id=invoice_id, list_cents=100, reason=f"zz{tenant}-credit")
            for tenant, award_id in (("a", self.award_a), ("b", self.award_b)):
                ctx.db.add(
                    Notification(
                        award_id=award_id,
                        kind="burn_50",
                        message=f"zz{tenant}-notice",
                        created_at=ctx.now,
                    )
                )
            allocs = {a.award_id: a.id for a in list_allocations(ctx)}
            self.alloc_a, self.alloc_b = allocs[self.award_a], allocs[self.award_b]
            for person_id in (
                self.applicant,
                self.member,
                self.startup_pi,
                self.b_member,
                self.reviewers[0],
                self.idle_reviewer,
                self.secretariat,
                self.operator,
                self.finance,
                self.auditor,
                self.other_pi,
            ):
                auth.set_password(ctx, person_id=person_id, password=PASSWORD)
            # Tenant B's own tokens and sessions, which nobody else may list or learn of.
            for person_id in (self.startup_pi, self.b_member):
                auth.create_token(ctx, person_id=person_id, name="zzb-token", scopes=["read"])
                auth.start_session(ctx, person=ctx.db.get(Person, person_id))
        self.personas = self._personas()
        self.ids = {"A": self._ids(self.app_a), "B": self._ids(self.app_b)}
        self.markers = {
            "A": ("zza-", "Harbour University", "uni.example"),
            "B": ("zzb-", "Lantau", "startup.example"),
        }

    def _reviewed(self, tenant: str, reviewers: tuple[int, ...], **overrides: Any) -> int:
        app_id = self.to_review(
            title=f"zz{tenant}-title",
            summary=f"zz{tenant}-summary",
            hk_relevance=f"zz{tenant}-relevance",
            attachments=[
                {"kind": "proposal", "filename": f"zz{tenant}-proposal.pdf", "size_bytes": 1000}
            ],
            **overrides,
        )
        with self.uow() as ctx:
            for reviewer in reviewers:
                review.assign_reviewer(ctx, application_id=app_id, reviewer_id=reviewer)
                review.declare(
                    ctx,
                    application_id=app_id,
                    reviewer_id=reviewer,
                    data=DeclarationIn(conflict=False),
                )
                scores = {c: {"score": 8, "comment": f"zz{tenant}-score"} for c in CODES}
                review.submit_scores(
                    ctx,
                    application_id=app_id,
                    reviewer_id=reviewer,
                    data=ScoresIn.model_validate(
                        {"scores": scores, "comment": f"zz{tenant}-review"}
                    ),
                )
        return app_id

    @staticmethod
    def _job(ctx: Any, tenant: str, award_id: int, person_id: int, tmp: Path) -> int:
        job = jobs.submit(
            ctx,
            data=JobSubmit(
                award_id=award_id,
                submitted_by_id=person_id,
                name=f"zz{tenant}-job",
                partition="training",
                gpus_per_node=1,
                walltime_s=600,
                command=["echo", f"zz{tenant}-argument"],
                environment={"NOTE": f"zz{tenant}-environment"},
            ),
        )
        # Its output, as the local executor leaves it (the job itself is not run here).
        stem = tmp / f"job-{job.id}"
        for suffix in ("out", "err"):
            Path(f"{stem}.{suffix}").write_text(f"zz{tenant}-log-{suffix}\n")
        row = ctx.db.get(Job, job.id)
        row.processes = dump_slices(
            [Slice("h800-000", (0,), 1, 1, f"{stem}.exit", f"{stem}.out", f"{stem}.err")]
        )
        return int(job.id)

    def _ids(self, app_id: int) -> dict[str, set[int]]:
        """Every row of the tenant of ``app_id``, by kind."""
        with self.uow() as ctx:
            db = ctx.db
            app = db.get(Application, app_id)
            assert app is not None
            award_ids = set(db.execute(select(Award.id).where(Award.application_id == app_id)))
            award_ids = {a for (a,) in award_ids}
            people = {
                p
                for (p,) in db.execute(
                    select(ProjectMember.person_id).where(ProjectMember.application_id == app_id)
                )
            }
            # Reviewers that review this tenant alone are its: the other tenant must not
            # learn who reviews it.
            own_reviewers = set(
                db.execute(
                    select(ReviewAssignment.reviewer_id).where(
                        ReviewAssignment.application_id == app_id
                    )
                ).scalars()
            ) - set(
                db.execute(
                    select(ReviewAssignment.reviewer_id).where(
                        ReviewAssignment.application_id != app_id
                    )
                ).scalars()
            )

            def ids(column: Any, condition: Any) -> set[int]:
                return set(db.execute(select(column).where(condition)).scalars())

            invoice_ids = ids(Invoice.id, Invoice.award_id.in_(award_ids))
            return {
                "application": {app_id},
                "organisation": {app.organisation_id},
                "person": people | own_reviewers,
                "member": ids(ProjectMember.id, ProjectMember.application_id == app_id),
                "decision": ids(Decision.id, Decision.application_id == app_id),
                "award": award_ids,
                "allocation": ids(Allocation.id, Allocation.award_id.in_(award_ids)),
                "job": ids(Job.id, Job.award_id.in_(award_ids)),
                "usage": ids(UsageRecord.id, UsageRecord.award_id.in_(award_ids)),
                "invoice": invoice_ids,
                "charge": ids(Charge.id, Charge.invoice_id.in_(invoice_ids)),
                "credit_note": ids(CreditNote.id, CreditNote.invoice_id.in_(invoice_ids)),
                "notification": ids(Notification.id, Notification.award_id.in_(award_ids)),
                "ledger": ids(LedgerEntry.id, LedgerEntry.award_id.in_(award_ids)),
                "report": ids(ProgressReport.id, ProgressReport.award_id.in_(award_ids)),
                "condition": ids(AwardCondition.id, AwardCondition.award_id.in_(award_ids)),
                "token": ids(ApiToken.id, ApiToken.person_id.in_(people)),
                "session": ids(WebSession.id, WebSession.person_id.in_(people)),
            }

    def _personas(self) -> dict[str, Persona]:
        pi = frozenset({A.MEMBER, A.PI, A.ORG_MEMBER, A.SELF})
        found = [
            Persona("pi", self.applicant, frozenset({Role.APPLICANT}), pi, "A"),
            Persona(
                "member",
                self.member,
                frozenset({Role.APPLICANT}),
                frozenset({A.MEMBER, A.ORG_MEMBER, A.SELF}),
                "A",
            ),
            Persona("read_token", self.applicant, frozenset({Role.APPLICANT}), pi, "A"),
            Persona(
                "reviewer",
                self.reviewers[0],
                frozenset({Role.REVIEWER}),
                frozenset({A.REVIEWER, A.SELF}),
                "A",
            ),
            Persona("idle_reviewer", self.idle_reviewer, frozenset({Role.REVIEWER}), A_SELF, None),
            Persona("outsider", self.other_pi, frozenset({Role.APPLICANT}), A_SELF, None),
            Persona("secretariat", self.secretariat, frozenset({Role.SECRETARIAT}), A_SELF, None),
            Persona("operator", self.operator, frozenset({Role.OPERATOR}), A_SELF, None),
            Persona("finance", self.finance, frozenset({Role.FINANCE}), A_SELF, None),
            Persona("auditor", self.auditor, frozenset({Role.AUDITOR}), A_SELF, None),
        ]
        with self.uow() as ctx:
            for persona in found:
                assert persona.person_id is not None
                scopes = ["read"] if persona.name == "read_token" else ["read", "write"]
                secret, _ = auth.create_token(
                    ctx, person_id=persona.person_id, name="probe", scopes=scopes
                )
                persona.headers = {"Authorization": f"Bearer {secret}"}
        found[2].portal = False
        return {p.name: p for p in found}

    def fill(self, tenant: str | None, params: dict[str, str]) -> dict[str, Any]:
        """Values for path parameters: the tenant's objects (None: ids that do not exist)."""
        by_tenant = {
            "A": {
                "application": self.app_a,
                "award": self.award_a,
                "allocation": self.alloc_a,
                "job": self.job_a,
                "invoice": self.invoice_a,
                "organisation": self.uni,
                "person": self.applicant,
                "report": min(self.ids["A"]["report"]),
                "condition": min(self.ids["A"]["condition"]),
            },
            "B": {
                "application": self.app_b,
                "award": self.award_b,
                "allocation": self.alloc_b,
                "job": self.job_b,
                "invoice": self.invoice_b,
                "organisation": self.startup,
                "person": self.startup_pi,
                "report": min(self.ids["B"]["report"]),
                "condition": min(self.ids["B"]["condition"]),
            },
        }
        values: dict[str, Any] = {}
        for name in params:
            if name in SHARED_PATH:
                values[name] = SHARED_PATH[name]
            elif name == "reviewer_id" and tenant is not None:
                # The reviewer of that tenant alone.
                values[name] = self.reviewers[0] if tenant == "A" else self.reviewers[2]
            elif name in ID_PARAMS:
                kind = ID_PARAMS[name]
                values[name] = MISSING if tenant is None else by_tenant[tenant][kind]
            else:
                values[name] = None
        return values
