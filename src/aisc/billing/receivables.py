"""The money that comes back: payments against invoices, statements of account, ageing.

An invoice's applicant share (``payable_cents``) is owed by the award's organisation from the
issue date and due ``terms_days`` later (the scheme's terms when it was issued). What is owed
at any moment is::

    outstanding = payable - payable credited (credit notes) - paid (payments)

Payments are appended and never changed; a payment recorded in error is reversed by a negative
row naming it. Recording one locks the invoice row (``SELECT ... FOR UPDATE``; SQLite's write
lock does the same), so two payments at once can never take ``paid`` beyond what is payable.
A credit note issued after a payment may leave ``outstanding`` negative: a credit balance the
organisation is owed, shown as such on its statement of account.

Invoice status, from the figures as of a day: ``paid`` (nothing outstanding), ``overdue``
(something outstanding after the due date), ``part_paid`` (some paid, not yet due), ``unpaid``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from aisc.access import SYSTEM, authorize, awards_in_reach, project_of, visible
from aisc.accounts.models import Organisation
from aisc.audit.service import record
from aisc.awards.models import Award
from aisc.billing.models import CreditNote, Invoice, Payment, PaymentMethod
from aisc.context import Ctx
from aisc.errors import Conflict, NotFound, ValidationFailed
from aisc.money import format_hkd

# The ageing report's buckets: (label, first day past due, last day past due or None).
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("current", -(10**6), 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)


class PaymentStatus(enum.StrEnum):
    UNPAID = "unpaid"
    PART_PAID = "part_paid"
    PAID = "paid"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class Position:
    """What an invoice's payable share stands at, as of a day."""

    invoice_id: int
    due_date: date
    payable_cents: int
    credited_cents: int  # the payable part of its credit notes
    paid_cents: int
    status: PaymentStatus
    days_overdue: int

    @property
    def net_payable_cents(self) -> int:
        return self.payable_cents - self.credited_cents

    @property
    def outstanding_cents(self) -> int:
        return self.payable_cents - self.credited_cents - self.paid_cents


def _status(outstanding: int, paid: int, due: date, as_of: date) -> PaymentStatus:
    if outstanding <= 0:
        return PaymentStatus.PAID
    if as_of > due:
        return PaymentStatus.OVERDUE
    return PaymentStatus.PART_PAID if paid > 0 else PaymentStatus.UNPAID


def _sums(ctx: Ctx, ids: list[int], as_of: date | None) -> tuple[dict[int, int], dict[int, int]]:
    """(payable credited, paid) per invoice id, counting what happened on or before ``as_of``."""
    credited: dict[int, int] = defaultdict(int)
    paid: dict[int, int] = defaultdict(int)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        notes = select(CreditNote.invoice_id, CreditNote.payable_cents, CreditNote.issued_at).where(
            CreditNote.invoice_id.in_(chunk)
        )
        for invoice_id, cents, issued_at in ctx.db.execute(notes):
            if as_of is None or issued_at.date() <= as_of:
                credited[invoice_id] += int(cents)
        payments = select(Payment.invoice_id, func.sum(Payment.amount_cents)).where(
            Payment.invoice_id.in_(chunk)
        )
        if as_of is not None:
            payments = payments.where(Payment.received_on <= as_of)
        for invoice_id, cents in ctx.db.execute(payments.group_by(Payment.invoice_id)):
            paid[invoice_id] += int(cents)
    return credited, paid


def positions_of(
    ctx: Ctx, invoices: Iterable[Invoice], *, as_of: date | None = None
) -> dict[int, Position]:
    """Each invoice's position as of ``as_of`` (default today), for invoices the caller has
    already been allowed to see (``billing.read``)."""
    authorize(ctx, "billing.read")
    rows = list(invoices)
    today = as_of or ctx.now.date()
    credited, paid = _sums(ctx, [i.id for i in rows], as_of)
    result = {}
    for invoice in rows:
        outstanding = invoice.payable_cents - credited[invoice.id] - paid[invoice.id]
        result[invoice.id] = Position(
            invoice_id=invoice.id,
            due_date=invoice.due_date,
            payable_cents=invoice.payable_cents,
            credited_cents=credited[invoice.id],
            paid_cents=paid[invoice.id],
            status=_status(outstanding, paid[invoice.id], invoice.due_date, today),
            days_overdue=max((today - invoice.due_date).days, 0) if outstanding > 0 else 0,
        )
    return result


def position(ctx: Ctx, invoice: Invoice, *, as_of: date | None = None) -> Position:
    return positions_of(ctx, [invoice], as_of=as_of)[invoice.id]


