"""Anonymous sign-in floods: reads never wait for the write lock, sign-in never hashes inside a
transaction, attempts are limited per client address, lockout tells nothing and cannot be
used to keep an owner out from elsewhere, and failures for unknown accounts are audited without
flooding the trail (issue 15, item 3)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from aisc.access import SYSTEM
from aisc.accounts import auth, signin
from aisc.accounts.models import Person, UnknownSignIns
from aisc.accounts.schemas import PersonCreate
from aisc.accounts.service import create_person
from aisc.app import API_PREFIX, create_app
from aisc.audit.models import AuditEvent
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.errors import RateLimited
from aisc.ratelimit import HashSlots, RateLimiter
from aisc.settings import Settings

LOGIN = f"{API_PREFIX}/auth/login"
PASSWORD = "Harbour-Lights-2025"
EMAIL = "ada@lab.example"


@pytest.fixture
def ada(uow) -> int:
    with uow() as ctx:
        person = create_person(ctx, data=PersonCreate(email=EMAIL, name="Ada"))
        auth.set_password(ctx, person_id=person.id, password=PASSWORD)
        return person.id


@contextmanager
def serve(
    engine: Engine,
    clock: Any,
    *,
    peer: str = "testclient",
    **settings: Any,
) -> Iterator[TestClient]:
    settings.setdefault("sign_in_per_minute", 1000)
    app = create_app(Settings(**settings), engine=engine, clock=clock)
    with TestClient(app, base_url="https://testserver", client=(peer, 50000)) as client:
        yield client


@contextmanager
def quick_engine(engine: Engine) -> Iterator[Engine]:
    """Another engine on the test's database that gives up on a lock after 0.1 s."""
    url = engine.url.render_as_string(hide_password=False)
    other = make_engine(url, busy_timeout_ms=100)
    try:
        yield other
    finally:
        other.dispose()


@contextmanager
def writer_holding_the_lock(engine: Engine) -> Iterator[None]:
    """A connection in the middle of a write transaction (SQLite: BEGIN IMMEDIATE)."""
    with engine.connect() as connection, connection.begin():
        if engine.dialect.name == "postgresql":
            connection.execute(text("LOCK TABLE price_lists IN EXCLUSIVE MODE"))
        yield


def write_impatiently(engine: Engine) -> None:
    with transaction(make_sessionmaker(engine)) as db:
        if engine.dialect.name == "postgresql":
            db.execute(text("SET LOCAL lock_timeout = '100ms'"))
        db.execute(text("DELETE FROM price_lists"))


def _events(uow, action: str) -> list[AuditEvent]:
    with uow() as ctx:
        return list(
            ctx.db.execute(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            ).scalars()
        )


# --- reads without the write lock -------------------------------------------------------------


def test_a_get_is_answered_while_another_connection_holds_the_write_lock(engine, clock):
    with quick_engine(engine) as impatient:
        app = create_app(Settings(), engine=impatient, clock=clock)
        with TestClient(app, base_url="https://testserver") as client:
            with writer_holding_the_lock(engine):
                # Under BEGIN IMMEDIATE for every request this waited for the lock and failed.
                answer = client.get(f"{API_PREFIX}/price-lists")
                assert answer.status_code == 200, answer.text
                page = client.get("/")
                assert page.status_code == 200
            # A write waits for the lock (and here gives up), so it is still a write.
            with writer_holding_the_lock(engine), pytest.raises(DBAPIError):
                write_impatiently(impatient)


def test_a_read_transaction_refuses_to_write_and_the_connection_writes_again_after(engine, clock):
    factory = make_sessionmaker(engine)
    with transaction(factory, write=False) as db:
        db.add(Person(email="ro@lab.example", name="Ro", created_at=clock()))
        with pytest.raises(DBAPIError):
            db.flush()
        db.rollback()
    with transaction(factory) as db:  # the same pooled connection, writing again
        db.add(Person(email="rw@lab.example", name="Rw", created_at=clock()))
    with transaction(factory, write=False) as db:
        emails = set(db.execute(select(Person.email)).scalars())
    assert emails == {"rw@lab.example"}


# --- no lock while hashing --------------------------------------------------------------------


