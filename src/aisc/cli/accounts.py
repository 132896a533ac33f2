from __future__ import annotations

import json
import sys

import typer

from aisc.accounts import auth, service, vetting
from aisc.accounts.models import OrgCategory, Role, RoleRequestStatus
from aisc.accounts.schemas import (
    CategorySet,
    OrganisationCreate,
    OrganisationFlagRead,
    OrganisationRead,
    OrganisationUpdate,
    PersonCreate,
    PersonRead,
    PersonUpdate,
    RoleRequestRead,
    TokenRead,
)
from aisc.cli.common import JsonOpt, emit_list, emit_one, parse, uow

org_app = typer.Typer(help="Organisations (applicant entities).", no_args_is_help=True)
person_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
ORG_COLUMNS = ["id", "name", "category", "br_number"]


@org_app.command("list")
def list_orgs(limit: int = 100, offset: int = 0, as_json: bool = JsonOpt) -> None:
    """List organisations."""
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
    """Register an organisation (a university, company or public body)."""
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
    """Show one organisation."""
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
    """Change an organisation's name, category, registration or description."""
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


@org_app.command("set-category")
def set_category(
    organisation_id: int,
    category: OrgCategory = typer.Argument(..., help="the category the secretariat confirms"),
    note: str = typer.Option("", help="why (kept in the audit trail)"),
    as_json: bool = JsonOpt,
) -> None:
    """Set or confirm an organisation's category; its open applications are re-screened."""
    data = parse(CategorySet, {"category": category, "note": note})
    with uow() as ctx:
        org = vetting.set_category(
            ctx, organisation_id=organisation_id, category=data.category, note=data.note
        )
        emit_one(OrganisationRead.model_validate(org), as_json)


@org_app.command("flags")
def list_flags(
    include_cleared: bool = typer.Option(False, "--all", help="cleared flags too"),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """Organisations whose names look like another organisation's, for the secretariat."""
    with uow() as ctx:
        rows = vetting.list_flags(ctx, include_cleared=include_cleared, limit=limit, offset=offset)
        emit_list(
            [OrganisationFlagRead.model_validate(f) for f in rows],
            ["id", "organisation_id", "resembles_id", "reason", "cleared_at"],
            as_json,
        )


@org_app.command("clear-flag")
def clear_flag(
    flag_id: int,
    note: str = typer.Option("", help="what the secretariat found"),
    as_json: bool = JsonOpt,
) -> None:
    """Clear a look-alike flag (a different organisation); its applications are re-screened."""
    with uow() as ctx:
        emit_one(
            OrganisationFlagRead.model_validate(
                vetting.clear_flag(ctx, flag_id=flag_id, note=note)
            ),
            as_json,
        )


@person_app.command("list")
def list_people(
    role: Role = typer.Option(None), limit: int = 100, offset: int = 0, as_json: bool = JsonOpt
) -> None:
    """List people, optionally those holding one role."""
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
    username: str = typer.Option(None, help="cluster login (POSIX user name)"),
    role: list[Role] = typer.Option(None, help="repeat for several roles"),
    org: list[int] = typer.Option(None, help="organisation id; repeat for several"),
    as_json: bool = JsonOpt,
) -> None:
    """Create a person with their roles and organisations."""
    data = parse(
        PersonCreate,
        {
            "email": email,
            "name": name,
            "username": username,
            "roles": role or [],
            "organisation_ids": org or [],
        },
    )
    with uow() as ctx:
        emit_one(PersonRead.of(service.create_person(ctx, data=data)), as_json)


