"""The finance pages read money as every other edge does (``aisc.money.parse_hkd``) and open by
their matrix actions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from aisc.billing.models import CreditNote
from tests.portal.conftest import audit_count, csrf_of


def _notes(uow) -> list[tuple[int, int]]:
    with uow() as ctx:
        return [
            (n.invoice_id, n.list_cents)
            for n in ctx.db.execute(select(CreditNote).order_by(CreditNote.id)).scalars()
        ]


def _post_credit(client, centre, amount: str):
    token = csrf_of(client.get(f"/invoices/{centre.invoice_a}").text)
    return client.post(
        f"/finance/invoices/{centre.invoice_a}/credit",
        data={"amount_hkd": amount, "reason": "meter fault", "csrf_token": token},
        follow_redirects=False,
    )


@pytest.mark.parametrize("typed", ["1.005", "12,00.5", "1e3", "0x10", "1,2345"])
def test_an_amount_not_as_typed_is_refused_naming_the_field(browsers, centre, uow, typed):
    client = browsers("finance")  # signed in first: signing in writes audit events
    notes, events = _notes(uow), audit_count(uow)
    response = _post_credit(client, centre, typed)
    assert response.status_code == 422, response.text[-500:]
    assert 'id="e-amount_hkd"' in response.text
    assert "at most two decimals" in response.text
    assert _notes(uow) == notes
    assert audit_count(uow) == events


def test_an_amount_with_thousands_separators_is_read_exactly(browsers, centre, uow):
    client = browsers("finance")
    with uow() as ctx:
        before = int(ctx.db.execute(select(func.count()).select_from(CreditNote)).scalar_one())
    events = audit_count(uow)
    response = _post_credit(client, centre, "1,200.50")
    assert response.status_code == 303, response.text[-500:]
    assert _notes(uow)[before:] == [(centre.invoice_a, 120050)]
    assert audit_count(uow) == events + 2  # the credit note and the ledger's reversal


def test_more_than_is_left_to_credit_is_shown_on_the_amount(browsers, centre, uow):
    client = browsers("finance")
    notes, events = _notes(uow), audit_count(uow)
    response = _post_credit(client, centre, "99,999,999.99")
    assert response.status_code == 422
    assert 'id="e-amount_hkd"' in response.text
    assert "what is left to credit" in response.text
    assert (_notes(uow), audit_count(uow)) == (notes, events)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/finance", {"finance", "auditor"}),
        ("/operator", {"operator", "auditor"}),
        ("/charts/capacity.svg", {"operator", "secretariat", "auditor"}),
        ("/charts/utilisation.svg", {"operator", "secretariat", "auditor"}),
    ],
)
def test_staff_pages_open_by_their_matrix_action(browsers, path, allowed):
    for persona in ("pi", "member", "secretariat", "operator", "finance", "auditor"):
        status = browsers(persona).get(path, follow_redirects=False).status_code
        assert status == (200 if persona in allowed else 403), (persona, path, status)


def test_only_finance_posts_a_credit_note(browsers, centre, uow):
    notes = _notes(uow)
    for persona in ("auditor", "secretariat", "pi"):
        client = browsers(persona)
        token = csrf_of(client.get(f"/invoices/{centre.invoice_a}").text)
        refused = client.post(
            f"/finance/invoices/{centre.invoice_a}/credit",
            data={"amount_hkd": "1.00", "reason": "x", "csrf_token": token},
        )
        assert refused.status_code == 403, persona
    assert _notes(uow) == notes
