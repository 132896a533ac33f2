"""Builders for test data, through the real services (nothing is inserted behind their back)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from aisc.accounts import service as accounts
from aisc.accounts.models import OrgCategory, Role
from aisc.accounts.schemas import OrganisationCreate, PersonCreate
from aisc.applications import service as applications
from aisc.applications.schemas import ApplicationCreate
from aisc.cluster import service as cluster
from aisc.cluster.catalogue import H800, L40S
from aisc.cluster.schemas import NodeIn, PartitionIn
from aisc.cluster.service import ensure_catalogue
from aisc.pricing import service as pricing
from aisc.pricing.schemas import PriceListCreate
from aisc.review import decisions
from aisc.review import service as review
from aisc.review.schemas import DecisionCreate, DeclarationIn, ScoresIn
from aisc.scheme import service as scheme_service
from aisc.scheme.schemas import SchemeCreate

# List prices of the test centre: HK$30,000 per H800 card-month, HK$45 per GPU-hour.
H800_CARD_MONTH = Decimal("30000")
H800_GPU_HOUR = Decimal("45")


class World:
    """A scheme with a price list, organisations and one person per role."""

    def __init__(self, uow: Callable[..., Any], h800_nodes: int = 8, **scheme: Any) -> None:
        self.uow = uow
        with uow() as ctx:
            ensure_catalogue(ctx)
            # The centre: a training partition of H800 nodes (8 cards each) and two L40S nodes.
            cluster.upsert_partition(ctx, data=PartitionIn(name="training", max_walltime_hours=168))
            cluster.upsert_partition(ctx, data=PartitionIn(name="inference", max_walltime_hours=24))
            for i in range(h800_nodes):
                cluster.upsert_node(
                    ctx,
                    data=NodeIn(
                        name=f"h800-{i:03d}",
                        gpu_model=H800,
                        gpu_count=8,
                        cpu_cores=128,
                        memory_gb=2048,
                        partition="training",
                        rack=f"r{i // 4:02d}",
                        leaf_switch=f"leaf{i // 16:02d}",
                        installed_on=date(2024, 10, 1),
                    ),
                )
            for i in range(2):
                cluster.upsert_node(
                    ctx,
                    data=NodeIn(
                        name=f"l40s-{i:03d}",
                        gpu_model=L40S,
                        gpu_count=8,
                        cpu_cores=64,
                        memory_gb=512,
                        partition="inference",
                        installed_on=date(2024, 10, 1),
                    ),
                )
            scheme_service.init_scheme(ctx, data=SchemeCreate(**scheme))
            pricing.create_price_list(
                ctx,
                data=PriceListCreate.model_validate(
                    {
                        "version": "v1",
                        "effective_from": date(2024, 10, 1),
                        "items": [
                            {
                                "gpu_model": H800,
                                "card_month_hkd": H800_CARD_MONTH,
                                "gpu_hour_hkd": H800_GPU_HOUR,
                            },
                            {"gpu_model": L40S, "card_month_hkd": "9000", "gpu_hour_hkd": "13.5"},
                        ],
                    }
                ),
            )
            self.uni = accounts.create_organisation(
                ctx,
                data=OrganisationCreate(name="Harbour University", category=OrgCategory.UNIVERSITY),
            ).id
            self.startup = accounts.create_organisation(
                ctx,
                data=OrganisationCreate(name="Lantau Models Ltd", category=OrgCategory.AI_STARTUP),
            ).id
            self.other = accounts.create_organisation(
                ctx, data=OrganisationCreate(name="Offshore Brokers", category=OrgCategory.OTHER)
            ).id
            self.applicant = self._person(ctx, "pi@uni.example", [Role.APPLICANT], [self.uni])
            self.startup_pi = self._person(
                ctx, "pi@startup.example", [Role.APPLICANT], [self.startup]
            )
            self.other_pi = self._person(ctx, "pi@other.example", [Role.APPLICANT], [self.other])
            self.secretariat = self._person(ctx, "sec@scheme.example", [Role.SECRETARIAT], [])
            self.reviewers = [
                self._person(ctx, f"rev{i}@committee.example", [Role.REVIEWER], [])
                for i in range(3)
            ]
            self.insider = self._person(ctx, "insider@uni.example", [Role.REVIEWER], [self.uni])

    @staticmethod
    def _person(ctx: Any, email: str, roles: list[Role], orgs: list[int]) -> int:
        return accounts.create_person(
            ctx,
            data=PersonCreate(
                email=email, name=email.split("@")[0], roles=roles, organisation_ids=orgs
            ),
        ).id

    def payload(self, **overrides: Any) -> dict[str, Any]:
        """A complete, eligible application body (JSON-ready)."""
        compute = {
            "kind": "dedicated",
            "gpu_model": H800,
            "gpu_cards": 16,
            "months": 6,
            "preferred_start": "2025-03-01",
        }
        compute.update(overrides.pop("compute", {}))
        body: dict[str, Any] = {
            "organisation_id": self.uni,
            "created_by_id": self.applicant,
            "title": "Cantonese speech model",
            "domain": "llm",
            "summary": "Speech recognition for Cantonese.",
            "hk_relevance": "Serves Hong Kong's public services.",
            "local_rnd_staff": 6,
            "nonlocal_rnd_staff": 1,
            "compute": compute,
            "declarations": {
                "no_double_funding": True,
                "information_true": True,
                "consent_disclosure": True,
                "legal_compliance": True,
            },
        }
        body.update(overrides)
        return body

    def create(self, **overrides: Any) -> int:
        with self.uow() as ctx:
            return applications.create_application(
                ctx, data=ApplicationCreate.model_validate(self.payload(**overrides))
            ).id

    def to_review(self, **overrides: Any) -> int:
        """An application that passed screening and is under review."""
        app_id = self.create(**overrides)
        with self.uow() as ctx:
            applications.submit(ctx, application_id=app_id)
            applications.start_screening(ctx, application_id=app_id)
            applications.start_review(ctx, application_id=app_id)
        return app_id

    def reviewed(self, scores: int = 8, **overrides: Any) -> int:
        """Under review with a quorum (2) of completed reviews."""
        app_id = self.to_review(**overrides)
        codes = ["alignment", "compute_reasonableness", "capability", "impact"]
        with self.uow() as ctx:
            for reviewer in self.reviewers[:2]:
                review.assign_reviewer(ctx, application_id=app_id, reviewer_id=reviewer)
                review.declare(
                    ctx,
                    application_id=app_id,
                    reviewer_id=reviewer,
                    data=DeclarationIn(conflict=False),
                )
                review.submit_scores(
                    ctx,
                    application_id=app_id,
                    reviewer_id=reviewer,
                    data=ScoresIn.model_validate({"scores": {c: {"score": scores} for c in codes}}),
                )
        return app_id

    def approve(self, app_id: int, **decision: Any) -> Any:
        body = {"outcome": "approve", "decided_by_id": self.secretariat, **decision}
        with self.uow() as ctx:
            return decisions.decide(
                ctx, application_id=app_id, data=DecisionCreate.model_validate(body)
            )
