from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from aisc.accounts import auth, service
from aisc.accounts.models import Role
from aisc.accounts.schemas import (
    LoginIn,
    OrganisationCreate,
    OrganisationRead,
    OrganisationUpdate,
    PersonCreate,
    PersonRead,
    SessionRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
)
from aisc.errors import Unauthenticated
from aisc.http import SESSION_COOKIE, IdPath, PageDep, Uow, requires

router = APIRouter(tags=["accounts"])


@router.post("/auth/login", response_model=SessionRead, dependencies=[requires("session.start")])
def login(data: LoginIn, request: Request, response: Response, uow: Uow) -> SessionRead:
    """Sign in with e-mail and password: sets the session cookie (HttpOnly, SameSite=Strict).

    Five failures in a row lock the account for 15 minutes; the answer never says which part
    was wrong.
    """
    with uow() as ctx:
        person = auth.authenticate(ctx, email=data.email, password=data.password)
        if person is not None:
            secret, session = auth.start_session(ctx, person=person)
            body = SessionRead(
                person=PersonRead.of(person), via="session", csrf_token=session.csrf_token
            )
    if person is None:  # the failure is committed (it counts towards the lock) before refusing
        raise Unauthenticated("invalid e-mail or password")
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=auth.SESSION_HOURS * 3600,
        httponly=True,
        secure=request.app.state.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return body


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[requires("session.manage")],
)
def logout(request: Request, response: Response, uow: Uow) -> Response:
    """End the browser session (a bearer token stays valid: revoke it to end it)."""
    session_id = getattr(request.state, "session_id", None)
    if session_id is not None:
        with uow() as ctx:
            auth.end_session(ctx, session_id=session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = status.HTTP_204_NO_CONTENT
    return response


@router.get("/auth/me", response_model=SessionRead, dependencies=[requires("session.read")])
def me(request: Request, uow: Uow) -> SessionRead:
    """Who is signed in, and the CSRF token of the session (if it is one)."""
    with uow() as ctx:
        person_id = ctx.principal.person_id
        assert person_id is not None  # session.read is for signed-in people only
        person = service.view_person(ctx, person_id=person_id)
        csrf = auth.session_csrf(ctx, getattr(request.state, "session_id", None))
        return SessionRead(person=PersonRead.of(person), via=ctx.principal.via, csrf_token=csrf)


@router.get("/auth/tokens", response_model=list[TokenRead], dependencies=[requires("session.read")])
def list_tokens(uow: Uow) -> list[TokenRead]:
    """The caller's own API tokens (never their secrets)."""
    with uow() as ctx:
        return [TokenRead.model_validate(t) for t in auth.list_tokens(ctx)]


@router.post(
    "/auth/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("session.manage")],
)
def create_token(data: TokenCreate, uow: Uow) -> TokenCreated:
    """A new API token for the caller; its secret is in this response and nowhere else."""
    with uow() as ctx:
        secret, token = auth.create_token(
            ctx, person_id=None, name=data.name, scopes=list(data.scopes), days=data.days
        )
        return TokenCreated(**TokenRead.model_validate(token).model_dump(), secret=secret)


@router.delete(
    "/auth/tokens/{token_id}", response_model=TokenRead, dependencies=[requires("session.manage")]
)
def revoke_token(token_id: IdPath, uow: Uow) -> TokenRead:
    with uow() as ctx:
        return TokenRead.model_validate(auth.revoke_token(ctx, token_id=token_id))


@router.get(
    "/organisations",
    response_model=list[OrganisationRead],
    dependencies=[requires("organisation.read")],
)
def list_organisations(uow: Uow, page: PageDep) -> list[OrganisationRead]:
    with uow() as ctx:
        rows = service.list_organisations(ctx, limit=page.limit, offset=page.offset)
        return [OrganisationRead.model_validate(o) for o in rows]


@router.post(
    "/organisations",
    response_model=OrganisationRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("organisation.create")],
)
def create_organisation(data: OrganisationCreate, uow: Uow) -> OrganisationRead:
    """Register an organisation; an applicant who registers it becomes its member."""
    with uow() as ctx:
        return OrganisationRead.model_validate(service.create_organisation(ctx, data=data))


@router.get(
    "/organisations/{organisation_id}",
    response_model=OrganisationRead,
    dependencies=[requires("organisation.read")],
)
def get_organisation(organisation_id: IdPath, uow: Uow) -> OrganisationRead:
    with uow() as ctx:
        return OrganisationRead.model_validate(
            service.view_organisation(ctx, organisation_id=organisation_id)
        )


@router.patch(
    "/organisations/{organisation_id}",
    response_model=OrganisationRead,
    dependencies=[requires("organisation.update")],
)
def update_organisation(
    organisation_id: IdPath, data: OrganisationUpdate, uow: Uow
) -> OrganisationRead:
    with uow() as ctx:
        return OrganisationRead.model_validate(
            service.update_organisation(ctx, organisation_id=organisation_id, data=data)
        )


@router.get("/people", response_model=list[PersonRead], dependencies=[requires("person.read")])
def list_people(uow: Uow, page: PageDep, role: Role | None = None) -> list[PersonRead]:
    with uow() as ctx:
        rows = service.list_people(ctx, role=role, limit=page.limit, offset=page.offset)
        return [PersonRead.of(p) for p in rows]


@router.post(
    "/people",
    response_model=PersonRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("person.manage")],
)
def create_person(data: PersonCreate, uow: Uow) -> PersonRead:
    with uow() as ctx:
        return PersonRead.of(service.create_person(ctx, data=data))


@router.get(
    "/people/{person_id}", response_model=PersonRead, dependencies=[requires("person.read")]
)
def get_person(person_id: IdPath, uow: Uow) -> PersonRead:
    with uow() as ctx:
        return PersonRead.of(service.view_person(ctx, person_id=person_id))
