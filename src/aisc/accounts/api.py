from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from aisc.accounts import auth, service, signin, vetting
from aisc.accounts.mail import request_reset_link
from aisc.accounts.models import Role, RoleRequestStatus
from aisc.accounts.oidc import Pending, Provider
from aisc.accounts.schemas import (
    CategorySet,
    FlagClear,
    LoginIn,
    Notice,
    OrganisationCreate,
    OrganisationFlagRead,
    OrganisationRead,
    OrganisationUpdate,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    PersonCreate,
    PersonRead,
    PersonUpdate,
    RoleDecision,
    RoleRequestRead,
    SessionRead,
    SignedOut,
    TokenCreate,
    TokenCreated,
    TokenRead,
)
from aisc.errors import Unauthenticated
from aisc.http import THROTTLED_RESPONSES, PagingDep, Uow, requires
from aisc.webshared import SESSION_COOKIE, IdPath, client_address, set_session_cookie

router = APIRouter(tags=["accounts"])
OIDC_COOKIE = "aisc_oidc"
OIDC_PATH = "/api/v1/auth/oidc"


@router.post(
    "/auth/login",
    response_model=SessionRead,
    dependencies=[requires("session.start")],
    responses=THROTTLED_RESPONSES,
)
def login(data: LoginIn, request: Request, response: Response, uow: Uow) -> SessionRead:
    """Sign in with e-mail and password: sets the session cookie (HttpOnly, Secure, Lax).

    Limited per client address (429 with Retry-After). Five failures in a row from one address
    lock that address out of the account for 15 minutes; the answer never says which part was
    wrong, and takes the same time either way.
    """
    # The password is checked between two short transactions, never inside one.
    with uow(write=False) as ctx:
        attempt = signin.read_attempt(ctx, email=data.email, source=client_address(request))
    verdict = signin.check_password(attempt, data.password, slots=request.app.state.hash_slots)
    with uow() as ctx:
        person = signin.record_attempt(ctx, attempt=attempt, verdict=verdict)
        if person is not None:
            secret, session = auth.start_session(ctx, person=person)
            body = SessionRead(
                person=PersonRead.of(person), via="session", csrf_token=session.csrf_token
            )
    if person is None:  # the failure is committed (it counts towards the lock) before refusing
        raise Unauthenticated("invalid e-mail or password")
    set_session_cookie(request, response, secret)
    return body


def _provider(request: Request) -> Provider:
    state = request.app.state
    if getattr(state, "oidc", None) is None:
        state.oidc = Provider(state.settings)  # refuses (404) when OIDC is not configured
    provider: Provider = state.oidc
    return provider


@router.get(
    "/auth/oidc/login",
    response_class=RedirectResponse,
    status_code=status.HTTP_302_FOUND,
    dependencies=[requires("session.start")],
)
def oidc_login(request: Request) -> RedirectResponse:
    """Sign in through the configured OpenID provider: redirects there (404 if none)."""
    provider = _provider(request)
    url, pending = provider.begin(str(request.url_for("oidc_callback")))
    response = RedirectResponse(url, status_code=status.HTTP_302_FOUND)
    response.set_cookie(
        OIDC_COOKIE,
        pending.dump(),
        max_age=600,
        httponly=True,
        secure=request.app.state.settings.cookie_secure,
        samesite="lax",
        path=OIDC_PATH,
    )
    return response


@router.get(
    "/auth/oidc/callback",
    name="oidc_callback",
    response_class=RedirectResponse,
    status_code=status.HTTP_303_SEE_OTHER,
    dependencies=[requires("session.start")],
    responses=THROTTLED_RESPONSES,
)
def oidc_callback(
    request: Request,
    uow: Uow,
    code: str = Query(min_length=1, max_length=4000),
    state: str = Query(min_length=1, max_length=200),
) -> RedirectResponse:
    """Where the provider sends the browser back: starts a session for the matching account."""
    provider = _provider(request)
    pending = Pending.load(request.cookies.get(OIDC_COOKIE, ""))
    # The provider is asked (network) before the transaction opens, not while it holds a lock.
    claims = provider.exchange(
        code=code,
        state=state,
        pending=pending,
        redirect_url=str(request.url_for("oidc_callback")),
    )
    with uow(write=True) as ctx:  # a GET that starts a session
        person = provider.finish(ctx, claims=claims)
        if person is not None:
            secret, _session = auth.start_session(ctx, person=person, via="oidc")
    if person is None:  # recorded and committed before refusing
        raise Unauthenticated("there is no aisc account for this identity")
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(request, response, secret)
    response.delete_cookie(OIDC_COOKIE, path=OIDC_PATH)
    return response


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
def list_organisations(uow: Uow, page: PagingDep) -> list[OrganisationRead]:
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
    """Change the profile; the category only the secretariat changes (403 for anyone else)."""
    with uow() as ctx:
        return OrganisationRead.model_validate(
            service.update_organisation(ctx, organisation_id=organisation_id, data=data)
        )


@router.put(
    "/organisations/{organisation_id}/category",
    response_model=OrganisationRead,
    dependencies=[requires("organisation.vet")],
)
def set_category(organisation_id: IdPath, data: CategorySet, uow: Uow) -> OrganisationRead:
    """Set or confirm the category (the secretariat); the open applications are re-screened."""
    with uow() as ctx:
        return OrganisationRead.model_validate(
            vetting.set_category(
                ctx, organisation_id=organisation_id, category=data.category, note=data.note
            )
        )