# --- payments ----------------------------------------------------------------------------------


def _locked_invoice(ctx: Ctx, invoice_id: int) -> Invoice:
    """The invoice, its row locked for the rest of the transaction (payments serialise on it)."""
    invoice = ctx.db.execute(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update()
    ).scalar_one_or_none()
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found", field="invoice_id")
    return invoice


def _next_seq(ctx: Ctx) -> int:
    return int(ctx.db.execute(select(func.coalesce(func.max(Payment.seq), 0))).scalar_one()) + 1


def _add(ctx: Ctx, invoice: Invoice, **values: object) -> Payment:
    from aisc.ledger import service as ledger

    award = ctx.db.get(Award, invoice.award_id)
    assert award is not None
    ledger.lock_scheme(ctx, award.scheme_id)  # payment numbers stay gapless
    seq = _next_seq(ctx)
    payment = Payment(
        seq=seq,
        number=f"PAY-{seq:06d}",
        invoice_id=invoice.id,
        recorded_at=ctx.now,
        recorded_by=ctx.actor,
        **values,
    )
    ctx.db.add(payment)
    ctx.db.flush()
    return payment


def record_payment(
    ctx: Ctx,
    *,
    invoice_id: int,
    amount_cents: int,
    received_on: date,
    reference: str,
    method: PaymentMethod = PaymentMethod.BANK_TRANSFER,
    note: str = "",
) -> Payment:
    """Record money received against an invoice (``payment.record``): full or partial, never
    more than is outstanding after credit notes and earlier payments."""
    authorize(ctx, "payment.record")
    reference = reference.strip()
    if not reference:
        raise ValidationFailed("reference: the bank's or cheque's reference", field="reference")
    if received_on > ctx.now.date():
        raise ValidationFailed(
            "received_on: a payment is recorded once received", field="received_on"
        )
    invoice = _locked_invoice(ctx, invoice_id)
    if received_on < invoice.issue_date:
        raise ValidationFailed(
            f"received_on: {invoice.number} was issued on {invoice.issue_date}", field="received_on"
        )
    outstanding = position(ctx, invoice).outstanding_cents
    if amount_cents <= 0 or amount_cents > outstanding:
        if outstanding <= 0:
            raise Conflict(f"{invoice.number} has nothing outstanding", field="amount")
        raise ValidationFailed(
            f"amount: between HK$0.01 and {format_hkd(outstanding)} (what is outstanding on "
            f"{invoice.number})",
            field="amount",
        )
    payment = _add(
        ctx,
        invoice,
        amount_cents=amount_cents,
        received_on=received_on,
        reference=reference,
        method=PaymentMethod(method),
        note=note.strip(),
    )
    record(
        ctx,
        action="invoice.payment",
        object_type="payment",
        object_id=payment.id,
        after={
            "number": payment.number,
            "invoice": invoice.number,
            "amount_cents": amount_cents,
            "received_on": received_on.isoformat(),
            "reference": reference,
            "method": payment.method.value,
        },
    )
    if amount_cents == outstanding:
        _lift_overdue_hold(ctx, invoice)
    return payment


def reverse_payment(ctx: Ctx, *, invoice_id: int, payment_id: int, reason: str) -> Payment:
    """Reverse a payment recorded in error (``payment.record``): a negative payment naming it;
    the original stays as it was. A payment is reversed once."""
    authorize(ctx, "payment.record")
    if not reason.strip():
        raise ValidationFailed("reason: say why the payment is reversed", field="reason")
    invoice = _locked_invoice(ctx, invoice_id)
    original = ctx.db.get(Payment, payment_id)
    if original is None or original.invoice_id != invoice.id:
        raise NotFound(f"payment {payment_id} not found on {invoice.number}", field="payment_id")
    if original.amount_cents < 0:
        raise Conflict(f"{original.number} is itself a reversal", field="payment_id")
    done = ctx.db.execute(
        select(Payment.id).where(Payment.reverses_id == original.id)
    ).scalar_one_or_none()
    if done is not None:
        raise Conflict(f"{original.number} has already been reversed", field="payment_id")
    reversal = _add(
        ctx,
        invoice,
        amount_cents=-original.amount_cents,
        received_on=ctx.now.date(),
        reference=original.reference,
        method=original.method,
        reverses_id=original.id,
        note=reason.strip(),
    )
    record(
        ctx,
        action="invoice.payment_reversal",
        object_type="payment",
        object_id=reversal.id,
        after={
            "number": reversal.number,
            "reverses": original.number,
            "invoice": invoice.number,
            "amount_cents": reversal.amount_cents,
            "reason": reversal.note,
        },
    )
    return reversal


