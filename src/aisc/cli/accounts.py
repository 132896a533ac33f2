from __future__ import annotations

import typer

from aisc.accounts import service
from aisc.accounts.models import OrgCategory, Role
from aisc.accounts.schemas import (
    OrganisationCreate,
    OrganisationRead,
    OrganisationUpdate,
    PersonCreate,
    PersonRead,
)
from aisc.cli.common import JsonOpt, emit_list, emit_one, parse, uow

org_app = typer.Typer(help="Organisations (applicant entities).", no_args_is_help=True)
person_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
ORG_COLUMNS = ["id", "name", "category", "br_number"]


@org_app.command("list")
def list_orgs(limit: int = 100, offset: int = 0, as_json: bool = JsonOpt) -> None:
    with uow() as ctx:
        rows = service.list_organisations(ctx, limit=limit, offset=offset)
        emit_list([OrganisationRead.model_validate(o) for o in rows], ORG_COLUMNS, as_json)


@org_app.command("create")
def create_org(
    name: str = typer.Option(...),
    category: OrgCategory = typer.Option(...),
    name_zh: str = typer.Option(None),
    br_number: str = typer.Option(None),
    description: str = typer.Option(""),
    as_json: bool = JsonOpt,
) -> None:
    data = parse(
        OrganisationCreate,
        {
            "name": name,
            "category": category,
            "name_zh": name_zh,
            "br_number": br_number,
            "description": description,
        },
    )
    with uow() as ctx:
        emit_one(
            OrganisationRead.model_validate(service.create_organisation(ctx, data=data)), as_json
        )


@org_app.command("show")
def show_org(organisation_id: int, as_json: bool = JsonOpt) -> None:
    with uow() as ctx:
        emit_one(
            OrganisationRead.model_validate(
                service.get_organisation(ctx, organisation_id=organisation_id)
            ),
            as_json,
        )


@org_app.command("update")
def update_org(
    organisation_id: int,
    name: str = typer.Option(None),
    category: OrgCategory = typer.Option(None),
    name_zh: str = typer.Option(None),
    br_number: str = typer.Option(None),
    description: str = typer.Option(None),
    as_json: bool = JsonOpt,
) -> None:
    fields = {
        "name": name,
        "category": category,
        "name_zh": name_zh,
        "br_number": br_number,
        "description": description,
    }
    data = parse(OrganisationUpdate, {k: v for k, v in fields.items() if v is not None})
    with uow() as ctx:
        emit_one(
            OrganisationRead.model_validate(
                service.update_organisation(ctx, organisation_id=organisation_id, data=data)
            ),
            as_json,
        )


@person_app.command("list")
def list_people(
    role: Role = typer.Option(None), limit: int = 100, offset: int = 0, as_json: bool = JsonOpt
) -> None:
    with uow() as ctx:
        rows = service.list_people(ctx, role=role, limit=limit, offset=offset)
        emit_list(
            [PersonRead.of(p) for p in rows],
            ["id", "email", "name", "roles", "organisation_ids"],
            as_json,
        )


@person_app.command("create")
def create_person(
    email: str = typer.Option(...),
    name: str = typer.Option(...),
    role: list[Role] = typer.Option(None, help="repeat for several roles"),
    org: list[int] = typer.Option(None, help="organisation id; repeat for several"),
    as_json: bool = JsonOpt,
) -> None:
    data = parse(
        PersonCreate,
        {"email": email, "name": name, "roles": role or [], "organisation_ids": org or []},
    )
    with uow() as ctx:
        emit_one(PersonRead.of(service.create_person(ctx, data=data)), as_json)


@person_app.command("show")
def show_person(person_id: int, as_json: bool = JsonOpt) -> None:
    with uow() as ctx:
        emit_one(PersonRead.of(service.get_person(ctx, person_id=person_id)), as_json)
