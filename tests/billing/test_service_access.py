"""Billing, ledger and audit services authorise by the permission matrix whoever calls them.

Each function is called as a signed-in person of the access tests' centre (two tenants' projects,
one person per role) and as the system: a tenant reaches only their own project's objects (other
tenants' are "not found"), a role the matrix does not name is refused, the system reaches all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, select

from aisc.access import AccessDenied, Principal
from aisc.accounts.models import Person
from aisc.audit import service as audit
from aisc.audit.models import AuditEvent
from aisc.billing import credits, views
from aisc.billing import service as billing
from aisc.billing.alerts import check_burn
from aisc.billing.models import Invoice
from aisc.context import Ctx
from aisc.errors import InsufficientFunds, NotFound
from aisc.ledger import service as ledger
from aisc.ledger.models import LedgerEntry
from aisc.scheme.models import Scheme
from tests.accounts.centre import Centre


@pytest.fixture
def centre(uow, clock) -> Centre:
    return Centre(uow, clock)


@contextmanager
def acting(uow, centre: Centre, persona: str) -> Iterator[Ctx]:
    """A unit of work with ``persona``'s rights (as the API or the portal gives them)."""
    person_id = centre.personas[persona].person_id
    with uow() as ctx:
        person = ctx.db.get(Person, person_id)
        principal = Principal.for_person(
            person_id=person_id,
            roles=person.role_set,
            organisation_ids=person.organisation_ids,
            via="session",
        )
        yield replace(ctx, principal=principal, actor=principal.label)


def _scheme(uow) -> int:
    with uow() as ctx:
        return ctx.db.execute(select(Scheme.id)).scalar_one()


def _count(uow, model) -> int:
    with uow() as ctx:
        return int(ctx.db.execute(select(func.count()).select_from(model)).scalar_one())


def test_the_fund_position_is_read_by_those_who_read_the_ledger(centre, uow):
    with uow() as ctx:
        fund = ledger.balances(ctx)
    assert fund.committed > 0
    for persona in ("secretariat", "finance", "auditor"):
        with acting(uow, centre, persona) as ctx:
            assert ledger.balances(ctx) == fund
            assert ledger.list_entries(ctx)
    for persona in ("pi", "member", "operator", "reviewer"):
        with acting(uow, centre, persona) as ctx:
            with pytest.raises(AccessDenied, match=r"ledger\.read"):
                ledger.balances(ctx)
            with pytest.raises(AccessDenied, match=r"ledger\.read"):
                ledger.list_entries(ctx)
            # The published figures (the scheme's fund) are read under their own action.
            assert ledger.balances(ctx, action="scheme.read") == fund


def test_an_award_balance_reaches_its_own_project_only(centre, uow):
    with uow() as ctx:
        own = ledger.award_balance(ctx, award_id=centre.award_a)
    with acting(uow, centre, "pi") as ctx:
        assert ledger.award_balance(ctx, award_id=centre.award_a, action="award.read") == own
        with pytest.raises(NotFound, match=f"award {centre.award_b} not found"):
            ledger.award_balance(ctx, award_id=centre.award_b, action="award.read")
        with pytest.raises(AccessDenied):  # the ledger itself is staff's
            ledger.award_balance(ctx, award_id=centre.award_a)
    with acting(uow, centre, "outsider") as ctx, pytest.raises(NotFound):
        ledger.award_balance(ctx, award_id=centre.award_a, action="award.read")
    with acting(uow, centre, "finance") as ctx:
        assert ledger.award_balance(ctx, award_id=centre.award_b).committed > 0


def test_the_ledger_parts_of_other_actions_check_those_actions(centre, uow):
    entries, scheme = _count(uow, LedgerEntry), _scheme(uow)
    with acting(uow, centre, "operator") as ctx:
        with pytest.raises(AccessDenied, match=r"decision\.make"):
            ledger.commit(ctx, scheme_id=scheme, award_id=centre.award_a, amount_cents=100)
        with pytest.raises(AccessDenied, match=r"billing\.run"):
            ledger.pay_subsidy(
                ctx,
                award_id=centre.award_a,
                amount_cents=1,
                memo="x",
                scheme_id=scheme,
                remaining=9,
            )
        with pytest.raises(AccessDenied, match=r"billing\.credit"):
            ledger.reverse_subsidy(ctx, award_id=centre.award_a, amount_cents=1, memo="x")
        with pytest.raises(AccessDenied, match=r"award\.close"):
            ledger.release_remaining(ctx, award_id=centre.award_a, memo="x")
        with pytest.raises(AccessDenied, match=r"billing\.run"):
            check_burn(ctx)
    assert _count(uow, LedgerEntry) == entries


def test_a_refused_commitment_names_no_award(centre, uow):
    """The award being decided is flushed in a transaction that rolls back: its id would be
    given to the next award, so the refusal must not name it."""
    scheme = _scheme(uow)
    with uow() as ctx:
        available = ledger.balances(ctx).available
        with pytest.raises(InsufficientFunds) as refused:
            ledger.commit(
                ctx, scheme_id=scheme, award_id=centre.award_a, amount_cents=available + 1
            )
    assert "award" not in refused.value.message
    assert set(refused.value.details) == {"requested_cents", "available_cents"}


