from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from aisc.billing.models import ChargeKind
from aisc.schemas import PositiveHKD, ReadSchema, Schema

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


class InvoiceRead(ReadSchema):
    id: int
    number: str
    award_id: int
    month: date
    issued_at: datetime
    list_cents: int
    subsidy_cents: int
    payable_cents: int
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
    differences: list[str]


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