class BlockingHasher:
    """The real hasher, but every hash or check waits until the test lets it go."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def _block(self) -> None:
        self.entered.set()
        assert self.release.wait(30), "the test never released the hasher"

    def hash(self, password: str) -> str:
        self._block()
        return str(self.inner.hash(password))

    def verify(self, stored: str, password: str) -> bool:
        self._block()
        return bool(self.inner.verify(stored, password))

    def check_needs_rehash(self, stored: str) -> bool:
        return bool(self.inner.check_needs_rehash(stored))


def test_sign_in_holds_no_lock_while_the_password_is_hashed(engine, clock, ada, uow, monkeypatch):
    blocking = BlockingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", blocking)
    answers: list[Any] = []
    with serve(engine, clock) as client:
        signing_in = threading.Thread(
            target=lambda: answers.append(
                client.post(LOGIN, json={"email": EMAIL, "password": PASSWORD})
            )
        )
        signing_in.start()
        try:
            assert blocking.entered.wait(30), "the sign-in never reached the hasher"
            # Mid-hash: another writer commits at once, on the very rows sign-in writes.
            with quick_engine(engine) as impatient:
                with transaction(make_sessionmaker(impatient)) as db:
                    ctx = Ctx(db=db, now=clock(), actor="test", principal=SYSTEM)
                    db.get(Person, ada).name = "Ada L."
                    record(ctx, action="person.update", object_type="person", object_id=ada)
                answer = TestClient(create_app(Settings(), engine=impatient, clock=clock)).get(
                    f"{API_PREFIX}/price-lists"
                )
                assert answer.status_code == 200
        finally:
            blocking.release.set()
            signing_in.join(30)
    assert len(answers) == 1
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["person"]["name"] == "Ada L."


# --- rate limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("email", [EMAIL, "nobody@lab.example"])
def test_sign_in_is_limited_per_address_for_known_and_unknown_emails(engine, clock, ada, email):
    with serve(engine, clock, sign_in_per_minute=3) as client:
        for _ in range(3):
            assert client.post(LOGIN, json={"email": email, "password": "wrong"}).status_code == 401
        refused = client.post(LOGIN, json={"email": email, "password": PASSWORD})
        assert refused.status_code == 429
        assert refused.json()["detail"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # A forged X-Forwarded-For from an untrusted peer changes nothing.
        forged = client.post(
            LOGIN,
            json={"email": email, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.9"},
        )
        assert forged.status_code == 429


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(engine, clock, ada):
    with serve(
        engine, clock, peer="10.0.0.2", sign_in_per_minute=2, trusted_proxies=["10.0.0.0/8"]
    ) as client:
        wrong = {"email": EMAIL, "password": "wrong"}

        def attempt(forwarded: str) -> int:
            headers = {"X-Forwarded-For": forwarded}
            return client.post(LOGIN, json=wrong, headers=headers).status_code

        assert [attempt("203.0.113.5") for _ in range(3)] == [401, 401, 429]
        # Whatever a client prepends itself, the proxy's own entry (right-most) counts.
        assert attempt("198.51.100.1, 203.0.113.5") == 429
        assert attempt("203.0.113.6") == 401


def test_the_portal_sign_in_and_estimate_are_limited_too(engine, clock, ada):
    with serve(engine, clock, sign_in_per_minute=2, costly_per_minute=2) as client:
        codes = []
        for _ in range(3):
            form = client.get("/login")
            token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
            answer = client.post(
                "/login",
                data={"email": EMAIL, "password": "wrong", "login_token": token, "next": "/"},
                follow_redirects=False,
            )
            codes.append(answer.status_code)
        assert codes == [401, 401, 429]
        assert int(answer.headers["Retry-After"]) >= 1
        estimates = [client.get("/estimate?gpu_cards=8&months=3") for _ in range(3)]
        assert [e.status_code for e in estimates] == [200, 200, 429]
        assert int(estimates[-1].headers["Retry-After"]) >= 1


def test_the_limiter_refills_and_forgets_the_least_recently_seen_clients():
    now = [0.0]
    limiter = RateLimiter({"sign_in": 2}, clock=lambda: now[0], max_clients=2)
    assert limiter.take("sign_in", "192.0.2.1") == 0.0
    assert limiter.take("sign_in", "192.0.2.1") == 0.0
    assert limiter.take("sign_in", "192.0.2.1") == pytest.approx(30.0)
    # IPv6 is counted per /64: another address of the same network shares the bucket.
    limiter.take("sign_in", "2001:db8::1")
    limiter.take("sign_in", "2001:db8::2")
    assert limiter.take("sign_in", "2001:db8::ffff") > 0
    now[0] += 30.0
    assert limiter.take("sign_in", "2001:db8::1") == 0.0
    with pytest.raises(RateLimited):
        limiter.check("sign_in", "2001:db8::1")
    limiter.take("sign_in", "192.0.2.2")  # a third client: the oldest (192.0.2.1) is forgotten
    assert limiter.take("sign_in", "192.0.2.1") == 0.0


def test_only_so_many_password_checks_run_at_once():
    slots = HashSlots(1, wait_s=0.05)
    with slots.slot(), pytest.raises(RateLimited) as refused, slots.slot():
        pass
    assert refused.value.retry_after == 1
    with slots.slot():  # released again
        pass


# --- the same answer, the same cost -----------------------------------------------------------


class CountingHasher:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.operations = 0

    def hash(self, password: str) -> str:
        self.operations += 1
        return str(self.inner.hash(password))

    def verify(self, stored: str, password: str) -> bool:
        self.operations += 1
        return bool(self.inner.verify(stored, password))

    def check_needs_rehash(self, stored: str) -> bool:
        return bool(self.inner.check_needs_rehash(stored))


def test_every_refusal_says_the_same_and_costs_one_hash(engine, clock, ada, uow, monkeypatch):
    with uow() as ctx:
        ctx.db.add(Person(email="gone@lab.example", name="Gone", created_at=clock(),
                          is_active=False, password_hash=auth._hasher.hash(PASSWORD)))  # fmt: skip
        ctx.db.add(Person(email="oidc@lab.example", name="Oidc", created_at=clock()))
    counting = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", counting)
    with serve(engine, clock) as client:

        def refusal(email: str, password: str) -> Any:
            before = counting.operations
            answer = client.post(LOGIN, json={"email": email, "password": password})
            assert answer.status_code == 401
            assert counting.operations - before == 1, f"{email}: not exactly one hash"
            return answer.json()

        wrong = refusal(EMAIL, "wrong")
        assert refusal("nobody@lab.example", PASSWORD) == wrong
        assert refusal("gone@lab.example", PASSWORD) == wrong
        assert refusal("oidc@lab.example", PASSWORD) == wrong
        for _ in range(signin.MAX_FAILURES - 1):
            refusal(EMAIL, "wrong")
        # Locked now: the right password, refused in the same words, at the same cost.
        assert refusal(EMAIL, PASSWORD) == wrong
        assert refusal(EMAIL, "wrong") == wrong
    assert wrong["detail"]["message"] == "invalid e-mail or password"
    failed = _events(uow, "login.failed")
    reasons = [e.after for e in failed]
    assert any('"reason":"inactive"' in r for r in reasons)
    assert any('"reason":"no_password"' in r for r in reasons)
    assert len(_events(uow, "login.locked")) == 1  # the 1st refusal of the lock (then 10th ...)


# --- lockout per source -----------------------------------------------------------------------


def _try(uow, source: str, password: str) -> Person | None:
    with uow() as ctx:
        return auth.authenticate(ctx, email=EMAIL, password=password, source=source)


def test_a_flood_from_one_address_does_not_lock_the_owner_out_elsewhere(uow, ada, clock):
    for _ in range(50):
        assert _try(uow, "203.0.113.66", "wrong") is None
    assert _try(uow, "203.0.113.66", PASSWORD) is None  # that address is locked out
    assert _try(uow, "198.51.100.7", PASSWORD) is not None  # the owner, elsewhere, is not
    clock.advance(minutes=16)
    assert _try(uow, "203.0.113.66", PASSWORD) is not None


def test_guessing_spread_over_many_addresses_locks_the_account_everywhere(uow, ada, clock):
    for n in range(signin.LOCKED_SOURCES):
        for _ in range(signin.MAX_FAILURES):
            assert _try(uow, f"203.0.113.{n}", "wrong") is None
    assert _try(uow, "198.51.100.7", PASSWORD) is None
    with uow() as ctx:
        assert ctx.db.get(Person, ada).locked_until is not None
    clock.advance(minutes=16)
    assert _try(uow, "198.51.100.7", PASSWORD) is not None


# --- unknown accounts in the audit trail ------------------------------------------------------


def test_unknown_account_failures_are_audited_per_source_without_flooding_the_trail(
    engine, clock, uow
):
    with serve(engine, clock, peer="203.0.113.9") as client:
        for n in range(12):
            body = {"email": f"guess{n}@lab.example", "password": "secret-in-the-wrong-box"}
            assert client.post(LOGIN, json=body).status_code == 401
    with serve(engine, clock, peer="198.51.100.4") as client:
        assert client.post(LOGIN, json={"email": "x@lab.example", "password": "p"}).status_code
    events = _events(uow, "login.unknown")
    counts = [(e.after, e.object_type) for e in events]
    assert len(events) == 3, counts  # 203.0.113.9 at 1 and 10; 198.51.100.4 at 1
    assert '"failures":10' in events[1].after
    assert '"source":"203.0.113.9"' in events[1].after
    assert '"source":"198.51.100.4"' in events[2].after
    trail = " ".join(e.after for e in events)
    assert "guess" not in trail
    assert "secret-in-the-wrong-box" not in trail
    with uow() as ctx:
        rows = {r.source: r.failures for r in ctx.db.execute(select(UnknownSignIns)).scalars()}
    assert rows == {"203.0.113.9": 12, "198.51.100.4": 1}
    # A new hour is a new window: its first failure is audited again.
    clock.advance(hours=1)
    with uow() as ctx:
        assert (
            auth.authenticate(ctx, email="g@lab.example", password="p", source="203.0.113.9")
            is None
        )
    assert len(_events(uow, "login.unknown")) == 4
