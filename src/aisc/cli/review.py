from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from aisc.cli.common import JsonOpt, emit_list, emit_one, load_file, parse, uow
from aisc.errors import ValidationFailed
from aisc.review import decisions as decision_service
from aisc.review import service
from aisc.review.models import DecisionOutcome
from aisc.review.schemas import DecisionCreate, DeclarationIn, ScoresIn

app = typer.Typer(help="Reviews and the committee's decisions.", no_args_is_help=True)
REVIEW_COLUMNS = ["application_id", "reviewer_id", "conflict", "completed_at", "weighted_total"]


@app.command("assign")
def assign(
    application_id: int,
    reviewer: int = typer.Option(..., help="person id"),
    as_json: bool = JsonOpt,
) -> None:
    """Assign a reviewer to an application."""
    with uow() as ctx:
        emit_one(
            service.read_review(
                service.assign_reviewer(ctx, application_id=application_id, reviewer_id=reviewer)
            ),
            as_json,
        )


@app.command("declare")
def declare(
    application_id: int,
    reviewer: int = typer.Option(..., help="person id"),
    conflict: bool = typer.Option(..., "--conflict/--no-conflict"),
    note: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Declare a conflict of interest (or none) before scoring."""
    data = parse(DeclarationIn, {"conflict": conflict, "note": note})
    with uow() as ctx:
        emit_one(
            service.read_review(
                service.declare(ctx, application_id=application_id, reviewer_id=reviewer, data=data)
            ),
            as_json,
        )


@app.command("score")
def score(
    application_id: int,
    reviewer: int = typer.Option(..., help="person id"),
    score_: list[str] = typer.Option(..., "--score", help="CRITERION=N (0-10); repeat"),
    comment: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Record a reviewer's scores on each criterion, with an optional comment."""
    scores: dict[str, Any] = {}
    for spec in score_:
        code, sep, value = spec.partition("=")
        if not sep:
            raise ValidationFailed(f"--score {spec!r}: expected CRITERION=N", field="score")
        scores[code.strip()] = {"score": value.strip()}
    data = parse(ScoresIn, {"scores": scores, "comment": comment})
    with uow() as ctx:
        emit_one(
            service.read_review(
                service.submit_scores(
                    ctx, application_id=application_id, reviewer_id=reviewer, data=data
                )
            ),
            as_json,
        )


@app.command("show")
def show(
    application_id: int,
    viewer: int = typer.Option(..., help="person id of the viewer"),
    as_json: bool = JsonOpt,
) -> None:
    """Reviews of an application and its weighted total, as the viewer may see them."""
    with uow() as ctx:
        summary = service.review_summary(ctx, application_id=application_id, viewer_id=viewer)
    if as_json:
        emit_one(summary, True)
        return
    typer.echo(
        f"completed {summary.completed_reviews} of quorum {summary.quorum}; "
        f"weighted total {summary.weighted_total}"
    )
    emit_list(summary.reviews, REVIEW_COLUMNS, False)


@app.command("queue")
def queue(reviewer: int, as_json: bool = JsonOpt) -> None:
    """A reviewer's assigned applications."""
    with uow() as ctx:
        emit_list(service.list_assignments_for(ctx, reviewer_id=reviewer), REVIEW_COLUMNS, as_json)


@app.command("decide")
def decide(
    application_id: int,
    file: Path = typer.Option(None, "--file", "-f", help="JSON/YAML decision (instead of options)"),
    outcome: DecisionOutcome = typer.Option(None),
    by: int = typer.Option(None, help="person id of the secretariat officer recording it"),
    reason: list[str] = typer.Option(None, help="CODE:TEXT (criterion or screening rule); repeat"),
    condition: list[str] = typer.Option(None, help="condition of approval; repeat"),
    rate: Decimal = typer.Option(None, help="subsidy rate, e.g. 0.70"),
    justification: str = typer.Option("", help="needed for a rate above the default"),
    cards: int = typer.Option(None, help="granted GPU cards (default: requested)"),
    hours: int = typer.Option(None, help="granted GPU-hours (pooled)"),
    months: int = typer.Option(None, help="granted months (default: requested)"),
    start: str = typer.Option(None, help="granted start date YYYY-MM-DD"),
    as_json: bool = JsonOpt,
) -> None:
    """Record the committee's decision (approve, approve_with_conditions, defer, reject)."""
    if file is not None:
        raw: Any = load_file(file)
    else:
        reasons = []
        for spec in reason or []:
            code, sep, text = spec.partition(":")
            if not sep:
                raise ValidationFailed(f"--reason {spec!r}: expected CODE:TEXT", field="reason")
            reasons.append({"code": code.strip(), "text": text.strip()})
        grant = {
            k: v
            for k, v in {
                "gpu_cards": cards,
                "gpu_hours": hours,
                "months": months,
                "start": start,  # checked with the rest of the decision
            }.items()
            if v is not None
        }
        raw = {
            "outcome": outcome,
            "decided_by_id": by,
            "reasons": reasons,
            "conditions": condition or [],
            "grant": grant,
            "exceptional_justification": justification,
        }
        if rate is not None:
            raw["subsidy_rate"] = rate
    data = parse(DecisionCreate, raw)
    with uow() as ctx:
        emit_one(
            decision_service.read_decision(
                ctx, decision_service.decide(ctx, application_id=application_id, data=data)
            ),
            as_json,
        )


@app.command("decisions")
def decisions(application_id: int, as_json: bool = JsonOpt) -> None:
    """List the committee's decisions on an application."""
    with uow() as ctx:
        rows = [
            decision_service.read_decision(ctx, d)
            for d in decision_service.list_decisions(ctx, application_id=application_id)
        ]
    emit_list(
        rows,
        ["id", "outcome", "decided_at", "subsidy_rate", "subsidy_cap_hkd", "award_id"],
        as_json,
    )