def list_payments(
    ctx: Ctx,
    *,
    invoice_id: int | None = None,
    organisation_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Payment]:
    """Payments in the caller's reach (``billing.read``), in the order recorded."""
    access = authorize(ctx, "billing.read")
    query = select(Payment).join(Invoice, Invoice.id == Payment.invoice_id).order_by(Payment.seq)
    scope = awards_in_reach(access, Invoice.award_id)
    if scope is not None:
        query = query.where(scope)
    if invoice_id is not None:
        invoice = ctx.db.get(Invoice, invoice_id)
        visible(
            access,
            invoice,
            f"invoice {invoice_id}",
            field="invoice_id",
            application_id=project_of(ctx, invoice.award_id if invoice else None),
        )
        query = query.where(Payment.invoice_id == invoice_id)
    if organisation_id is not None:
        query = query.join(Award, Award.id == Invoice.award_id).where(
            Award.organisation_id == organisation_id
        )
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


# --- statements of account and ageing ----------------------------------------------------------


@dataclass(frozen=True)
class AccountLine:
    """One document on an organisation's statement of account (positive: owed to the centre)."""

    day: date
    kind: str  # invoice | credit_note | payment | reversal
    number: str
    invoice_number: str
    description: str
    amount_cents: int
    balance_cents: int
    due_date: date | None = None


@dataclass
class StatementOfAccount:
    organisation_id: int
    organisation: str
    as_of: date
    lines: list[AccountLine] = field(default_factory=list)
    invoiced_cents: int = 0
    credited_cents: int = 0
    paid_cents: int = 0
    overdue_cents: int = 0

    @property
    def balance_cents(self) -> int:
        return self.invoiced_cents - self.credited_cents - self.paid_cents


def _organisation(ctx: Ctx, organisation_id: int) -> Organisation:
    access = authorize(ctx, "receivable.read")
    return visible(
        access,
        ctx.db.get(Organisation, organisation_id),
        f"organisation {organisation_id}",
        field="organisation_id",
        organisation_id=organisation_id,
    )


def statement_of_account(
    ctx: Ctx, *, organisation_id: int, as_of: date | None = None
) -> StatementOfAccount:
    """An organisation's invoices, credit notes and payments up to ``as_of``, in date order,
    with the running balance it owes (``receivable.read``: finance, the secretariat, the
    auditor, and the organisation's own members)."""
    org = _organisation(ctx, organisation_id)
    today = as_of or ctx.now.date()
    found = StatementOfAccount(organisation_id=org.id, organisation=org.name, as_of=today)
    invoices = list(
        ctx.db.execute(
            select(Invoice)
            .join(Award, Award.id == Invoice.award_id)
            .where(Award.organisation_id == org.id, Invoice.issue_date <= today)
            .order_by(Invoice.seq)
        ).scalars()
    )
    numbers = {i.id: i.number for i in invoices}
    # (day, order within the day, sequence, line without its balance)
    entries: list[tuple[date, int, int, AccountLine]] = []
    for i in invoices:
        text = f"award {i.award_id}, {i.month:%Y-%m}"
        line = AccountLine(
            i.issue_date, "invoice", i.number, i.number, text, i.payable_cents, 0, i.due_date
        )
        entries.append((i.issue_date, 0, i.seq, line))
    ids = list(numbers)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for note in ctx.db.execute(
            select(CreditNote).where(CreditNote.invoice_id.in_(chunk))
        ).scalars():
            day = note.issued_at.date()
            if day <= today and note.payable_cents:
                text = f"credit note: {note.reason}"
                line = AccountLine(
                    day,
                    "credit_note",
                    note.number,
                    numbers[note.invoice_id],
                    text,
                    -note.payable_cents,
                    0,
                )
                entries.append((day, 1, note.seq, line))
        for pay in ctx.db.execute(
            select(Payment).where(Payment.invoice_id.in_(chunk), Payment.received_on <= today)
        ).scalars():
            kind = "reversal" if pay.reverses_id else "payment"
            text = f"{pay.method.value} {pay.reference}" + (f" ({pay.note})" if pay.note else "")
            line = AccountLine(
                pay.received_on,
                kind,
                pay.number,
                numbers[pay.invoice_id],
                text,
                -pay.amount_cents,
                0,
            )
            entries.append((pay.received_on, 2, pay.seq, line))
    balance = 0
    for _day, _order, _seq, line in sorted(entries, key=lambda e: e[:3]):
        balance += line.amount_cents
        found.lines.append(dataclasses.replace(line, balance_cents=balance))
        if line.kind == "invoice":
            found.invoiced_cents += line.amount_cents
        elif line.kind == "credit_note":
            found.credited_cents -= line.amount_cents
        else:
            found.paid_cents -= line.amount_cents
    for pos in positions_of(ctx, invoices, as_of=today).values():
        if pos.status is PaymentStatus.OVERDUE:
            found.overdue_cents += pos.outstanding_cents
    return found


