"""Signed-in browser sessions for the portal tests (the access tests' centre, with passwords)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from aisc.accounts import auth
from aisc.accounts import service as accounts
from aisc.accounts.models import Person
from aisc.app import create_app
from aisc.audit.models import AuditEvent
from tests.accounts.centre import Centre

PASSWORD = "Correct-Horse-42"


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> TestClient:
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    done = client.post(
        "/login",
        data={"email": email, "password": password, "login_token": token.group(1), "next": "/"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[-2000:]
    return client


def csrf_of(page_html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


class Browsers:
    """One signed-in test client per persona of the centre (anonymous: none)."""

    def __init__(self, app: Any, centre: Centre) -> None:
        self.app = app
        self.centre = centre
        self.clients: dict[str, TestClient] = {}

    def __call__(self, persona: str) -> TestClient:
        if persona not in self.clients:
            client = TestClient(self.app, base_url="https://testserver")
            who = self.centre.personas[persona]
            if who.person_id is not None:
                with self.centre.uow() as ctx:
                    email = accounts.get_person(ctx, person_id=who.person_id).email
                sign_in(client, email)
            self.clients[persona] = client
        return self.clients[persona]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture
def centre(uow, clock) -> Centre:
    built = Centre(uow, clock)
    # The personas' API tokens stay valid: the password is stored directly, not through
    # ``set_password``, which (rightly) ends every token of the person.
    hashed = auth.hash_password(PASSWORD)
    with uow() as ctx:
        for persona in built.personas.values():
            if persona.person_id is not None:
                ctx.db.get(Person, persona.person_id).password_hash = hashed
    return built


@pytest.fixture
def browsers(engine, clock, centre) -> Iterator[Browsers]:
    app = create_app(engine=engine, clock=clock)
    found = Browsers(app, centre)
    yield found
    found.close()


def audit_count(uow: Any) -> int:
    with uow() as ctx:
        return int(ctx.db.execute(select(func.count()).select_from(AuditEvent)).scalar_one())
