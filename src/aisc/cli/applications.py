from __future__ import annotations

from pathlib import Path

import typer

from aisc.applications import service
from aisc.applications.models import ApplicationStatus, Domain, ProjectRole
from aisc.applications.schemas import (
    ApplicationCreate,
    ApplicationRead,
    ApplicationUpdate,
    FindingRead,
    MemberRead,
)
from aisc.cli.common import JsonOpt, emit_list, emit_one, load_file, parse, uow

app = typer.Typer(
    help="Applications: create, submit, screen, review, withdraw.", no_args_is_help=True
)
COLUMNS = ["id", "organisation_id", "status", "domain", "title"]


def _one(application: object, as_json: bool) -> None:
    emit_one(ApplicationRead.of(application), as_json)  # type: ignore[arg-type]


@app.command("list")
def list_apps(
    status: ApplicationStatus = typer.Option(None),
    org: int = typer.Option(None, help="organisation id"),
    domain: Domain = typer.Option(None),
    search: str = typer.Option(None, help="text in the title"),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """List applications, filtered by status, organisation, domain or title text."""
    with uow() as ctx:
        rows = service.list_applications(
            ctx,
            status=status,
            organisation_id=org,
            domain=domain,
            search=search,
            limit=limit,
            offset=offset,
        )
        emit_list([ApplicationRead.of(a) for a in rows], COLUMNS, as_json)


@app.command("show")
def show(application_id: int, as_json: bool = JsonOpt) -> None:
    """Show one application."""
    with uow() as ctx:
        _one(service.get_application(ctx, application_id=application_id), as_json)


@app.command("create")
def create(
    file: Path = typer.Option(..., "--file", "-f", help="JSON/YAML application"),
    as_json: bool = JsonOpt,
) -> None:
    """Create a draft application from a file (see docs/scheme.md for the fields)."""
    data = parse(ApplicationCreate, load_file(file))
    with uow() as ctx:
        _one(service.create_application(ctx, data=data), as_json)


@app.command("update")
def update(
    application_id: int,
    file: Path = typer.Option(..., "--file", "-f", help="JSON/YAML with fields to change"),
    as_json: bool = JsonOpt,
) -> None:
    """Change a draft or incomplete application from a JSON or YAML file of fields."""
    data = parse(ApplicationUpdate, load_file(file))
    with uow() as ctx:
        _one(service.update_application(ctx, application_id=application_id, data=data), as_json)


@app.command("screening")
def screening(application_id: int, as_json: bool = JsonOpt) -> None:
    """Preview what screening would find now (changes nothing)."""
    with uow() as ctx:
        app_ = service.get_application(ctx, application_id=application_id)
        findings = [FindingRead(**f) for f in service.screening_findings(ctx, app_)]
    emit_list(findings, ["code", "field", "message"], as_json)


@app.command("submit")
def submit(application_id: int, as_json: bool = JsonOpt) -> None:
    """Submit an application for screening."""
    with uow() as ctx:
        _one(service.submit(ctx, application_id=application_id), as_json)


@app.command("withdraw")
def withdraw(application_id: int, reason: str = "", as_json: bool = JsonOpt) -> None:
    """Withdraw an application, with an optional reason."""
    with uow() as ctx:
        _one(service.withdraw(ctx, application_id=application_id, reason=reason), as_json)


@app.command("screen")
def screen(application_id: int, as_json: bool = JsonOpt) -> None:
    """Take a submitted application into screening; every rule runs and all findings are kept."""
    with uow() as ctx:
        _one(service.start_screening(ctx, application_id=application_id), as_json)


@app.command("return")
def return_(application_id: int, note: str = "", as_json: bool = JsonOpt) -> None:
    """Return an application in screening to the applicant as incomplete."""
    with uow() as ctx:
        _one(service.return_incomplete(ctx, application_id=application_id, note=note), as_json)


@app.command("start-review")
def start_review(application_id: int, as_json: bool = JsonOpt) -> None:
    """Pass screening and open the application for reviewers."""
    with uow() as ctx:
        _one(service.start_review(ctx, application_id=application_id), as_json)


@app.command("reopen")
def reopen(application_id: int, as_json: bool = JsonOpt) -> None:
    """Bring a deferred application back under review."""
    with uow() as ctx:
        _one(service.reopen(ctx, application_id=application_id), as_json)


MEMBER_COLUMNS = ["person_id", "role", "added_at"]


@app.command("members")
def members(application_id: int, as_json: bool = JsonOpt) -> None:
    """The project team (PI and members): who, besides staff, sees the project."""
    with uow() as ctx:
        rows = [
            MemberRead.model_validate(m)
            for m in service.list_members(ctx, application_id=application_id)
        ]
    emit_list(rows, MEMBER_COLUMNS, as_json)


@app.command("add-member")
def add_member(
    application_id: int,
    person_id: int,
    pi: bool = typer.Option(False, "--pi", help="as a principal investigator"),
    as_json: bool = JsonOpt,
) -> None:
    """Put a person of the applicant organisation on the project team."""
    with uow() as ctx:
        member = service.add_member(
            ctx,
            application_id=application_id,
            person_id=person_id,
            role=ProjectRole.PI if pi else ProjectRole.MEMBER,
        )
        emit_one(MemberRead.model_validate(member), as_json)


@app.command("remove-member")
def remove_member(application_id: int, person_id: int) -> None:
    """Take a person off the project team (the last PI stays)."""
    with uow() as ctx:
        service.remove_member(ctx, application_id=application_id, person_id=person_id)
    typer.echo(f"person {person_id} removed from application {application_id}")