def test_invoices_reach_their_own_project_only(centre, uow):
    with acting(uow, centre, "pi") as ctx:
        shown = views.show_invoice(ctx, invoice_id=centre.invoice_a)
        assert shown.award_id == centre.award_a
        assert shown.lines
        assert {i.id for i in views.read_invoices(ctx)} == {centre.invoice_a}
        with pytest.raises(NotFound, match=f"invoice {centre.invoice_b} not found"):
            views.show_invoice(ctx, invoice_id=centre.invoice_b)
        with pytest.raises(NotFound):
            views.statement(ctx, invoice_id=centre.invoice_b)
        other = ctx.db.get(Invoice, centre.invoice_b)
        for read in (billing.lines_of, billing.credit_notes_of):
            with pytest.raises(NotFound):
                read(ctx, other)
        with pytest.raises(NotFound):
            credits.credited(ctx, centre.invoice_b)
        assert credits.credited(ctx, centre.invoice_a) == (0, 0, 0)
    with acting(uow, centre, "operator") as ctx:  # billing.read by relation only: none
        assert views.read_invoices(ctx) == []
        with pytest.raises(NotFound):
            views.show_invoice(ctx, invoice_id=centre.invoice_a)
    with acting(uow, centre, "auditor") as ctx:
        assert {i.id for i in views.read_invoices(ctx)} >= {centre.invoice_a, centre.invoice_b}
        assert views.statement(ctx, invoice_id=centre.invoice_b).award.id == centre.award_b


def test_the_busy_report_shows_a_tenant_only_their_awards(centre, uow, clock):
    today = clock().date()
    with uow() as ctx:
        everything = views.busy_report(ctx, today=today)
    assert {a.award_id for a in everything.awards} >= {centre.award_a, centre.award_b}
    with acting(uow, centre, "pi") as ctx:
        own = views.busy_report(ctx, today=today)
        assert {a.award_id for a in own.awards} == {centre.award_a}
        mine = next(a for a in everything.awards if a.award_id == centre.award_a)
        assert own.busy_pct == mine.busy_pct
    with acting(uow, centre, "outsider") as ctx:
        assert views.busy_report(ctx, today=today).awards == []
        assert views.busy_overall(ctx, today=today) is None


@pytest.mark.parametrize(
    ("busy", "reserved", "pct"),
    [
        (1, 3, "33.3"),
        (2, 3, "66.7"),
        (1, 8, "12.5"),
        (1, 16, "6.3"),  # 6.25: half up, once (not to even, not through a float)
        (1, 1600, "0.1"),  # 0.0625 -> 0.1
        (1, 2001, "0.0"),
        (5, 4, "125.0"),
        (0, 7, "0.0"),
    ],
)
def test_busy_pct_is_rounded_once_half_up(busy, reserved, pct):
    assert f"{views.busy_pct(busy, reserved):.1f}" == pct


def test_busy_pct_of_nothing_reserved_is_none():
    assert views.busy_pct(5, 0) is None


def test_audit_events_are_read_by_the_audit_readers_and_filtered_by_action(centre, uow):
    with acting(uow, centre, "auditor") as ctx:
        issued = audit.list_events(ctx, action="invoice.issue")
        assert {e.action for e in issued} == {"invoice.issue"}
        assert len(issued) == 2  # project A's and project B's March invoices
        assert audit.verify(ctx).ok
    for persona in ("finance", "operator", "pi"):
        with acting(uow, centre, persona) as ctx:
            with pytest.raises(AccessDenied, match=r"audit\.read"):
                audit.list_events(ctx)
            with pytest.raises(AccessDenied, match=r"audit\.read"):
                audit.verify(ctx)


def test_only_the_system_rotates_and_checkpoints_the_audit_keys(centre, uow, tmp_path):
    events = _count(uow, AuditEvent)
    for persona in ("auditor", "secretariat"):
        with acting(uow, centre, persona) as ctx:
            with pytest.raises(AccessDenied, match="command line"):
                audit.rotate_key(ctx, key_file=tmp_path / "audit.key")
            with pytest.raises(AccessDenied, match="command line"):
                audit.checkpoint(ctx)
    assert not (tmp_path / "audit.key").exists()
    with uow() as ctx:
        signed = audit.checkpoint(ctx)
    assert signed.count == events


def test_month_read_models_are_the_same_through_every_door(centre, uow, client, cli):
    """The API and the command line render the one read model."""
    with uow() as ctx:
        expected = views.show_invoice(ctx, invoice_id=centre.invoice_a).model_dump(mode="json")
    assert client.get(f"/api/v1/invoices/{centre.invoice_a}").json() == expected
    shown = json.loads(cli("billing", "show", str(centre.invoice_a), "--json").output)
    # The command line reads the wall clock: by today the invoice is long past its due date.
    assert shown.pop("payment_status") == "overdue"
    assert shown == {k: v for k, v in expected.items() if k != "payment_status"}
    day = date(2025, 4, 10)
    busy = client.get("/api/v1/billing/busy", params={"as_of": f"{day}"}).json()
    assert json.loads(cli("billing", "busy", "--as-of", f"{day}", "--json").output) == busy
