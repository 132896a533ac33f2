"""The money after the invoice in the portal: finance records and reverses payments, the
finance page ages what is owed, an organisation's members read their own statement of account."""

from __future__ import annotations

import re

from sqlalchemy import select

from aisc.billing.models import Payment
from tests.portal.conftest import csrf_of


def _payments(uow) -> list[int]:
    with uow() as ctx:
        return [
            p.amount_cents for p in ctx.db.execute(select(Payment).order_by(Payment.id)).scalars()
        ]


def _post(client, centre, action: str, data: dict[str, str]):
    token = csrf_of(client.get(f"/invoices/{centre.invoice_a}").text)
    return client.post(
        f"/finance/invoices/{centre.invoice_a}/{action}",
        data={**data, "csrf_token": token},
        follow_redirects=False,
    )


def test_finance_records_and_reverses_a_payment(browsers, centre, uow, clock):
    client = browsers("finance")
    today = f"{clock().date()}"
    page = client.get(f"/invoices/{centre.invoice_a}").text
    assert "Record a payment" in page
    assert "Unpaid" in page
    refused = _post(
        client, centre, "payments",
        {"amount_hkd": "99,999,999.99", "received_on": today, "reference": "B1"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert 'id="e-amount_hkd"' in refused.text
    done = _post(
        client, centre, "payments",
        {"amount_hkd": "1,000.50", "received_on": today, "reference": "B1", "method": "fps"},
    )  # fmt: skip
    assert done.status_code == 303, done.text[-500:]
    assert _payments(uow) == [100050]
    page = client.get(f"/invoices/{centre.invoice_a}").text
    assert "Part paid" in page
    assert "PAY-000001" in page
    with uow() as ctx:
        first = ctx.db.execute(select(Payment.id)).scalar_one()
    back = _post(client, centre, "payment-reversals", {"payment_id": str(first), "reason": "dup"})
    assert back.status_code == 303, back.text[-500:]
    assert _payments(uow) == [100050, -100050]
    bad = _post(client, centre, "payments", {"amount_hkd": "1", "received_on": "someday"})
    assert bad.status_code == 422
    assert 'id="e-received_on"' in bad.text


def test_only_finance_records_a_payment(browsers, centre, uow, clock):
    for persona in ("auditor", "secretariat", "pi"):
        client = browsers(persona)
        assert "Record a payment" not in client.get(f"/invoices/{centre.invoice_a}").text
        refused = _post(
            client, centre, "payments",
            {"amount_hkd": "1", "received_on": f"{clock().date()}", "reference": "x"},
        )  # fmt: skip
        assert refused.status_code == 403, persona
    assert _payments(uow) == []


def test_the_finance_page_ages_what_is_owed_with_totals(browsers, centre, clock):
    page = browsers("finance").get("/finance", params={"as_of": "2025-12-31"}).text
    assert "Receivables" in page
    table = page[page.index('id="h-ageing"') :]
    assert f'href="/organisations/{centre.uni}/statement-of-account"' in table
    assert re.search(r"<tfoot><tr><th scope=\"row\">Total</th>", table)
    assert "/api/v1/billing/export.csv?from=2025-12" in page


def test_an_organisations_members_read_its_statement_of_account(browsers, centre):
    path = f"/organisations/{centre.uni}/statement-of-account"
    expected = {
        "pi": 200, "member": 200, "finance": 200, "auditor": 200, "secretariat": 200,
        "outsider": 404, "operator": 404,
    }  # fmt: skip
    got = {p: browsers(p).get(path, follow_redirects=False).status_code for p in expected}
    assert got == expected
    page = browsers("pi").get(path).text
    assert "Harbour University" in page
    assert "INV-" in page
    assert "Statement of account" in browsers("pi").get(f"/organisations/{centre.uni}").text
