from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from aisc.billing.models import ChargeKind, PaymentMethod
from aisc.billing.receivables import PaymentStatus
from aisc.schemas import Day, PositiveHKD, ReadSchema, Schema

Month = str  # YYYY-MM, checked by the service


class ChargeRead(ReadSchema):
    id: int
    kind: ChargeKind
    gpu_model_code: str
    quantity: int = Field(description="card-days (dedicated) or GPU-seconds (pooled)")
    unit_price_cents: int
    list_cents: int
    subsidy_cents: int
    payable_cents: int
    description: str


class CreditNoteRead(ReadSchema):
    id: int
    number: str
    invoice_id: int
    reason: str
    issued_at: datetime
    list_cents: int
    subsidy_cents: int
    payable_cents: int


class PaymentRead(ReadSchema):
    id: int
    number: str
    invoice_id: int
    amount_cents: int = Field(description="negative for a reversal")
    received_on: date
    reference: str
    method: PaymentMethod
    reverses_id: int | None
    note: str
    recorded_at: datetime
    recorded_by: str


class PaymentIn(Schema):
    amount_hkd: PositiveHKD = Field(description="money received, at most what is outstanding")
    received_on: Day
    reference: str = Field(min_length=1, max_length=200)
    method: PaymentMethod = PaymentMethod.BANK_TRANSFER
    note: str = Field(default="", max_length=2000)


class ReversalIn(Schema):
    payment_id: int = Field(gt=0, lt=2**31)
    reason: str = Field(min_length=1, max_length=2000)


class InvoiceRead(ReadSchema):
    id: int
    number: str
    award_id: int
    month: date
    issued_at: datetime
    issue_date: date
    due_date: date
    terms_days: int = Field(description="payment terms: days from the issue date")
    list_cents: int
    subsidy_cents: int
    payable_cents: int
    credited_cents: int = Field(0, description="the payable part of its credit notes")
    paid_cents: int = 0
    outstanding_cents: int = Field(0, description="payable - credited - paid")
    payment_status: PaymentStatus = PaymentStatus.UNPAID
    lines: list[ChargeRead] = Field(default_factory=list)
    credit_notes: list[CreditNoteRead] = Field(default_factory=list)


class RunIn(Schema):
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="the month to bill, YYYY-MM")


class RunRead(Schema):
    month: str
    issued: list[InvoiceRead]
    already_invoiced: int = Field(description="awards this month had already been billed for")
    notifications: int


class CreditIn(Schema):
    amount_hkd: PositiveHKD = Field(description="list amount to credit; split as the invoice was")
    reason: str = Field(min_length=1, max_length=2000)


class ReconciliationRead(Schema):
    month: str
    balanced: bool
    invoices: int
    usage_gpu_seconds: int
    charged_gpu_seconds: int
    list_cents: int
    subsidy_cents: int
    payable_cents: int
    credited_subsidy_cents: int
    ledger_disbursed_cents: int
    ledger_reversed_cents: int
    credited_payable_cents: int
    paid_cents: int
    receivable_cents: int
    not_billed: bool = Field(description="commitments ran in the month and nothing was billed")
    status: str = Field(description="balanced | not_billed | differences")
    differences: list[str]


class AccountLineRead(Schema):
    day: date
    kind: str = Field(description="invoice | credit_note | payment | reversal")
    number: str
    invoice_number: str
    description: str
    amount_cents: int = Field(description="positive: owed to the centre")
    balance_cents: int
    due_date: date | None


class StatementOfAccountRead(Schema):
    organisation_id: int
    organisation: str
    as_of: date
    lines: list[AccountLineRead]
    invoiced_cents: int
    credited_cents: int
    paid_cents: int
    overdue_cents: int
    balance_cents: int


class AgeingRowRead(Schema):
    organisation_id: int
    organisation: str
    buckets: dict[str, int] = Field(description="cents by days past due")
    total_cents: int


class AgeingRead(Schema):
    as_of: date
    buckets: list[str]
    rows: list[AgeingRowRead]
    totals: dict[str, int]
    total_cents: int


class NotificationRead(ReadSchema):
    id: int
    award_id: int
    kind: str
    message: str
    created_at: datetime
    delivered_at: datetime | None
    channel: str


class BusyRead(Schema):
    award_id: int
    title: str
    reserved_gpu_hours: int
    busy_gpu_hours: int
    busy_pct: str | None


class BusyMonthRead(Schema):
    month: str = Field(description="YYYY-MM")
    reserved_gpu_hours: int
    busy_gpu_hours: int
    busy_pct: str | None


class BusyReport(Schema):
    as_of: date
    awards: list[BusyRead]
    months: list[BusyMonthRead] = Field(
        description="the same, over all dedicated allocations, month by month"
    )
    reserved_gpu_hours: int
    busy_gpu_hours: int
    busy_pct: str | None = Field(description="busy / reserved GPU-hours of dedicated allocations")
