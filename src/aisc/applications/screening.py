"""Screening rules. Each rule returns findings; screening reports all of them, not the first.

Rules are plain functions of the application and the facts they need, so the list is easy to
read and extend.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from aisc.accounts.models import OrgCategory
from aisc.applications.models import REQUIRED_DECLARATIONS, Application, RequestKind


@dataclass(frozen=True)
class ScreeningFinding:
    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class ScreeningFacts:
    category: OrgCategory
    eligible_categories: frozenset[OrgCategory]
    scheme_start: date
    scheme_end: date
    known_gpu_models: frozenset[str]
    duplicate_ids: tuple[int, ...]
    # The category as the secretariat confirmed it, or only as the applicant declared it.
    category_verified: bool = True
    # Organisations whose names this one's looks like, while the secretariat has not cleared it.
    resembles: tuple[str, ...] = ()
    # The day screening runs: a preferred start before it is a finding. None: not checked.
    today: date | None = None


RULE_CODES = (
    "category_ineligible",
    "category_unverified",
    "organisation_lookalike",
    "no_local_rnd_staff",
    "hk_relevance_missing",
    "declaration_missing",
    "request_zero",
    "request_incomplete",
    "period_outside_scheme",
    "start_in_past",
    "gpu_model_unknown",
    "duplicate_application",
)

# Findings shown to the secretariat that do not hold an application back from review: a
# preferred start already past is settled by the decision, which sets the granted start.
ADVISORY = frozenset({"start_in_past"})


def blocking(findings: list[dict[str, str | None]]) -> list[dict[str, str | None]]:
    """The findings that keep an application from review (all but the advisory ones)."""
    return [f for f in findings if f.get("code") not in ADVISORY]


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (clamped to the month's end)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def screen(app: Application, facts: ScreeningFacts) -> list[ScreeningFinding]:
    findings: list[ScreeningFinding] = []
    if facts.category not in facts.eligible_categories:
        findings.append(
            ScreeningFinding(
                "category_ineligible",
                f"organisation category {facts.category.value!r} is not eligible for the scheme",
                "organisation_id",
            )
        )
    elif not facts.category_verified:
        findings.append(
            ScreeningFinding(
                "category_unverified",
                f"organisation category {facts.category.value!r} is as the applicant declared "
                "it; the secretariat has not confirmed it",
                "organisation_id",
            )
        )
    if facts.resembles:
        names = ", ".join(repr(n) for n in facts.resembles)
        findings.append(
            ScreeningFinding(
                "organisation_lookalike",
                f"the organisation's name looks like {names}; the secretariat has not cleared it",
                "organisation_id",
            )
        )
    if app.local_rnd_staff < 1:
        findings.append(
            ScreeningFinding(
                "no_local_rnd_staff",
                "the project has no local R&D staff in Hong Kong",
                "local_rnd_staff",
            )
        )
    if not app.hk_relevance.strip():
        findings.append(
            ScreeningFinding(
                "hk_relevance_missing",
                "no statement of relevance to Hong Kong is given",
                "hk_relevance",
            )
        )
    for name in REQUIRED_DECLARATIONS:
        if not getattr(app, name):
            label = name.removeprefix("decl_")
            findings.append(
                ScreeningFinding(
                    "declaration_missing",
                    f"declaration {label!r} is not made",
                    f"declarations.{label}",
                )
            )
    findings.extend(_compute_findings(app, facts))
    if facts.duplicate_ids:
        ids = ", ".join(str(i) for i in facts.duplicate_ids)
        findings.append(
            ScreeningFinding(
                "duplicate_application",
                f"the organisation already has an active application for the same project ({ids})",
                "title",
            )
        )
    return findings


def _compute_findings(app: Application, facts: ScreeningFacts) -> list[ScreeningFinding]:
    findings: list[ScreeningFinding] = []
    if app.gpu_model_code not in facts.known_gpu_models:
        findings.append(
            ScreeningFinding(
                "gpu_model_unknown",
                f"GPU model {app.gpu_model_code!r} is not offered by the centre",
                "compute.gpu_model",
            )
        )
    amount_field = "gpu_cards" if app.request_kind is RequestKind.DEDICATED else "gpu_hours"
    amount = app.gpu_cards if app.request_kind is RequestKind.DEDICATED else app.gpu_hours
    if amount is None or app.months is None or app.preferred_start is None:
        missing = [
            name
            for name, value in (
                (amount_field, amount),
                ("months", app.months),
                ("preferred_start", app.preferred_start),
            )
            if value is None
        ]
        findings.append(
            ScreeningFinding(
                "request_incomplete",
                f"the compute request lacks {', '.join(missing)}",
                f"compute.{missing[0]}",
            )
        )
        return findings
    if amount == 0:
        findings.append(
            ScreeningFinding(
                "request_zero",
                f"the compute request asks for 0 {amount_field.replace('_', ' ')}",
                f"compute.{amount_field}",
            )
        )
    if app.months == 0:
        findings.append(
            ScreeningFinding(
                "request_zero", "the compute request is for 0 months", "compute.months"
            )
        )
        return findings
    end = add_months(app.preferred_start, app.months)
    if app.preferred_start < facts.scheme_start or end > facts.scheme_end:
        findings.append(
            ScreeningFinding(
                "period_outside_scheme",
                f"the period {app.preferred_start} to {end} is outside the scheme "
                f"({facts.scheme_start} to {facts.scheme_end})",
                "compute.preferred_start",
            )
        )
    if facts.today is not None and app.preferred_start < facts.today:
        findings.append(
            ScreeningFinding(
                "start_in_past",
                f"the preferred start {app.preferred_start} is before the day of screening "
                f"({facts.today}); ask the applicant for a start that can still be met",
                "compute.preferred_start",
            )
        )
    return findings
