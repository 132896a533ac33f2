"""Billing: hand-computed charges, invoices, credit notes, reconciliation, alerts, statements."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from aisc.awards import service as awards
from aisc.billing import alerts, charging
from aisc.billing import service as billing
from aisc.errors import Conflict, ValidationFailed
from aisc.ledger import service as ledger
from aisc.metering.service import record_usage
from aisc.outbox.worker import deliver_due
from aisc.pricing import service as pricing
from aisc.pricing.schemas import PriceListCreate
from tests.factories import World

H800 = "H800-SXM5-80GB"
MARCH, APRIL, MAY = date(2025, 3, 1), date(2025, 4, 1), date(2025, 5, 1)


class Billed(World):
    """A dedicated award (16 cards from 10 March 2025) and a pooled one (1,000 GPU-hours)."""

    def __init__(self, uow, clock, **scheme):
        super().__init__(uow, **scheme)
        self.dedicated_app = self.reviewed(
            compute={"gpu_cards": 16, "months": 6, "preferred_start": "2025-03-10"}
        )
        self.approve(self.dedicated_app)
        self.pooled_app = self.reviewed(
            title="Pooled fine-tuning",
            compute={
                "kind": "pooled",
                "gpu_cards": None,
                "gpu_hours": 1000,
                "months": 3,
                "preferred_start": "2025-03-01",
            },
        )
        self.approve(self.pooled_app)
        with uow() as ctx:
            found = {a.application_id: a for a in awards.list_awards(ctx)}
            self.dedicated = found[self.dedicated_app].id
            self.pooled = found[self.pooled_app].id
            for award_id in (self.dedicated, self.pooled):
                awards.accept(ctx, award_id=award_id)
        self.clock = clock
        self.keys = 0

    def usage(self, award_id, seconds, ended, key=None):
        self.keys += 1
        with self.uow() as ctx:
            return record_usage(
                ctx,
                key=key or f"test:{self.keys}",
                source="local",
                award_id=award_id,
                gpu_model=H800,
                gpu_seconds=seconds,
                started_at=ended,
                ended_at=ended,
            )

    def run(self, month):
        with self.uow() as ctx:
            result = charging.run_month(ctx, month=month)
            return [(i.award_id, i.number, i.list_cents, i.subsidy_cents) for i in result.invoices]

    def invoice(self, award_id, month):
        with self.uow() as ctx:
            [found] = billing.list_invoices(ctx, award_id=award_id, month=month)
            return found, billing.lines_of(ctx, found)

    def rate(self, award_id):
        with self.uow() as ctx:
            return awards.get_award(ctx, award_id=award_id).subsidy_rate_bp


@pytest.fixture
def world(uow, clock):
    clock.advance(days=120)  # 10 May 2025: March and April have ended
    return Billed(uow, clock)


def test_a_dedicated_allocation_is_charged_by_the_day(world):
    world.run(MARCH)
    invoice, [line] = world.invoice(world.dedicated, MARCH)
    # 16 cards x HK$30,000 x 22 of 31 days (from 10 March) = HK$340,645.16 (half up).
    assert line.kind.value == "dedicated"
    assert line.quantity == 16 * 22
    assert line.list_cents == 34_064_516
    rate = world.rate(world.dedicated)
    assert line.subsidy_cents == 34_064_516 * rate // 10_000
    assert line.payable_cents == line.list_cents - line.subsidy_cents
    assert invoice.number == "INV-000001"
    # April: the whole month, busy or idle: 16 x HK$30,000.
    world.run(APRIL)
    _april, [whole] = world.invoice(world.dedicated, APRIL)
    assert whole.list_cents == 16 * 3_000_000


def test_pooled_usage_is_charged_per_gpu_second_at_the_locked_price(world, uow):
    world.usage(world.pooled, 5400, datetime(2025, 3, 20, tzinfo=UTC))  # 1.5 GPU-hours
    with uow() as ctx:  # a new price list in force from April changes nothing for this award
        pricing.create_price_list(
            ctx,
            data=PriceListCreate.model_validate(
                {
                    "version": "v2",
                    "effective_from": "2025-04-01",
                    "items": [{"gpu_model": H800, "card_month_hkd": "99000", "gpu_hour_hkd": "99"}],
                }
            ),
        )
    world.usage(world.pooled, 3600, datetime(2025, 4, 2, tzinfo=UTC))
    world.run(MARCH)
    world.run(APRIL)
    _march, [line] = world.invoice(world.pooled, MARCH)
    assert (line.quantity, line.unit_price_cents, line.list_cents) == (5400, 4500, 6750)
    assert line.subsidy_cents == 6750 * world.rate(world.pooled) // 10_000
    _april, [april] = world.invoice(world.pooled, APRIL)
    assert (april.unit_price_cents, april.list_cents) == (4500, 4500)


def test_running_twice_issues_nothing_twice_and_late_usage_is_billed_next_month(world, uow):
    first = world.usage(world.pooled, 3600, datetime(2025, 3, 5, tzinfo=UTC), key="job:1:1")
    assert first is not None
    assert world.usage(world.pooled, 3600, datetime(2025, 3, 5, tzinfo=UTC), key="job:1:1") is None
    issued = world.run(MARCH)
    assert [n for _a, n, _l, _s in issued] == ["INV-000001", "INV-000002"]
    assert world.run(MARCH) == []
    with uow() as ctx:
        disbursed = ledger.award_balance(ctx, award_id=world.pooled).disbursed
    # Usage of March recorded after March was billed lands on April's invoice, once.
    world.usage(world.pooled, 1800, datetime(2025, 3, 30, tzinfo=UTC))
    world.run(APRIL)
    _april, [late] = world.invoice(world.pooled, APRIL)
    assert late.quantity == 1800
    with uow() as ctx:
        after = ledger.award_balance(ctx, award_id=world.pooled).disbursed
        numbers = [i.number for i in billing.list_invoices(ctx)]
    assert after - disbursed == late.subsidy_cents
    assert numbers == ["INV-000001", "INV-000002", "INV-000003", "INV-000004"]


def test_a_month_that_has_not_ended_is_not_billed(world):
    with pytest.raises(Conflict):
        world.run(MAY)


def test_the_subsidy_stops_at_the_remaining_commitment(world, uow):
    with uow() as ctx:
        committed = ledger.award_balance(ctx, award_id=world.pooled).remaining
        # Hand back all but HK$10.00 of the commitment: the cap is nearly exhausted.
        ledger.release(ctx, award_id=world.pooled, amount_cents=committed - 1000)
    world.usage(world.pooled, 3600, datetime(2025, 3, 5, tzinfo=UTC))  # list HK$45
    world.run(MARCH)
    _inv, [line] = world.invoice(world.pooled, MARCH)
    assert line.list_cents == 4500
    assert line.subsidy_cents == 1000  # not 70% of HK$45: only HK$10 was left
    assert line.payable_cents == 3500
    world.usage(world.pooled, 3600, datetime(2025, 4, 5, tzinfo=UTC))
    world.run(APRIL)
    _inv, [line] = world.invoice(world.pooled, APRIL)
    assert (line.subsidy_cents, line.payable_cents) == (0, 4500)
    with uow() as ctx:
        assert ledger.award_balance(ctx, award_id=world.pooled).remaining == 0


def test_usage_beyond_the_award_is_charged_at_full_list_price(world):
    # 1,000 GPU-hours granted; 1,000.5 used.
    world.usage(world.pooled, 1000 * 3600 + 1800, datetime(2025, 3, 31, tzinfo=UTC))
    world.run(MARCH)
    _inv, lines = world.invoice(world.pooled, MARCH)
    by_kind = {line.kind.value: line for line in lines}
    assert by_kind["pooled"].quantity == 1000 * 3600
    assert by_kind["over_award"].quantity == 1800
    assert by_kind["over_award"].list_cents == 2250
    assert by_kind["over_award"].subsidy_cents == 0
    assert by_kind["over_award"].payable_cents == 2250


def test_credit_notes_reference_the_invoice_and_return_the_subsidy(world, uow, client):
    world.run(MARCH)
    invoice, _lines = world.invoice(world.dedicated, MARCH)
    with uow() as ctx:
        before = ledger.award_balance(ctx, award_id=world.dedicated)
    url = f"/api/v1/invoices/{invoice.id}/credit-notes"
    note = client.post(url, json={"amount_hkd": "1000.00", "reason": "node down for a day"})
    assert note.status_code == 201, note.text
    body = note.json()
    assert body["number"] == "CN-000001"
    assert body["list_cents"] == 100_000
    assert body["subsidy_cents"] == 100_000 * invoice.subsidy_cents // invoice.list_cents
    assert body["subsidy_cents"] + body["payable_cents"] == 100_000
    with uow() as ctx:
        after = ledger.award_balance(ctx, award_id=world.dedicated)
    assert after.remaining - before.remaining == body["subsidy_cents"]
    # More than is left to credit is refused and changes nothing; the rest credits exactly.
    too_much = client.post(url, json={"amount_hkd": "340645.16", "reason": "everything"})
    assert too_much.status_code == 422
    rest = Decimal(invoice.list_cents - 100_000) / 100
    full = client.post(url, json={"amount_hkd": str(rest), "reason": "the rest"}).json()
    assert full["subsidy_cents"] + body["subsidy_cents"] == invoice.subsidy_cents
    assert full["payable_cents"] + body["payable_cents"] == invoice.payable_cents
    assert client.post(url, json={"amount_hkd": "0.01", "reason": "x"}).status_code == 422
    assert client.post(url, json={"amount_hkd": "1", "reason": ""}).status_code == 422
    shown = client.get(f"/api/v1/invoices/{invoice.id}").json()
    assert shown["list_cents"] == invoice.list_cents  # the invoice itself never changes
    assert [n["number"] for n in shown["credit_notes"]] == ["CN-000001", "CN-000002"]
    assert (
        client.post(
            "/api/v1/invoices/9999/credit-notes", json={"amount_hkd": "1", "reason": "x"}
        ).status_code
        == 404
    )


def test_reconciliation_balances_and_names_any_difference(world, uow, cli, engine):
    world.usage(world.pooled, 7200, datetime(2025, 3, 5, tzinfo=UTC))
    cli("billing", "run", "--month", "2025-03")
    shown = cli("billing", "reconcile", "--month", "2025-03")
    assert "balanced to the cent" in shown.output
    report = json.loads(cli("billing", "reconcile", "--month", "2025-03", "--json").output)
    assert report["usage_gpu_seconds"] == report["charged_gpu_seconds"] == 7200
    assert report["subsidy_cents"] == report["ledger_disbursed_cents"]
    # Usage that slipped past billing is named and the exit code says so.
    world.usage(world.pooled, 60, datetime(2025, 3, 6, tzinfo=UTC))
    failed = cli("billing", "reconcile", "--month", "2025-03", expect=4)
    assert f"award {world.pooled}: 1 usage records (60 GPU-seconds) not billed" in failed.output
    # An edited invoice total is caught too.
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE invoices SET list_cents = list_cents + 1, "
                "payable_cents = payable_cents + 1 WHERE seq = 1"
            )
        )
    failed = cli("billing", "reconcile", "--month", "2025-03", expect=4)
    assert "list" in failed.output
    assert "month: '2025-13'" in cli("billing", "reconcile", "--month", "2025-13", expect=2).output


def test_statements_as_csv_and_pdf(world, client, cli, tmp_path):
    world.run(MARCH)
    invoice, _ = world.invoice(world.dedicated, MARCH)
    csv_text = client.get(f"/api/v1/invoices/{invoice.id}/statement.csv")
    assert csv_text.status_code == 200
    assert csv_text.headers["content-type"].startswith("text/csv")
    rows = csv_text.text.splitlines()
    assert rows[0].startswith(f"invoice,{invoice.number}")
    assert rows[-1].startswith("total,")
    assert "340645.16" in rows[-1]
    pdf = client.get(f"/api/v1/invoices/{invoice.id}/statement.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    out = tmp_path / "s.pdf"
    cli("billing", "statement", str(invoice.id), "--format", "pdf", "--out", str(out))
    assert out.read_bytes().startswith(b"%PDF")
    assert "340645.16" in cli("billing", "statement", str(invoice.id)).output
    doc = cli("billing", "statement", str(invoice.id), "--format", "doc", expect=2)
    assert "format: csv or pdf" in doc.output
    assert "invoice 999 not found" in cli("billing", "statement", "999", expect=3).output


def test_burn_alerts_once_per_threshold(world, uow, client, tmp_path):
    # 600 of 1,000 GPU-hours: the 50% alert; 850: 80%; 1,000: 100%; each once.
    world.usage(world.pooled, 600 * 3600, datetime(2025, 3, 5, tzinfo=UTC))
    with uow() as ctx:
        made = alerts.check_burn(ctx)
        again = alerts.check_burn(ctx)
    assert [n.kind for n in made] == ["burn_50"]
    assert again == []
    world.usage(world.pooled, 400 * 3600, datetime(2025, 3, 6, tzinfo=UTC))
    with uow() as ctx:
        made = alerts.check_burn(ctx)
    assert [n.kind for n in made] == ["burn_80", "burn_100"]
    listed = client.get("/api/v1/notifications", params={"award_id": world.pooled}).json()
    assert [n["channel"] for n in listed] == ["", "", ""]  # queued, not yet delivered
    client.app.state.worker.lead()
    deliver_due(client.app.state.worker.open_ctx)
    path = tmp_path / "var" / "notifications.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["burn_50", "burn_80", "burn_100"]
    assert lines[0]["to"] == ["pi@uni.example"]
    listed = client.get("/api/v1/notifications", params={"award_id": world.pooled}).json()
    assert [n["kind"] for n in listed] == ["burn_50", "burn_80", "burn_100"]
    assert listed[1]["channel"] == "file"
    assert listed[1]["delivered_at"] is not None


def test_billing_api_and_cli(world, client, cli):
    world.usage(world.pooled, 3600, datetime(2025, 3, 5, tzinfo=UTC))
    ran = client.post("/api/v1/billing/runs", json={"month": "2025-03"})
    assert ran.status_code == 200, ran.text
    assert len(ran.json()["issued"]) == 2
    again = client.post("/api/v1/billing/runs", json={"month": "2025-03"}).json()
    assert (again["issued"], again["already_invoiced"]) == ([], 2)
    assert client.post("/api/v1/billing/runs", json={"month": "March"}).status_code == 422
    assert client.post("/api/v1/billing/runs", json={"month": "2025-05"}).status_code == 409
    recon = client.get("/api/v1/billing/reconciliation", params={"month": "2025-03"}).json()
    assert recon["balanced"] is True
    listed = client.get("/api/v1/invoices", params={"month": "2025-03"}).json()
    assert len(listed) == 2
    assert client.get("/api/v1/invoices", params={"award_id": world.pooled}).json()[0]["lines"]
    assert client.get("/api/v1/invoices/999").status_code == 404
    rows = json.loads(cli("billing", "invoices", "--json").output)
    assert [r["number"] for r in rows] == ["INV-000001", "INV-000002"]
    assert json.loads(cli("billing", "show", str(rows[0]["id"]), "--json").output)["lines"]
    assert "already invoiced" in cli("billing", "run", "--month", "2025-03").output
    credit = cli(
        "billing", "credit", str(rows[0]["id"]), "--amount", "10", "--reason", "x", "--json"
    )
    assert json.loads(credit.output)["number"] == "CN-000001"
    # One GPU-hour of a 1,000 GPU-hour grant, a month of a six-month award: no alert yet.
    assert cli("billing", "notifications").output.strip() == "(none)"
    busy = client.get("/api/v1/billing/busy", params={"as_of": "2025-04-10"}).json()
    # 16 cards reserved from 10 March to 10 April: 31 days x 24 h x 16.
    assert busy["reserved_gpu_hours"] == 16 * 31 * 24
    assert busy["awards"][0]["award_id"] == world.dedicated
    assert "overall" in cli("billing", "busy", "--as-of", "2025-04-10").output
    assert json.loads(cli("billing", "busy", "--json").output)["reserved_gpu_hours"] > 0


def test_busy_by_month_splits_the_overall_figure_and_adds_up_to_it(world, client, cli):
    # 16 cards from 10 March: 22 days reserved in March, all 30 of April, 9 days of May by the
    # 10th. Usage of the dedicated award: 100 GPU-hours ending in March, 200 in April, and 50
    # on 9 May; 7 GPU-hours of the pooled award do not count.
    world.usage(world.dedicated, 100 * 3600, datetime(2025, 3, 20, tzinfo=UTC))
    world.usage(world.dedicated, 200 * 3600, datetime(2025, 4, 2, tzinfo=UTC))
    world.usage(world.dedicated, 50 * 3600, datetime(2025, 5, 9, 12, tzinfo=UTC))
    world.usage(world.pooled, 7 * 3600, datetime(2025, 4, 2, tzinfo=UTC))
    with world.uow() as ctx:
        months = billing.busy_by_month(ctx, today=date(2025, 5, 10))
        [overall] = billing.busy_vs_reserved(ctx, today=date(2025, 5, 10))
    assert [
        (m.month, m.reserved_gpu_seconds // 3600, m.busy_gpu_seconds // 3600) for m in months
    ] == [
        (MARCH, 16 * 22 * 24, 100),
        (APRIL, 16 * 30 * 24, 200),
        (MAY, 16 * 9 * 24, 50),
    ]
    assert sum(m.reserved_gpu_seconds for m in months) == overall.reserved_gpu_seconds
    assert sum(m.busy_gpu_seconds for m in months) == overall.busy_gpu_seconds
    # Usage that ends after the day asked about is not counted, even within its month.
    with world.uow() as ctx:
        early = billing.busy_by_month(ctx, today=date(2025, 5, 9))
    assert (early[-1].month, early[-1].busy_gpu_seconds) == (MAY, 0)
    report = client.get("/api/v1/billing/busy", params={"as_of": "2025-05-10"}).json()
    assert report["months"][1] == {
        "month": "2025-04",
        "reserved_gpu_hours": 11_520,
        "busy_gpu_hours": 200,
        "busy_pct": "1.7",
    }
    text = cli("billing", "busy", "--as-of", "2025-05-10", "--by-month").output
    assert "2025-04  reserved     11,520 GPU-h  busy        200 GPU-h  1.7%" in text
    assert json.loads(cli("billing", "busy", "--as-of", "2025-05-10", "--json").output)["months"]
    bad = cli("billing", "busy", "--as-of", "10 May", expect=2)
    assert "--as-of" in bad.output


def test_the_over_award_policy_decides_at_the_gateway(world, client, cli):
    body = {
        "award_id": world.pooled,
        "submitted_by_id": world.applicant,
        "partition": "training",
        "gpus_per_node": 8,
        "walltime_s": 168 * 3600,  # 1,344 GPU-hours against a 1,000 GPU-hour grant
        "command": ["true"],
    }
    refused = client.post("/api/v1/jobs", json=body)
    assert refused.status_code == 409
    assert "GPU-hours left" in refused.json()["detail"]["message"]
    cli("scheme", "update", "--over-award", "full_price")
    accepted = client.post("/api/v1/jobs", json=body)
    assert accepted.status_code == 201, accepted.text
    gratis = cli("scheme", "update", "--over-award", "gratis", expect=2)
    assert "over_award_policy: Input should be" in gratis.output
    assert json.loads(cli("scheme", "show", "--json").output)["over_award_policy"] == "full_price"


def test_buckets_rate_usage_and_late_usage_opens_the_next_generation(world, uow, engine, cli):
    from sqlalchemy import select, text

    from aisc.metering.models import UsageBucket
    from aisc.metering.service import ingest_batch

    march = datetime(2025, 3, 20, tzinfo=UTC)
    rows = [
        {
            "key": f"sacct:{n}",
            "award_id": world.pooled,
            "gpu_model": H800,
            "gpu_seconds": 600,
            "started_at": march,
            "ended_at": march,
        }
        for n in range(10)
    ]
    with uow() as ctx:
        assert ingest_batch(ctx, source="slurm", rows=rows) == 10
        assert ingest_batch(ctx, source="slurm", rows=rows) == 0  # the same dump again
        with pytest.raises(ValidationFailed):
            ingest_batch(ctx, source="slurm", rows=[rows[0], rows[0]])
    world.usage(world.pooled, 1200, march)
    world.run(MARCH)
    with uow() as ctx:
        [bucket] = ctx.db.execute(select(UsageBucket)).scalars().all()
    assert (bucket.gpu_seconds, bucket.records, bucket.generation) == (7200, 11, 1)
    assert bucket.charge_id is not None
    # Late March usage: a second generation, billed with April, once.
    world.usage(world.pooled, 300, march)
    with uow() as ctx:
        late = ctx.db.execute(select(UsageBucket).where(UsageBucket.generation == 2)).scalar_one()
    assert (late.month, late.gpu_seconds, late.charge_id) == (MARCH, 300, None)
    assert (
        f"award {world.pooled}: 1 usage records (300 GPU-seconds) not billed"
        in cli("billing", "reconcile", "--month", "2025-03", expect=4).output
    )
    world.run(APRIL)
    _april, [line] = world.invoice(world.pooled, APRIL)
    assert line.quantity == 300
    assert "balanced" in cli("billing", "reconcile", "--month", "2025-04").output
    # A bucket whose total no longer matches its records is named.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE usage_buckets SET gpu_seconds = gpu_seconds - 1 WHERE generation = 1")
        )
    failed = cli("billing", "reconcile", "--month", "2025-03", expect=4)
    assert (
        f"bucket {bucket.id}: 7199 GPU-seconds in 11 records on the bucket, 7200" in failed.output
    )