@person_app.command("update")
def update_person(
    person_id: int,
    name: str = typer.Option(None),
    username: str = typer.Option(None, help="cluster login (POSIX user name)"),
    role: list[Role] = typer.Option(None, help="replaces the roles; repeat for several"),
    org: list[int] = typer.Option(None, help="replaces the organisations; repeat"),
    active: bool = typer.Option(None, "--active/--inactive", help="allow or stop sign-in"),
    as_json: bool = JsonOpt,
) -> None:
    """Change a person; --inactive ends their sessions and tokens at once."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    if username is not None:
        changes["username"] = username
    if role:
        changes["roles"] = role
    if org:
        changes["organisation_ids"] = org
    if active is not None:
        changes["is_active"] = active
    data = parse(PersonUpdate, changes)
    with uow() as ctx:
        emit_one(PersonRead.of(service.update_person(ctx, person_id=person_id, data=data)), as_json)


@person_app.command("show")
def show_person(person_id: int, as_json: bool = JsonOpt) -> None:
    """Show one person, their roles and organisations."""
    with uow() as ctx:
        emit_one(PersonRead.of(service.get_person(ctx, person_id=person_id)), as_json)


token_app = typer.Typer(help="API tokens (scoped, expiring, revocable).", no_args_is_help=True)


@person_app.command("set-password")
def set_password(person_id: int) -> None:
    """Set a person's password, read from standard input (never from the command line).

    Every session and API token of the person ends.
    """
    password = sys.stdin.readline().rstrip("\n")
    with uow() as ctx:
        auth.set_password(ctx, person_id=person_id, password=password)
    typer.echo(f"password set for person {person_id}")


@token_app.command("create")
def token_create(
    person: int = typer.Option(...),
    name: str = typer.Option(...),
    scope: list[str] = typer.Option(["read"], help="read or write; repeat"),
    days: int = typer.Option(30, help="lifetime in days (at most 365)"),
    as_json: bool = JsonOpt,
) -> None:
    """Create a token; its secret is printed once and cannot be shown again."""
    with uow() as ctx:
        secret, token = auth.create_token(ctx, person_id=person, name=name, scopes=scope, days=days)
        row = TokenRead.model_validate(token, from_attributes=True)
    if as_json:
        typer.echo(json.dumps({**row.model_dump(mode="json"), "secret": secret}, indent=2))
    else:
        typer.echo(f"token {row.id} ({row.scopes}, expires {row.expires_at:%Y-%m-%d}): {secret}")


@token_app.command("list")
def token_list(person: int = typer.Option(None), as_json: bool = JsonOpt) -> None:
    """List API tokens (a person's, with --person); secrets are never shown."""
    with uow() as ctx:
        rows = [
            TokenRead.model_validate(t, from_attributes=True)
            for t in auth.list_tokens(ctx, person_id=person)
        ]
    emit_list(
        rows, ["id", "person_id", "name", "prefix", "scopes", "expires_at", "revoked_at"], as_json
    )


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke an API token at once."""
    with uow() as ctx:
        auth.revoke_token(ctx, token_id=token_id)
    typer.echo(f"token {token_id} revoked")


@person_app.command("sign-out")
def sign_out(person_id: int, as_json: bool = JsonOpt) -> None:
    """End every browser session and API token of a person at once."""
    with uow() as ctx:
        ended = auth.sign_out_person(ctx, person_id=person_id)
    if as_json:
        typer.echo(json.dumps({"person_id": person_id, "sessions": ended.sessions,
                               "tokens": ended.tokens}))  # fmt: skip
    else:
        typer.echo(
            f"person {person_id} signed out: {ended.sessions} session(s) ended, "
            f"{ended.tokens} token(s) revoked"
        )


ROLE_REQUEST_COLUMNS = ["id", "person_id", "role", "status", "requested_by_id", "decided_by_id"]


@person_app.command("role-requests")
def role_requests(
    status: RoleRequestStatus = typer.Option(None, help="pending, approved or rejected"),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """Staff roles asked for through the API or portal, waiting for (or past) approval."""
    with uow() as ctx:
        rows = service.list_role_requests(ctx, status=status, limit=limit, offset=offset)
        emit_list([RoleRequestRead.model_validate(r) for r in rows], ROLE_REQUEST_COLUMNS, as_json)


@person_app.command("approve-role")
def approve_role(
    request_id: int, note: str = typer.Option("", help="why"), as_json: bool = JsonOpt
) -> None:
    """Grant a requested staff role (the command line acts as the system)."""
    with uow() as ctx:
        row = service.approve_role_request(ctx, request_id=request_id, note=note)
        emit_one(RoleRequestRead.model_validate(row), as_json)


@person_app.command("reject-role")
def reject_role(
    request_id: int, note: str = typer.Option("", help="why"), as_json: bool = JsonOpt
) -> None:
    """Refuse a requested staff role."""
    with uow() as ctx:
        row = service.reject_role_request(ctx, request_id=request_id, note=note)
        emit_one(RoleRequestRead.model_validate(row), as_json)
