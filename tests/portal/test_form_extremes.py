"""Every form of the portal, every field at its extremes: never a 500.

The POST routes are read from the application itself, so a new form without an entry here fails
the test. Each form is posted by a persona who may use it, with the session's CSRF token: first
as the page offers it (its fields as the page renders them, filled with sensible values), then
with one field at a time replaced by an extreme value (numbers past any database integer or
float, NaN, years 1 and 9999, digits ``int`` cannot read, empty and long text), and with each id
in its path replaced by one no database holds. An answer of 500 or above, or an exception out of
the application, is a failure; a refusal (4xx), a redirect or a success are all fine here (what
a refusal says is tested with the forms themselves, in test_pages and tests/security).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from aisc.portal import router as portal_router
from tests.portal.conftest import csrf_of
from tests.portal.test_pages import under_review

H800 = "H800-SXM5-80GB"
# Each stands for a family: past int64, past a float, not a number, years at the calendar's ends,
# digits int() cannot read, text no column holds.
EXTREMES = ["", "-1", "9223372036854775808", "1e400", "NaN", "0001-01-01", "9999-12-31", "²",
            "x" * 10_000]  # fmt: skip
PATH_EXTREMES = ["9" * 30, "²"]
NOT_STRETCHED = {"csrf_token", "login_token"}  # a wrong one is refused before anything else


def post_routes() -> set[str]:
    """The path of every POST route of the portal, as the application declares it."""

    def walk(routes: Any, prefix: str = "") -> Any:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                yield from walk(inner.routes, prefix + route.include_context.prefix)
            elif "POST" in (getattr(route, "methods", None) or ()):
                yield prefix + route.path

    return set(walk(portal_router.routes))


class Forms(HTMLParser):
    """The posting forms of a page: action -> {field name: the value the page gives it}."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict[str, str] | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._current = self.forms.setdefault(a.get("action", ""), {})
        if self._current is None or "name" not in a:
            return
        if tag == "input" and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("radio", "checkbox") and "checked" not in a:
                self._current.setdefault(a["name"], "")
            else:
                self._current[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
            self._current.setdefault(a["name"], "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self._current.setdefault(a["name"], "")
        elif tag == "option" and self._select and not self._current.get(self._select):
            self._current[self._select] = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._current is not None and self._textarea:
            self._current[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def test_no_portal_form_answers_500_to_a_field_at_its_extremes(browsers, centre, uow):
    from aisc.review import service as review

    pending = under_review(centre)
    undeclared = centre.to_review(title="Undeclared")
    with uow() as ctx:
        review.assign_reviewer(ctx, application_id=undeclared, reviewer_id=centre.reviewers[0])
    draft = centre.create(title="A draft")
    withdrawn = centre.create(title="To be withdrawn")
    submitted = centre.create(title="Submitted")
    returned = centre.to_review(title="To be returned")
    with uow() as ctx:
        from aisc.applications import service as applications

        applications.submit(ctx, application_id=submitted)
    apply = {"organisation_id": str(centre.uni), "title": "Extreme values", "domain": "llm",
             "compute.kind": "dedicated", "compute.gpu_model": H800, "compute.gpu_cards": "8",
             "compute.months": "6", "compute.preferred_start": "2025-06-01"}  # fmt: skip
    case = "/secretariat/applications/{application_id}"
    with uow() as ctx:
        from aisc.progress import conditions
        from aisc.progress import service as progress
        from aisc.progress.schemas import ConditionIn

        report = progress.list_reports(ctx, award_id=centre.award_a)[0].id
        condition = conditions.record_conditions(
            ctx, award_id=centre.award_a, decision_id=None, items=[ConditionIn(text="Ethics")]
        )[0].id
    # route -> (persona, the page that shows the form, the form's action, sensible values)
    forms: dict[str, tuple[str, str, str, dict[str, str]]] = {
        "/login": ("anonymous", "/login", "/login",
                   {"email": "pi@uni.example", "password": "not it", "next": "/"}),
        "/logout": ("auditor", "/", "/logout", {}),
        "/account/password": ("outsider", "/account/password", "/account/password",
                              {"current_password": "not it"}),
        "/password-reset": ("anonymous", "/password-reset", "/password-reset",
                            {"email": "pi@uni.example"}),
        "/password-reset/confirm": ("anonymous", "/password-reset/confirm?token=x",
                                    "/password-reset/confirm", {"token": "x"}),
        "/people/{person_id}/sign-out": ("secretariat", "/people",
                                         f"/people/{centre.spare}/sign-out", {}),
        "/role-requests/{request_id}/approve": ("operator", "/people",
                                                f"/role-requests/{centre.role_request}/approve",
                                                {}),
        "/role-requests/{request_id}/reject": ("operator", "/people",
                                               f"/role-requests/{centre.role_request}/reject", {}),
        "/applications/new": ("pi", "/applications/new", "/applications/new", apply),
        "/applications/{application_id}/edit": ("pi", f"/applications/{draft}/edit",
                                                f"/applications/{draft}/edit", apply),
        "/applications/{application_id}/submit": ("pi", f"/applications/{draft}",
                                                  f"/applications/{draft}/submit", {}),
        "/applications/{application_id}/withdraw": ("pi", f"/applications/{withdrawn}",
                                                    f"/applications/{withdrawn}/withdraw", {}),
        "/applications/{application_id}/members": ("pi", f"/applications/{centre.app_a}",
                                                   f"/applications/{centre.app_a}/members",
                                                   {"email": "new@uni.example"}),
        "/awards/{award_id}/accept": ("pi", f"/applications/{centre.app_a}",
                                      f"/awards/{centre.award_a}/accept", {}),
        "/organisations/{organisation_id}": ("pi", f"/organisations/{centre.uni}",
                                             f"/organisations/{centre.uni}", {}),
        "/reviews/{application_id}/declaration": ("reviewer", f"/reviews/{undeclared}",
                                                  f"/reviews/{undeclared}/declaration",
                                                  {"conflict": "no"}),
        "/reviews/{application_id}/scores": ("reviewer", f"/reviews/{pending}",
                                             f"/reviews/{pending}/scores", {}),
        f"{case}/screen": ("secretariat", f"/secretariat/applications/{submitted}",
                           f"/secretariat/applications/{submitted}/screen", {}),
        f"{case}/start_review": ("secretariat", f"/secretariat/applications/{submitted}",
                                 f"/secretariat/applications/{submitted}/start_review", {}),
        f"{case}/return": ("secretariat", f"/secretariat/applications/{returned}",
                           f"/secretariat/applications/{returned}/return", {"note": "more"}),
        f"{case}/reopen": ("secretariat", f"/secretariat/applications/{returned}",
                           f"/secretariat/applications/{returned}/reopen", {}),
        f"{case}/assign": ("secretariat", f"/secretariat/applications/{pending}",
                           f"/secretariat/applications/{pending}/assign",
                           {"reviewer_id": str(centre.reviewers[1])}),
        f"{case}/decide": ("secretariat", f"/secretariat/applications/{pending}",
                           f"/secretariat/applications/{pending}/decide",
                           {"outcome": "approve", "subsidy_rate": "70", "grant.gpu_cards": "8",
                            "grant.months": "6", "grant.start": "2025-06-01"}),
        "/projects/{award_id}/jobs": ("member", f"/projects/{centre.award_a}",
                                      f"/projects/{centre.award_a}/jobs",
                                      {"command": "true", "partition": "training",
                                       "walltime": "1h", "nodes": "1", "gpus_per_node": "1",
                                       "name": "n"}),
        "/jobs/{job_id}/cancel": ("pi", f"/jobs/{centre.job_a}", f"/jobs/{centre.job_a}/cancel",
                                  {}),
        "/operator/nodes/{name}/state": ("operator", "/operator",
                                         "/operator/nodes/h800-000/state",
                                         {"state": "down", "reason": "x"}),
        "/finance/billing": ("finance", "/finance", "/finance/billing", {"month": "2025-03"}),
        "/finance/invoices/{invoice_id}/credit": ("finance", f"/invoices/{centre.invoice_a}",
                                                  f"/finance/invoices/{centre.invoice_a}/credit",
                                                  {"amount_hkd": "100", "reason": "goodwill"}),
        "/finance/invoices/{invoice_id}/payments": ("finance", f"/invoices/{centre.invoice_a}",
                                                    f"/finance/invoices/{centre.invoice_a}/payments",
                                                    {"amount_hkd": "1", "reference": "r",
                                                     "received_on": "2025-04-05"}),
        "/finance/invoices/{invoice_id}/payment-reversals": (
            "finance", f"/invoices/{centre.invoice_a}",
            f"/finance/invoices/{centre.invoice_a}/payment-reversals",
            {"payment_id": "1", "reason": "x"}),
        "/progress/{report_id}/submit": ("pi", f"/progress/{report}", f"/progress/{report}/submit",
                                         {"narrative": "n", "papers": "p | 10.1/x"}),
        "/progress/{report_id}/accept": ("secretariat", f"/progress/{report}",
                                         f"/progress/{report}/accept", {"note": "ok"}),
        "/progress/{report_id}/request-changes": ("secretariat", f"/progress/{report}",
                                                  f"/progress/{report}/request-changes",
                                                  {"note": "more"}),
        "/conditions/{condition_id}/resolve": ("secretariat", f"/projects/{centre.award_a}",
                                               f"/conditions/{condition}/resolve",
                                               {"outcome": "met", "text": "done"}),
        "/projects/{award_id}/changes": ("secretariat", f"/projects/{centre.award_a}",
                                         f"/projects/{centre.award_a}/changes",
                                         {"kind": "reduce", "gpu_cards": "1", "reason": "r",
                                          "decided_by": "committee", "confirm": "yes"}),
        "/earmarks": ("finance", "/earmarks", "/earmarks",
                      {"earmark": "security", "vendor": "v", "purpose": "p",
                       "spent_on": "2025-03-01", "amount_hkd": "1"}),
        "/earmarks/reverse": ("finance", "/earmarks", "/earmarks/reverse",
                              {"spend_id": "1", "reason": "x"}),
    }  # fmt: skip
    assert set(forms) == post_routes(), "every POST route of the portal has a form here"

    failures: list[str] = []
    fields_stretched = 0

    def post(client: Any, action: str, data: dict[str, str], what: str) -> None:
        try:
            answer = client.post(action, data=data, follow_redirects=False)
        except Exception as exc:  # the application raised: what a server answers 500 to
            failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
            return
        if answer.status_code >= 500:
            failures.append(f"{what}: {answer.status_code}")

    # Signing out ends the session the other forms need: that form goes last.
    for route, (persona, page, action, sensible) in sorted(
        forms.items(), key=lambda item: item[0] == "/logout"
    ):
        client = browsers(persona)
        shown = client.get(page)
        assert shown.status_code == 200, f"{route}: {page} answered {shown.status_code}"
        offered = Forms(shown.text).forms.get(action, {})
        token = {"csrf_token": csrf_of(shown.text)} if persona != "anonymous" else {}
        if action == "/login":
            found = re.search(r'name="login_token" value="([^"]+)"', shown.text)
            assert found is not None
            token = {"login_token": found.group(1)}
        good = {**offered, **sensible, **token}
        for name in sorted(set(good) - NOT_STRETCHED):
            fields_stretched += 1
            for value in EXTREMES:
                post(client, action, {**good, name: value}, f"{action} {name}={value[:20]!r}")
        ids = [part for part in route.split("/") if part.startswith("{")]
        for param in ids:
            position = route.split("/").index(param)
            for value in PATH_EXTREMES:
                parts = action.split("/")
                parts[position] = value
                post(client, "/".join(parts), good, f"{route} {param}={value!r}")
        post(client, action, good, f"{action} as offered")
    assert fields_stretched > 40
    assert not failures, "\n".join(failures)