@dataclass
class AgeingRow:
    organisation_id: int
    organisation: str
    buckets: dict[str, int] = field(default_factory=lambda: {b[0]: 0 for b in BUCKETS})

    @property
    def total_cents(self) -> int:
        return sum(self.buckets.values())


@dataclass
class Ageing:
    as_of: date
    rows: list[AgeingRow]
    totals: dict[str, int]

    @property
    def total_cents(self) -> int:
        return sum(self.totals.values())


def bucket_of(days_past_due: int) -> str:
    for label, first, last in BUCKETS:
        if days_past_due >= first and (last is None or days_past_due <= last):
            return label
    raise AssertionError(days_past_due)  # pragma: no cover - the buckets cover every integer


def ageing(ctx: Ctx, *, as_of: date) -> Ageing:
    """What each organisation owes as of ``as_of``, by days past the due date: current (not
    yet due), 1-30, 31-60, 61-90, over 90 (``reconciliation.read``). Credit balances (an
    organisation owed money back) are not receivables and are left out."""
    authorize(ctx, "reconciliation.read")
    invoices = list(
        ctx.db.execute(
            select(Invoice).where(Invoice.issue_date <= as_of).order_by(Invoice.seq)
        ).scalars()
    )
    positions = positions_of(ctx, invoices, as_of=as_of)
    award_org = dict(
        ctx.db.execute(
            select(Award.id, Award.organisation_id).where(
                Award.id.in_({i.award_id for i in invoices} or {0})
            )
        ).all()
    )
    rows: dict[int, AgeingRow] = {}
    for invoice in invoices:
        pos = positions[invoice.id]
        if pos.outstanding_cents <= 0:
            continue
        org_id = award_org[invoice.award_id]
        if org_id not in rows:
            org = ctx.db.get(Organisation, org_id)
            rows[org_id] = AgeingRow(org_id, org.name if org else str(org_id))
        label = bucket_of((as_of - invoice.due_date).days)
        rows[org_id].buckets[label] += pos.outstanding_cents
    ordered = sorted(rows.values(), key=lambda r: r.organisation)
    totals = {b[0]: sum(r.buckets[b[0]] for r in ordered) for b in BUCKETS}
    return Ageing(as_of=as_of, rows=ordered, totals=totals)


# --- housekeeping: reminders and the overdue policy --------------------------------------------


def _recipients(ctx: Ctx, award: Award) -> list[str]:
    from aisc.accounts.models import Person
    from aisc.applications.models import ProjectMember

    return list(
        ctx.db.execute(
            select(Person.email)
            .join(ProjectMember, ProjectMember.person_id == Person.id)
            .where(ProjectMember.application_id == award.application_id)
            .order_by(Person.email)
        ).scalars()
    )


def _unpaid(ctx: Ctx) -> list[tuple[Invoice, Position]]:
    """Invoices with something outstanding today, oldest first."""
    invoices = list(
        ctx.db.execute(
            select(Invoice).where(Invoice.payable_cents > 0).order_by(Invoice.seq)
        ).scalars()
    )
    positions = positions_of(ctx, invoices)
    return [(i, positions[i.id]) for i in invoices if positions[i.id].outstanding_cents > 0]


def reminder_key(invoice: Invoice, kind: str) -> str:
    return f"invoice:{invoice.id}:reminder:{kind}"


