"""The earmarks page: finance records and reverses payments; the secretariat and the auditor
read; nobody else sees it."""

from tests.portal.conftest import audit_count, csrf_of


def test_finance_records_and_reverses_a_payment_against_an_earmark(browsers, uow):
    finance = browsers("finance")
    page = finance.get("/earmarks")
    assert page.status_code == 200
    assert "HK$100,000,000.00" in page.text
    token = csrf_of(page.text)
    form = {
        "earmark": "security", "vendor": "Harbour Red Team", "purpose": "penetration test",
        "spent_on": "2025-01-06", "amount_hkd": "1,250,000", "evidence_ref": "INV-1.pdf",
        "evidence_sha256": "", "csrf_token": token,
    }  # fmt: skip
    before = audit_count(uow)
    bad = finance.post("/earmarks", data={**form, "amount_hkd": "lots", "vendor": ""})
    assert bad.status_code == 422
    assert 'id="e-amount_hkd"' in bad.text
    over = finance.post("/earmarks", data={**form, "amount_hkd": "100,000,000.01"})
    assert over.status_code == 409
    assert "exceeds what remains" in over.text
    assert audit_count(uow) == before
    done = finance.post("/earmarks", data=form, follow_redirects=True)
    assert done.status_code == 200
    assert "HK$98,750,000.00" in done.text
    assert "Harbour Red Team" in done.text
    spend_id = done.text.split("<tr><td>", 2)[-1].split("<", 1)[0]  # the payments' first row
    reversed_ = finance.post(
        "/earmarks/reverse",
        data={"spend_id": spend_id, "reason": "wrong vendor", "csrf_token": csrf_of(done.text)},
        follow_redirects=True,
    )
    assert reversed_.status_code == 200
    assert "HK$100,000,000.00" in reversed_.text
    assert "(reversed)" in reversed_.text

    for persona, status in (("secretariat", 200), ("auditor", 200), ("pi", 403),
                            ("operator", 403)):  # fmt: skip
        assert browsers(persona).get("/earmarks").status_code == status, persona
    assert "Record a payment" not in browsers("auditor").get("/earmarks").text
    assert 'href="/earmarks"' in browsers("finance").get("/finance").text
    # The annual report is linked from the page and downloads with the signed-in session.
    auditor = browsers("auditor")
    assert 'href="/api/v1/scheme/annual-report/2025"' in auditor.get("/earmarks").text
    pdf = auditor.get("/api/v1/scheme/annual-report/2025")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert browsers("pi").get("/api/v1/scheme/annual-report/2025").status_code == 403
