"""Deep verification: money-bearing rows against the state their audit events recorded.

A keyed chain proves the events were not altered, but the rows they describe live in their own
tables, where an insider could change a decision's subsidy rate or an invoice's total without
touching the trail. For each watched table, the events of each row (by object type and id, only
the actions that write the row's state) are folded in order into the state they recorded, and
every watched field the events recorded must equal the row's value. A row no event describes,
and an event whose row is gone, are reported too.

The writers record these fields in their event's ``after`` (money as integer cents); a field no
event of a row recorded (events written before a writer recorded it) cannot be compared and is
skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aisc.access import authorize
from aisc.awards.models import Award
from aisc.billing.models import CreditNote, Invoice, Payment
from aisc.context import Ctx
from aisc.ledger.models import EarmarkSpend, LedgerEntry
from aisc.review.models import Decision


def _month(value: Any) -> Any:
    return f"{value:%Y-%m}" if isinstance(value, date) else value


@dataclass(frozen=True)
class Watched:
    """One money-bearing table: its events and the fields they must agree on."""

    object_type: str
    model: Any
    actions: tuple[str, ...]  # exact actions, or prefixes ending in "."
    fields: tuple[str, ...]
    formats: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    def writes_state(self, action: str) -> bool:
        return any(action.startswith(a) if a.endswith(".") else action == a for a in self.actions)


WATCHED = (
    Watched(
        "decision",
        Decision,
        ("decision.create",),
        (
            "application_id",
            "outcome",
            "granted_kind",
            "granted_gpu_model",
            "granted_cards",
            "granted_gpu_hours",
            "granted_months",
            "granted_start",
            "subsidy_rate_bp",
            "price_list_id",
            "list_value_cents",
            "subsidy_cap_cents",
        ),
    ),
    Watched(
        "award",
        Award,
        # award.create records the whole row, transitions and close-out its status; other
        # events about an award (burn notifications) record no state of it.
        ("award.",),
        (
            "application_id",
            "organisation_id",
            "status",
            "kind",
            "gpu_model_code",
            "gpu_cards",
            "gpu_hours",
            "start_date",
            "end_date",
            "months",
            "subsidy_rate_bp",
            "list_value_cents",
            "subsidy_cap_cents",
            "price_list_id",
        ),
    ),
    Watched(
        "ledger_entry",
        LedgerEntry,
        ("ledger.",),
        ("scheme_id", "kind", "amount_cents", "award_id"),
    ),
    Watched(
        "invoice",
        Invoice,
        ("invoice.issue",),
        (
            "number",
            "award_id",
            "month",
            "list_cents",
            "subsidy_cents",
            "payable_cents",
            "ledger_entry_id",
        ),
        {"month": _month},
    ),
    Watched(
        "credit_note",
        CreditNote,
        ("invoice.credit",),
        ("number", "invoice_id", "list_cents", "subsidy_cents", "payable_cents", "ledger_entry_id"),
    ),
    Watched(
        "payment",
        Payment,
        ("invoice.payment", "invoice.payment_reversal"),
        ("number", "amount_cents", "received_on", "reference"),
    ),
    Watched(
        "earmark_spend",
        EarmarkSpend,
        ("earmark.spend", "earmark.reverse"),
        ("scheme_id", "earmark", "amount_cents", "spent_on", "vendor"),
    ),
)


@dataclass(frozen=True)
class Difference:
    """One row whose table and audit trail disagree."""

    object_type: str
    object_id: str
    field: str  # "*" for the row as a whole (no event, or no row)
    recorded: Any
    actual: Any
    seq: int | None  # the last event that recorded the row's state
    problem: str

    def describe(self) -> str:
        return f"{self.object_type} {self.object_id}: {self.problem}"


def _plain(value: Any) -> Any:
    """A column value as the events' canonical JSON stores it."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _recorded_states(db: Session, watched: Watched) -> dict[str, tuple[int, dict[str, Any]]]:
    """object id -> (last state event's seq, the state its events recorded, folded in order)."""
    from aisc.audit.models import AuditEvent

    states: dict[str, tuple[int, dict[str, Any]]] = {}
    rows = db.execute(
        select(AuditEvent.seq, AuditEvent.object_id, AuditEvent.action, AuditEvent.after)
        .where(AuditEvent.object_type == watched.object_type)
        .order_by(AuditEvent.seq)
    )
    for seq, object_id, action, after in rows:
        if not watched.writes_state(action):
            continue
        try:
            recorded = json.loads(after)
        except json.JSONDecodeError:
            recorded = {}  # the chain check reports an edited event; nothing to compare here
        if not isinstance(recorded, dict):
            recorded = {}
        _, state = states.get(object_id, (0, {}))
        state.update({k: v for k, v in recorded.items() if k in watched.fields})
        states[object_id] = (seq, state)
    return states


def compare_rows(ctx: Ctx) -> tuple[int, list[Difference]]:
    """How many watched rows were compared, and every field that differs (table by table);
    the deep check of ``aisc audit verify --deep`` (``audit.read``)."""
    authorize(ctx, "audit.read")
    db = ctx.db
    checked = 0
    differences: list[Difference] = []
    for watched in WATCHED:
        states = _recorded_states(db, watched)
        columns = [getattr(watched.model, name) for name in watched.fields]
        present: set[str] = set()
        for row in db.execute(select(watched.model.id, *columns).order_by(watched.model.id)):
            checked += 1
            object_id = str(row[0])
            present.add(object_id)
            found = states.get(object_id)
            if found is None:
                differences.append(
                    Difference(
                        watched.object_type,
                        object_id,
                        "*",
                        None,
                        None,
                        None,
                        "no audit event records this row (inserted outside the platform?)",
                    )
                )
                continue
            seq, state = found
            for name, value in zip(watched.fields, row[1:], strict=True):
                if name not in state:
                    continue
                actual = _plain(watched.formats.get(name, _plain)(value))
                recorded = state[name]
                if actual != recorded:
                    differences.append(
                        Difference(
                            watched.object_type,
                            object_id,
                            name,
                            recorded,
                            actual,
                            seq,
                            f"{name} is {actual!r} in its table but {recorded!r} as audit "
                            f"event {seq} recorded it",
                        )
                    )
        for object_id in sorted(set(states) - present, key=lambda i: (len(i), i)):
            seq, _ = states[object_id]
            differences.append(
                Difference(
                    watched.object_type,
                    object_id,
                    "*",
                    None,
                    None,
                    seq,
                    f"recorded by audit event {seq} but missing from its table (deleted?)",
                )
            )
    return checked, differences