@router.get(
    "/organisation-flags",
    response_model=list[OrganisationFlagRead],
    dependencies=[requires("organisation_flag.read")],
)
def list_flags(
    uow: Uow, page: PagingDep, include_cleared: bool = False
) -> list[OrganisationFlagRead]:
    """Organisations whose names look like another's, open ones unless told otherwise."""
    with uow() as ctx:
        rows = vetting.list_flags(
            ctx, include_cleared=include_cleared, limit=page.limit, offset=page.offset
        )
        return [OrganisationFlagRead.model_validate(f) for f in rows]


@router.post(
    "/organisation-flags/{flag_id}/clear",
    response_model=OrganisationFlagRead,
    dependencies=[requires("organisation.vet")],
)
def clear_flag(flag_id: IdPath, data: FlagClear, uow: Uow) -> OrganisationFlagRead:
    """The secretariat has looked: a different organisation. Its applications are re-screened."""
    with uow() as ctx:
        return OrganisationFlagRead.model_validate(
            vetting.clear_flag(ctx, flag_id=flag_id, note=data.note)
        )


@router.get("/people", response_model=list[PersonRead], dependencies=[requires("person.read")])
def list_people(uow: Uow, page: PagingDep, role: Role | None = None) -> list[PersonRead]:
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


@router.patch(
    "/people/{person_id}", response_model=PersonRead, dependencies=[requires("person.manage")]
)
def update_person(person_id: IdPath, data: PersonUpdate, uow: Uow) -> PersonRead:
    """Change a person's name, roles, organisations or whether they may sign in."""
    with uow() as ctx:
        return PersonRead.of(service.update_person(ctx, person_id=person_id, data=data))


# --- passwords, resets, signing people out, staff role approvals ------------------------------

RESET_NOTICE = (
    "If an active account has this e-mail address, a reset link is on its way to it; "
    "it works once, for an hour."
)


@router.post("/auth/password", response_model=SignedOut, dependencies=[requires("password.change")])
def change_password(data: PasswordChange, request: Request, uow: Uow) -> SignedOut:
    """Change your own password (the current one is required).

    Every other session and every API token of yours ends; the browser session this is sent
    in stays signed in (a token used to send it is revoked with the others).
    """
    with uow() as ctx:
        ended = auth.change_own_password(
            ctx,
            current_password=data.current_password,
            new_password=data.new_password,
            session_id=getattr(request.state, "session_id", None),
        )
    if ended is None:  # the failure counted towards the lock before this answer
        raise auth.WrongPassword(
            "current_password: not your current password", field="current_password"
        )
    return SignedOut(person_id=ended.person_id, sessions=ended.sessions, tokens=ended.tokens)


@router.post(
    "/auth/password-reset",
    response_model=Notice,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[requires("password.reset")],
)
def request_password_reset(data: PasswordResetRequest, request: Request, uow: Uow) -> Notice:
    """Ask for a password reset link by e-mail.

    The answer is the same whether or not the address has an account; at most three links
    an hour are sent to one account. The mail is queued with this answer and leaves after it
    (the outbox).
    """
    with uow() as ctx:
        request_reset_link(ctx, email=data.email, base_url=str(request.base_url))
    return Notice(message=RESET_NOTICE)


@router.post(
    "/auth/password-reset/confirm",
    response_model=Notice,
    dependencies=[requires("password.reset")],
)
def confirm_password_reset(data: PasswordResetConfirm, uow: Uow) -> Notice:
    """Set a new password with the code from a reset e-mail: lifts a lockout and signs the
    account out everywhere."""
    with uow() as ctx:
        auth.confirm_password_reset(ctx, secret=data.token, password=data.new_password)
    return Notice(message="Your password is set; sign in with it.")


@router.post(
    "/people/{person_id}/sign-out",
    response_model=SignedOut,
    dependencies=[requires("person.signout")],
)
def sign_out_person(person_id: IdPath, uow: Uow) -> SignedOut:
    """End every browser session and API token of a person at once."""
    with uow() as ctx:
        ended = auth.sign_out_person(ctx, person_id=person_id)
        return SignedOut(person_id=ended.person_id, sessions=ended.sessions, tokens=ended.tokens)


@router.get(
    "/role-requests",
    response_model=list[RoleRequestRead],
    dependencies=[requires("role_request.read")],
)
def list_role_requests(
    uow: Uow, page: PagingDep, status: RoleRequestStatus | None = None
) -> list[RoleRequestRead]:
    """Staff roles asked for (newest first), pending and decided."""
    with uow() as ctx:
        rows = service.list_role_requests(ctx, status=status, limit=page.limit, offset=page.offset)
        return [RoleRequestRead.model_validate(r) for r in rows]


@router.post(
    "/role-requests/{request_id}/approve",
    response_model=RoleRequestRead,
    dependencies=[requires("role_request.decide")],
)
def approve_role_request(
    request_id: IdPath, uow: Uow, data: RoleDecision | None = None
) -> RoleRequestRead:
    """Grant the asked staff role: only a staff member other than the one who asked."""
    with uow() as ctx:
        row = service.approve_role_request(
            ctx, request_id=request_id, note=data.note if data else ""
        )
        return RoleRequestRead.model_validate(row)


@router.post(
    "/role-requests/{request_id}/reject",
    response_model=RoleRequestRead,
    dependencies=[requires("role_request.decide")],
)
def reject_role_request(
    request_id: IdPath, uow: Uow, data: RoleDecision | None = None
) -> RoleRequestRead:
    """Refuse (or, for whoever asked, withdraw) an asked staff role."""
    with uow() as ctx:
        row = service.reject_role_request(
            ctx, request_id=request_id, note=data.note if data else ""
        )
        return RoleRequestRead.model_validate(row)
