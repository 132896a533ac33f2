"""Receivables: terms, payments (partial, full, refused, racing, reversed), ageing, reminders,
the overdue hold, reconciliation with payments, the month not billed, exports and statements."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from aisc.awards.models import AwardHold, AwardStatus, HoldKind
from aisc.awards.service import get_award
from aisc.billing import credits, receivables
from aisc.billing import reconcile as reconciler
from aisc.billing import service as billing
from aisc.billing.models import Payment
from aisc.billing.receivables import PaymentStatus
from aisc.context import Ctx
from aisc.db.engine import make_sessionmaker, transaction
from aisc.errors import AiscError, Conflict, ValidationFailed
from aisc.housekeeping import TASKS, run_pass
from aisc.outbox.models import OutboxMessage
from aisc.scheme.service import get_scheme
from tests.billing.test_billing import APRIL, MARCH, Billed

ISSUED = date(2025, 5, 10)  # the world's clock when March is billed
DUE = ISSUED + timedelta(days=30)


@pytest.fixture
def world(uow, clock):
    clock.advance(days=120)  # 10 May 2025: March and April have ended
    built = Billed(uow, clock)
    built.run(MARCH)
    built.march, _ = built.invoice(built.dedicated, MARCH)
    return built


def pay(uow, invoice_id, cents, on=ISSUED, ref="BANK-1"):
    with uow() as ctx:
        return receivables.record_payment(
            ctx, invoice_id=invoice_id, amount_cents=cents, received_on=on, reference=ref
        )


def where(uow, invoice_id, as_of=None):
    with uow() as ctx:
        invoice = billing.view_invoice(ctx, invoice_id=invoice_id)
        return receivables.position(ctx, invoice, as_of=as_of)


def test_invoices_carry_the_schemes_terms(uow, clock):
    clock.advance(days=120)
    world = Billed(uow, clock)
    with uow() as ctx:
        get_scheme(ctx).payment_terms_days = 14
    world.run(MARCH)
    invoice, _ = world.invoice(world.dedicated, MARCH)
    assert (invoice.issue_date, invoice.terms_days) == (ISSUED, 14)
    assert invoice.due_date == date(2025, 5, 24)


def test_partial_and_full_payments_and_overpayment_refused(world, uow, cli):
    invoice = world.march
    payable = invoice.payable_cents
    assert (invoice.due_date, invoice.terms_days) == (DUE, 30)
    assert where(uow, invoice.id).status is PaymentStatus.UNPAID
    pay(uow, invoice.id, 100_000_00)
    assert where(uow, invoice.id).status is PaymentStatus.PART_PAID
    with pytest.raises(ValidationFailed, match="what is outstanding"):
        pay(uow, invoice.id, payable - 100_000_00 + 1)
    with pytest.raises(ValidationFailed):
        pay(uow, invoice.id, 0)
    with pytest.raises(ValidationFailed, match="once received"):
        pay(uow, invoice.id, 1, on=ISSUED + timedelta(days=1))
    # The rest, through the command line.
    rest = payable - 100_000_00
    shown = cli(
        "billing", "pay", str(invoice.id), "--amount", f"{rest / 100:.2f}",
        "--received-on", "2025-05-10", "--reference", "FPS-9", "--method", "fps", "--json",
    )  # fmt: skip
    assert json.loads(shown.output)["amount_cents"] == rest
    paid = where(uow, invoice.id)
    assert (paid.status, paid.outstanding_cents, paid.paid_cents) == (
        PaymentStatus.PAID,
        0,
        payable,
    )
    with pytest.raises(Conflict, match="nothing outstanding"):
        pay(uow, invoice.id, 1)
    refused = cli("billing", "pay", str(invoice.id), "--amount", "1", "--reference", "x", expect=4)
    assert "nothing outstanding" in refused.output
    listed = json.loads(cli("billing", "payments", "--invoice", str(invoice.id), "--json").output)
    assert [p["amount_cents"] for p in listed] == [100_000_00, rest]


def test_a_payment_is_reversed_by_a_negative_entry_never_edited(world, uow, cli, engine):
    invoice = world.march
    first = pay(uow, invoice.id, 50_000_00)
    with uow() as ctx:
        reversal = receivables.reverse_payment(
            ctx, invoice_id=invoice.id, payment_id=first.id, reason="bounced cheque"
        )
    assert reversal.amount_cents == -50_000_00
    assert reversal.reverses_id == first.id
    assert where(uow, invoice.id).paid_cents == 0
    with uow() as ctx, pytest.raises(Conflict, match="already been reversed"):
        receivables.reverse_payment(ctx, invoice_id=invoice.id, payment_id=first.id, reason="x")
    with uow() as ctx, pytest.raises(Conflict, match="itself a reversal"):
        receivables.reverse_payment(ctx, invoice_id=invoice.id, payment_id=reversal.id, reason="x")
    with uow() as ctx:
        ctx.db.get(Payment, first.id).amount_cents = 1
        with pytest.raises(ValueError, match="never changed"):
            ctx.db.flush()
        ctx.db.rollback()
    again = pay(uow, invoice.id, 10_00)
    out = cli("billing", "pay", str(invoice.id), "--reverse", str(again.id), "--note", "typo")
    assert "-1000" in out.output


def test_a_credit_note_reduces_what_can_be_paid(world, uow):
    invoice = world.march
    with uow() as ctx:
        note = credits.credit(
            ctx, invoice_id=invoice.id, list_cents=invoice.list_cents // 2, reason="outage"
        )
    left = invoice.payable_cents - note.payable_cents
    with pytest.raises(ValidationFailed):
        pay(uow, invoice.id, left + 1)
    pay(uow, invoice.id, left)
    pos = where(uow, invoice.id)
    assert (pos.status, pos.outstanding_cents, pos.credited_cents) == (
        PaymentStatus.PAID,
        0,
        note.payable_cents,
    )


def test_two_payments_at_once_cannot_overpay(world, uow, engine, clock):
    """Two connections each pay 60% of what is outstanding at the same moment: one wins."""
    invoice = world.march
    share = invoice.payable_cents * 60 // 100
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(ref: str) -> None:
        barrier.wait()
        try:
            with transaction(factory) as db:
                receivables.record_payment(
                    Ctx(db=db, now=clock(), actor="race"),
                    invoice_id=invoice.id,
                    amount_cents=share,
                    received_on=ISSUED,
                    reference=ref,
                )
            outcomes.append("paid")
        except ValidationFailed:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(r,)) for r in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["paid", "refused"]
    assert where(uow, invoice.id).paid_cents == share


@pytest.mark.parametrize(
    ("as_of", "bucket"),
    [
        (DUE, "current"),
        (DUE + timedelta(days=1), "1-30"),
        (DUE + timedelta(days=30), "1-30"),
        (DUE + timedelta(days=31), "31-60"),
        (DUE + timedelta(days=61), "61-90"),
        (DUE + timedelta(days=90), "61-90"),
        (DUE + timedelta(days=91), "90+"),
    ],
)
def test_ageing_buckets_on_pinned_dates(world, uow, as_of, bucket):
    invoice = world.march
    with uow() as ctx:
        [pooled] = billing.list_invoices(ctx, award_id=world.pooled, month=MARCH) or [None]
    pay(uow, invoice.id, 1_000_00)
    with uow() as ctx:
        found = receivables.ageing(ctx, as_of=as_of)
    [row] = found.rows
    assert row.organisation == "Harbour University"
    owed = invoice.payable_cents - 1_000_00 + (pooled.payable_cents if pooled else 0)
    assert row.buckets[bucket] == owed == found.totals[bucket] == found.total_cents
    with uow() as ctx:  # before the invoice was issued it owed nothing
        assert receivables.ageing(ctx, as_of=ISSUED - timedelta(days=1)).rows == []


def test_ageing_and_statement_of_account_through_the_doors(world, uow, client, cli):
    pay(uow, world.march.id, 2_000_00, ref="CHQ-1")
    day = f"{DUE + timedelta(days=40)}"
    ageing = client.get("/api/v1/billing/ageing", params={"as_of": day}).json()
    assert ageing["buckets"] == ["current", "1-30", "31-60", "61-90", "90+"]
    assert ageing["totals"]["31-60"] == ageing["total_cents"] > 0
    assert json.loads(cli("billing", "ageing", "--as-of", day, "--json").output) == ageing
    assert "Harbour University" in cli("billing", "ageing", "--as-of", day).output
    soa = client.get(
        f"/api/v1/organisations/{world.uni}/statement-of-account", params={"as_of": day}
    ).json()
    kinds = [line["kind"] for line in soa["lines"]]
    assert kinds[0] == "invoice"
    assert "payment" in kinds
    assert soa["lines"][-1]["balance_cents"] == soa["balance_cents"]
    assert soa["balance_cents"] == soa["invoiced_cents"] - soa["paid_cents"]
    assert soa["overdue_cents"] == soa["balance_cents"]
    shown = cli("billing", "statement-of-account", str(world.uni), "--as-of", day, "--json")
    assert json.loads(shown.output) == soa
    assert "CHQ-1" not in cli("billing", "statement-of-account", str(world.other)).output
    paid = client.get(f"/api/v1/invoices/{world.march.id}").json()
    assert (paid["payment_status"], paid["paid_cents"]) == ("part_paid", 2_000_00)
    assert len(client.get(f"/api/v1/invoices/{world.march.id}/payments").json()) == 1
    made = client.post(
        f"/api/v1/invoices/{world.march.id}/payments",
        json={"amount_hkd": "10.00", "received_on": f"{ISSUED}", "reference": "API-1"},
    )
    assert made.status_code == 201, made.text
    back = client.post(
        f"/api/v1/invoices/{world.march.id}/payment-reversals",
        json={"payment_id": made.json()["id"], "reason": "duplicate"},
    )
    assert back.status_code == 201
    assert back.json()["amount_cents"] == -1000


def outbox_keys(uow):
    with uow() as ctx:
        return sorted(ctx.db.execute(select(OutboxMessage.key)).scalars())


def test_reminders_before_on_and_after_the_due_date_once_each(world, uow, clock):
    invoice = world.march
    with uow() as ctx:
        [pooled] = billing.list_invoices(ctx, award_id=world.pooled, month=MARCH) or [None]
    if pooled is not None:  # only the dedicated invoice is followed here
        pay(uow, pooled.id, pooled.payable_cents)

    def remind():
        with uow() as ctx:
            return receivables.send_reminders(ctx)

    assert remind() == 0  # issued today: not yet
    clock.advance(days=23)  # 7 days before the due date
    assert remind() == 1
    assert remind() == 0
    clock.advance(days=7)
    assert remind() == 1
    clock.advance(days=1)
    done = run_pass(uow, tasks=TASKS)
    assert done.failed == {}
    assert done.results["invoice reminders"] == 1
    assert run_pass(uow, tasks=TASKS).results["invoice reminders"] == 0
    keys = [k for k in outbox_keys(uow) if ":reminder:" in k]
    assert keys == [f"invoice:{invoice.id}:reminder:{k}" for k in ("due", "due_soon", "overdue")]
    with uow() as ctx:
        [message] = ctx.db.execute(
            select(OutboxMessage).where(OutboxMessage.key.endswith(":overdue"))
        ).scalars()
        assert message.recipients == ["pi@uni.example"]
        assert invoice.number in message.subject
        assert "overdue" in message.subject


def test_an_invoice_overdue_past_the_policy_holds_the_award_until_paid(world, uow, clock):
    invoice = world.march
    with uow() as ctx:
        assert receivables.apply_overdue_policy(ctx) == {"placed": 0, "lifted": 0}  # policy off
        get_scheme(ctx).overdue_hold_days = 10
    clock.advance(days=30 + 10)  # 10 days overdue: not beyond
    with uow() as ctx:
        assert receivables.apply_overdue_policy(ctx)["placed"] == 0
    clock.advance(days=1)
    with uow() as ctx:
        assert receivables.apply_overdue_policy(ctx)["placed"] >= 1
    with uow() as ctx:
        assert receivables.apply_overdue_policy(ctx)["placed"] == 0  # idempotent
        assert get_award(ctx, award_id=world.dedicated).status is AwardStatus.SUSPENDED
        [hold] = ctx.db.execute(
            select(AwardHold).where(
                AwardHold.award_id == world.dedicated, AwardHold.lifted_at.is_(None)
            )
        ).scalars()
        assert (hold.kind, hold.ref) == (HoldKind.INVOICE_OVERDUE, str(invoice.id))
    pay(uow, invoice.id, invoice.payable_cents - 1, on=clock().date())
    with uow() as ctx:
        assert get_award(ctx, award_id=world.dedicated).status is AwardStatus.SUSPENDED
    pay(uow, invoice.id, 1, on=clock().date())  # paid in full: the hold is lifted at once
    with uow() as ctx:
        assert get_award(ctx, award_id=world.dedicated).status is AwardStatus.ACTIVE
        assert receivables.apply_overdue_policy(ctx)["placed"] == 0


def test_reconciliation_covers_payments_and_names_a_month_not_billed(world, uow, cli, client):
    pay(uow, world.march.id, 3_000_00)
    with uow() as ctx:
        found = reconciler.reconcile(ctx, month=MARCH)
        invoices = billing.list_invoices(ctx, month=MARCH)
        credited = sum(credits.credited(ctx, i.id)[2] for i in invoices)
    assert found.balanced
    assert found.status == "balanced"
    assert found.paid_cents == 3_000_00
    assert found.receivable_cents == found.payable_cents - credited - 3_000_00
    # April has ended, the dedicated allocation ran all month, and nothing was billed.
    answer = cli("billing", "reconcile", "--month", "2025-04", "--json", expect=4)
    body = json.loads(answer.stdout)
    assert body["status"] == "not_billed"
    assert body["balanced"] is False
    assert body["not_billed"]
    plain = cli("billing", "reconcile", "--month", "2025-04", expect=4)
    assert "is not billed" in plain.output
    assert "balanced to the cent" not in plain.output
    api = client.get("/api/v1/billing/reconciliation", params={"month": "2025-04"}).json()
    assert (api["status"], api["balanced"]) == ("not_billed", False)
    world.run(APRIL)
    assert "balanced to the cent" in cli("billing", "reconcile", "--month", "2025-04").output


def test_export_has_one_row_per_document_line(world, uow, cli, client):
    invoice = world.march
    with uow() as ctx:
        note = credits.credit(ctx, invoice_id=invoice.id, list_cents=100_00, reason="goodwill")
        lines = billing.lines_of(ctx, invoice)
    pay(uow, invoice.id, 5_000_00, ref="FPS-77")
    text = cli("billing", "export", "--from", "2025-05").output
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "document_type", "document_number", "document_date", "due_date", "customer_id",
        "customer", "account_code", "description", "net_amount", "currency", "reference",
    ]  # fmt: skip
    mine = [
        r
        for r in rows
        if r["reference"] == invoice.number or r["document_number"] == invoice.number
    ]
    by_type = {r["document_type"]: r for r in mine}
    assert [r["document_type"] for r in mine].count("invoice") == len(lines)
    line = by_type["invoice"]
    assert (line["document_date"], line["due_date"]) == (f"{ISSUED}", f"{DUE}")
    assert (line["customer"], line["account_code"], line["currency"]) == (
        "Harbour University",
        "4100",
        "HKD",
    )
    assert line["net_amount"] == f"{lines[0].payable_cents / 100:.2f}"
    assert by_type["credit_note"]["net_amount"] == f"-{note.payable_cents / 100:.2f}"
    assert (by_type["payment"]["net_amount"], by_type["payment"]["account_code"]) == (
        "5000.00",
        "1100",
    )
    assert client.get("/api/v1/billing/export.csv", params={"from": "2025-05"}).text == text
    assert cli("billing", "export", "--from", "2025-01", "--to", "2025-04").output.count("\n") == 1


def test_statement_csv_quantity_and_unit_price_agree(world, client):
    invoice = world.march
    rows = list(
        csv.reader(io.StringIO(client.get(f"/api/v1/invoices/{invoice.id}/statement.csv").text))
    )
    head = rows[0]
    assert head[head.index("due") + 1] == f"{DUE}"
    assert head[head.index("customer") + 1] == "Harbour University"
    header = rows[1]
    [line] = [dict(zip(header, r, strict=True)) for r in rows[2:] if r[0] == "1"]
    assert (line["unit"], line["listed_per"]) == ("card-day", "card-month")
    value = Decimal(line["quantity"]) * Decimal(line["unit_price_hkd"])
    assert value.quantize(Decimal("0.01"), ROUND_HALF_UP) == Decimal(line["list_hkd"])
    assert line["quantity"] == str(16 * 22)
    assert line["listed_price_hkd"] == "30000.00"


def test_statement_pdf_names_the_addressee_dates_and_wraps_long_text(world, uow, client):
    from tests.billing.test_statement_pdf import read

    invoice = world.march
    reason = " ".join(f"word{n:02d}" for n in range(40))  # far wider than its cell
    with uow() as ctx:
        credits.credit(ctx, invoice_id=invoice.id, list_cents=100_00, reason=reason)
    pay(uow, invoice.id, 1_000_00)
    text, _fonts = read(client.get(f"/api/v1/invoices/{invoice.id}/statement.pdf").content)
    assert "To: Harbour University" in text
    assert f"Issued: {ISSUED}" in text
    assert f"Due: {DUE}" in text
    assert "within 30 days of the issue date" in text
    assert "..." not in text
    assert "…" not in text
    flat = " ".join(text.split())
    for n in range(40):  # every word of the long line is printed, none cut
        assert f"word{n:02d}" in flat
    assert "Paid to date: HK$1,000.00" in text


amounts = st.tuples(
    st.sampled_from(["pay", "credit", "reverse"]), st.integers(min_value=-5, max_value=110)
)


def test_money_is_conserved_across_payments_and_credit_notes(world, uow):
    """Random payments, credit notes and reversals: paid never exceeds what is payable,
    outstanding = payable - credited - paid, and the reconciliation's sums are the invoices'."""
    with uow() as ctx:
        invoices = billing.list_invoices(ctx, month=MARCH)

    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.lists(amounts, min_size=1, max_size=6), st.integers(min_value=0, max_value=9))
    def run(ops, pick):
        invoice = invoices[pick % len(invoices)]
        for op, pct in ops:
            before = where(uow, invoice.id)
            try:
                with uow() as ctx:
                    if op == "pay":
                        cents = before.net_payable_cents * pct // 100
                        receivables.record_payment(
                            ctx, invoice_id=invoice.id, amount_cents=cents,
                            received_on=ISSUED, reference="P",
                        )  # fmt: skip
                        assert 0 < cents <= before.outstanding_cents  # accepted only then
                    elif op == "credit":
                        left = invoice.list_cents - credits.credited(ctx, invoice.id)[0]
                        credits.credit(
                            ctx, invoice_id=invoice.id, list_cents=left * pct // 100, reason="p"
                        )
                    else:
                        paid = [
                            p for p in receivables.list_payments(ctx, invoice_id=invoice.id)
                            if p.amount_cents > 0
                        ]  # fmt: skip
                        if paid:
                            target = paid[pct % len(paid)]
                            receivables.reverse_payment(
                                ctx, invoice_id=invoice.id, payment_id=target.id, reason="p"
                            )
            except AiscError:
                pass  # refused: nothing changed
            after = where(uow, invoice.id)
            assert 0 <= after.paid_cents <= invoice.payable_cents
            assert after.outstanding_cents == (
                invoice.payable_cents - after.credited_cents - after.paid_cents
            )
            if op == "pay" and after.paid_cents > before.paid_cents:
                assert after.paid_cents <= before.net_payable_cents
        with uow() as ctx:
            found = reconciler.reconcile(ctx, month=MARCH)
            positions = receivables.positions_of(ctx, invoices)
        assert found.balanced, found.differences
        assert found.paid_cents == sum(p.paid_cents for p in positions.values())
        assert found.credited_payable_cents == sum(p.credited_cents for p in positions.values())
        assert found.receivable_cents == sum(p.outstanding_cents for p in positions.values())

    run()


def test_the_demo_pays_most_invoices_and_leaves_one_overdue(world, uow, clock):
    from contextlib import contextmanager
    from datetime import UTC, datetime

    from aisc.demo.receivables import demo_receivables
    from aisc.scheme.models import Scheme

    clock.advance(days=1)
    world.run(APRIL)  # issued 11 May, due 10 June
    test_uow = uow

    class Steps:
        @contextmanager
        def step(self, when):
            with test_uow() as ctx:
                yield Ctx(db=ctx.db, now=when, actor="demo")

    present = datetime(2025, 6, 15, 10, tzinfo=UTC)
    done = demo_receivables(Steps(), present=present)
    with uow() as ctx:
        invoices = billing.list_invoices(ctx)
        statuses = {
            i.number: p.status.value
            for i, p in zip(
                invoices,
                receivables.positions_of(ctx, invoices, as_of=present.date()).values(),
                strict=True,
            )
        }
        assert ctx.db.get(Scheme, get_scheme(ctx).id).overdue_hold_days is None  # policy off
    assert statuses[done.overdue_invoice] == "overdue"
    assert list(statuses.values()).count("overdue") == 1
    assert done.payments >= 1
    assert set(statuses.values()) <= {"paid", "part_paid", "overdue"}