def send_reminders(ctx: Ctx) -> int:
    """Queue payment reminders for unpaid invoices (a housekeeping task): once some days before
    the due date (the scheme's ``reminder_days_before``), once on it, once when overdue. Each
    has its own outbox key, so a second pass queues nothing; returns how many were queued."""
    from aisc.outbox import service as outbox
    from aisc.scheme.models import Scheme

    authorize(ctx, "billing.run")
    today = ctx.now.date()
    queued = 0
    for invoice, pos in _unpaid(ctx):
        award = ctx.db.get(Award, invoice.award_id)
        assert award is not None
        scheme = ctx.db.get(Scheme, award.scheme_id)
        before = scheme.reminder_days_before if scheme is not None else 7
        if today > invoice.due_date:
            kind, when = "overdue", f"was due on {invoice.due_date} and is overdue"
        elif today == invoice.due_date:
            kind, when = "due", "is due today"
        elif today >= invoice.due_date - timedelta(days=before):
            kind, when = "due_soon", f"is due on {invoice.due_date}"
        else:
            continue
        to = _recipients(ctx, award)
        if not to:
            continue
        message = outbox.enqueue(
            ctx,
            key=reminder_key(invoice, kind),
            kind=f"invoice_{kind}",
            to=to,
            subject=f"[aisc] invoice {invoice.number}: {format_hkd(pos.outstanding_cents)} {when}",
            body=(
                f"Invoice {invoice.number} (award {award.id}, {invoice.month:%Y-%m}) {when}.\n"
                f"Payable {format_hkd(pos.net_payable_cents)}, paid {format_hkd(pos.paid_cents)}, "
                f"outstanding {format_hkd(pos.outstanding_cents)}.\n"
                f"Terms: {invoice.terms_days} days from issue ({invoice.issue_date}).\n"
            ),
        )
        queued += message is not None
    return queued


def _as_rule(ctx: Ctx) -> Ctx:
    """The overdue policy's holds are the scheme's rule, not the caller's decision: the rule
    acts with the system's rights, under the caller's name in the audit trail."""
    return dataclasses.replace(ctx, principal=SYSTEM)


def _lift_overdue_hold(ctx: Ctx, invoice: Invoice) -> None:
    from aisc.awards.models import AwardHold, HoldKind
    from aisc.awards.service import lift_hold

    held = ctx.db.execute(
        select(AwardHold.id).where(
            AwardHold.award_id == invoice.award_id,
            AwardHold.kind == HoldKind.INVOICE_OVERDUE,
            AwardHold.ref == str(invoice.id),
            AwardHold.lifted_at.is_(None),
        )
    ).first()
    if held is not None:
        lift_hold(
            _as_rule(ctx), award_id=invoice.award_id, kind=HoldKind.INVOICE_OVERDUE, ref=invoice.id
        )


def apply_overdue_policy(ctx: Ctx) -> dict[str, int]:
    """Hold the award of an invoice overdue beyond the scheme's ``overdue_hold_days`` (a
    housekeeping task; off when the scheme sets no days), and lift the hold of an invoice
    that is paid. Idempotent: holds are per (award, invoice)."""
    from aisc.awards.models import AwardHold, HoldKind
    from aisc.awards.service import place_hold
    from aisc.scheme.models import Scheme

    authorize(ctx, "billing.run")
    placed = lifted = 0
    for invoice, pos in _unpaid(ctx):
        award = ctx.db.get(Award, invoice.award_id)
        assert award is not None
        scheme = ctx.db.get(Scheme, award.scheme_id)
        days = scheme.overdue_hold_days if scheme is not None else None
        if days is None or pos.days_overdue <= days:
            continue
        before = len(_award_holds(ctx, award.id))
        place_hold(
            _as_rule(ctx),
            award_id=award.id,
            kind=HoldKind.INVOICE_OVERDUE,
            ref=invoice.id,
            reason=(
                f"invoice {invoice.number}: {format_hkd(pos.outstanding_cents)} overdue "
                f"{pos.days_overdue} days (the scheme holds after {days})"
            ),
        )
        placed += len(_award_holds(ctx, award.id)) > before
    open_holds = ctx.db.execute(
        select(AwardHold).where(
            AwardHold.kind == HoldKind.INVOICE_OVERDUE, AwardHold.lifted_at.is_(None)
        )
    ).scalars()
    for hold in list(open_holds):
        held = (
            ctx.db.get(Invoice, int(hold.ref))
            if hold.ref.isascii() and hold.ref.isdigit()
            else None
        )
        if held is not None and position(ctx, held).outstanding_cents <= 0:
            _lift_overdue_hold(ctx, held)
            lifted += 1
    return {"placed": placed, "lifted": lifted}


def _award_holds(ctx: Ctx, award_id: int) -> list[int]:
    """The open hold ids of an award (a step of the overdue policy)."""
    from aisc.awards.models import AwardHold

    return list(
        ctx.db.execute(
            select(AwardHold.id).where(
                AwardHold.award_id == award_id, AwardHold.lifted_at.is_(None)
            )
        ).scalars()
    )
