"""Earmarks: what each earmark set aside, spent against it and remaining; finance records a
payment (with its evidence) or reverses one. Secretariat and auditor read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aisc.errors import AiscError, ValidationFailed
from aisc.ledger.earmarks import service as earmarks
from aisc.ledger.earmarks.schemas import EarmarkRead, EarmarkSpendCreate, EarmarkSpendRead
from aisc.money import parse_hkd
from aisc.portal.labels import N_
from aisc.portal.public import Form
from aisc.portal.web import (
    PageContext,
    form_errors,
    page_action,
    page_for,
    parse_form,
    status_of,
    whole_number,
)

router = APIRouter(include_in_schema=False)
FIELDS = ("earmark", "vendor", "purpose", "spent_on", "evidence_ref", "evidence_sha256")


def _page(page: PageContext, status: int = 200, **extra: Any) -> Response:
    with page.uow() as ctx:
        positions = [EarmarkRead.of(p) for p in earmarks.earmarks(ctx)]
        spends = [EarmarkSpendRead.of(s) for s in earmarks.list_spends(ctx)]
        this_year = ctx.now.year
    reversed_ids = {s.reverses_id for s in spends if s.reverses_id is not None}
    options = [(p.earmark, p.earmark) for p in positions]
    return page.render("earmarks.html", status, positions=positions, spends=spends,
                       options=options, reversed_ids=reversed_ids,
                       report_years=range(this_year, 2023, -1),
                       values=extra.get("values", {}))  # fmt: skip


@router.get("/earmarks", response_class=HTMLResponse)
@page_action("earmark.read")
def earmarks_page(request: Request) -> Response:
    return _page(page_for(request))


@router.post("/earmarks", response_class=HTMLResponse)
@page_action("earmark.spend")
def record_spend(request: Request, form: Form) -> Response:
    page = page_for(request, form)
    try:
        cents = parse_hkd(str(form.get("amount_hkd", "")), field="amount_hkd")
        data = {k: str(form.get(k, "")).strip() for k in FIELDS}
        data["evidence_sha256"] = data["evidence_sha256"].lower() or None  # type: ignore[assignment]
        spend = parse_form(EarmarkSpendCreate, {**data, "amount_hkd": "1"})
        with page.uow() as ctx:
            earmarks.spend(ctx, earmark=spend.earmark, vendor=spend.vendor,
                           purpose=spend.purpose, spent_on=spend.spent_on, amount_cents=cents,
                           evidence_ref=spend.evidence_ref,
                           evidence_sha256=spend.evidence_sha256)  # fmt: skip
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        if "amount" in page.errors:
            page.errors["amount_hkd"] = page.errors.pop("amount")
        return _page(page, status_of(exc), values=dict(form))
    return page.redirect("/earmarks", N_("Payment recorded."))


@router.post("/earmarks/reverse", response_class=HTMLResponse)
@page_action("earmark.spend")
def reverse_spend(request: Request, form: Form) -> Response:
    page = page_for(request, form)
    try:
        spend_id = whole_number(str(form.get("spend_id", "")), field="spend_id")
        if spend_id is None:
            raise ValidationFailed("spend_id: choose a payment to reverse", field="spend_id")
        with page.uow() as ctx:
            earmarks.reverse(ctx, spend_id=spend_id, reason=str(form.get("reason", "")))
    except AiscError as exc:
        page.errors, page.problem = form_errors(exc)
        return _page(page, status_of(exc), values=dict(form))
    return page.redirect("/earmarks", N_("Payment reversed."))
