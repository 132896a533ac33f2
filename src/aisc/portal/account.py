"""Account pages: changing one's own password, resetting a forgotten one by e-mail, and the
staff page of people (sign a person out everywhere; approve or reject asked staff roles)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aisc.accounts import auth
from aisc.accounts import service as accounts
from aisc.accounts.mail import request_reset_link
from aisc.accounts.models import RoleRequestStatus
from aisc.errors import AiscError
from aisc.portal.labels import N_
from aisc.portal.public import Form
from aisc.portal.web import PageContext, form_errors, page_action, page_for, status_of
from aisc.webshared import IdPath

router = APIRouter(include_in_schema=False)
PASSWORD_CHANGED = N_("Your password is changed; you were signed out everywhere else.")
PASSWORD_SET = N_("Your password is set; sign in with it.")
SIGNED_OUT_PERSON = N_("Signed out everywhere: every session and API token ended.")
ROLE_APPROVED = N_("Role granted.")
ROLE_REJECTED = N_("Role request rejected.")


# --- one's own password ----------------------------------------------------------------------


@router.get("/account/password", response_class=HTMLResponse)
@page_action("password.change")
def password_form(request: Request) -> Response:
    page = page_for(request)
    return page.render("account_password.html")


@router.post("/account/password", response_class=HTMLResponse)
@page_action("password.change")
def change_password(request: Request, form: Form) -> Response:
    page = page_for(request, form)
    current = str(form.get("current_password", ""))
    new = str(form.get("new_password", ""))
    if new != str(form.get("confirm_password", "")):
        page.errors = {"confirm_password": page.gettext("The two new passwords differ.")}
        return page.render("account_password.html", 422)
    try:
        with page.uow() as ctx:
            ended = auth.change_own_password(
                ctx, current_password=current, new_password=new, session_id=page.session_id
            )
    except AiscError as exc:  # the new password breaks the policy
        page.errors, page.problem = form_errors(exc)
        return page.render("account_password.html", status_of(exc))
    if ended is None:  # counted towards the lock before this answer
        page.errors = {"current_password": page.gettext("This is not your current password.")}
        return page.render("account_password.html", 403)
    return page.redirect("/account/password", PASSWORD_CHANGED)


# --- a forgotten password ----------------------------------------------------------------------


@router.get("/password-reset", response_class=HTMLResponse)
@page_action("password.reset")
def reset_form(request: Request) -> Response:
    return page_for(request).render("password_reset.html", sent=False, email="")


@router.post("/password-reset", response_class=HTMLResponse)
@page_action("password.reset")
def request_reset(request: Request, form: Form) -> Response:
    page = page_for(request)
    email = str(form.get("email", "")).strip()[:254]
    if not email:
        page.errors = {"email": page.gettext("Enter your e-mail address.")}
        return page.render("password_reset.html", 422, sent=False, email="")
    with page.uow() as ctx:
        request_reset_link(ctx, email=email, base_url=str(request.base_url))
    # The same page whether or not the address has an account.
    return page.render("password_reset.html", sent=True, email=email)


@router.get("/password-reset/confirm", response_class=HTMLResponse)
@page_action("password.reset")
def reset_confirm_form(request: Request, token: str = "") -> Response:
    return page_for(request).render("password_reset_confirm.html", token=token[:200])


@router.post("/password-reset/confirm", response_class=HTMLResponse)
@page_action("password.reset")
def confirm_reset(request: Request, form: Form) -> Response:
    page = page_for(request)
    token = str(form.get("token", ""))[:200]
    new = str(form.get("new_password", ""))
    if new != str(form.get("confirm_password", "")):
        page.errors = {"confirm_password": page.gettext("The two new passwords differ.")}
        return page.render("password_reset_confirm.html", 422, token=token)
    try:
        with page.uow() as ctx:
            auth.confirm_password_reset(ctx, secret=token, password=new)
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return page.render("password_reset_confirm.html", status_of(exc), token=token)
    return page.redirect("/login", PASSWORD_SET)


# --- staff: people, signing out, role approvals --------------------------------------------------


def _people_page(page: PageContext, status: int = 200) -> Response:
    with page.uow() as ctx:
        people = accounts.list_people(ctx, limit=500)
        requests = accounts.list_role_requests(ctx, status=RoleRequestStatus.PENDING)
        names = {p.id: p.name for p in people}
        rows: list[dict[str, Any]] = [
            {
                "id": p.id,
                "name": p.name,
                "email": p.email,
                "roles": sorted(p.role_set),
                "active": p.is_active,
            }
            for p in people
        ]
        pending = [
            {
                "id": r.id,
                "person": names.get(r.person_id, f"#{r.person_id}"),
                "role": r.role.value,
                "by": names.get(r.requested_by_id or 0, "system"),
                "mine": r.requested_by_id == page.principal.person_id,
                "at": r.requested_at,
            }
            for r in requests
        ]
    return page.render(
        "people.html",
        status,
        people=rows,
        pending=pending,
        can_manage=page.may("role_request.decide"),
    )


@router.get("/people", response_class=HTMLResponse)
@page_action("role_request.read")
def people(request: Request) -> Response:
    page = page_for(request)
    return _people_page(page)


def _staff_action(request: Request, form: Any, act: Any, notice: str) -> Response:
    page = page_for(request, form)
    try:
        with page.uow() as ctx:
            act(ctx)
    except AiscError as exc:
        page.problem = exc.message
        return _people_page(page, status_of(exc))
    return page.redirect("/people", notice)


@router.post("/people/{person_id}/sign-out", response_class=HTMLResponse)
@page_action("person.signout")
def sign_out(request: Request, person_id: IdPath, form: Form) -> Response:
    return _staff_action(
        request, form, lambda ctx: auth.sign_out_person(ctx, person_id=person_id), SIGNED_OUT_PERSON
    )


@router.post("/role-requests/{request_id}/approve", response_class=HTMLResponse)
@page_action("role_request.decide")
def approve(request: Request, request_id: IdPath, form: Form) -> Response:
    return _staff_action(
        request,
        form,
        lambda ctx: accounts.approve_role_request(ctx, request_id=request_id),
        ROLE_APPROVED,
    )


@router.post("/role-requests/{request_id}/reject", response_class=HTMLResponse)
@page_action("role_request.decide")
def reject(request: Request, request_id: IdPath, form: Form) -> Response:
    return _staff_action(
        request,
        form,
        lambda ctx: accounts.reject_role_request(ctx, request_id=request_id),
        ROLE_REJECTED,
    )
