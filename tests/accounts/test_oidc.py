"""OIDC sign-in against a real (local) OpenID provider over loopback HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aisc.app import create_app
from aisc.audit.models import AuditEvent
from aisc.settings import Settings
from tests.accounts.oidc_issuer import CLIENT_ID, CLIENT_SECRET, Issuer
from tests.conftest import _serve
from tests.factories import World

PREFIX = "/api/v1"


@pytest.fixture(scope="module")
def issuer():
    with Issuer() as running:
        yield running


@pytest.fixture
def portal(engine, clock, issuer):
    settings = Settings(
        oidc_issuer=issuer.url, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET
    )
    yield from _serve(
        create_app(settings, engine=engine, clock=clock), base_url="https://testserver"
    )


@pytest.fixture(autouse=True)
def reset(issuer):
    issuer.email, issuer.email_verified = "pi@uni.example", True
    issuer.sign_with_other_key, issuer.audience, issuer.nonce = False, None, None


def sign_in(portal: TestClient, *, state: str | None = None) -> httpx2.Response:
    """What a browser does: to the provider, back with a code, to the callback."""
    start = portal.get(f"{PREFIX}/auth/oidc/login", follow_redirects=False)
    assert start.status_code == 302, start.text
    at_provider = httpx2.get(start.headers["location"], follow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlparse(at_provider.headers["location"])
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    if state is not None:
        query["state"] = state
    return portal.get(back.path, params=query, follow_redirects=False)


def test_signing_in_through_the_provider_starts_a_session(portal, uow, issuer):
    world = World(uow)
    start = portal.get(f"{PREFIX}/auth/oidc/login", follow_redirects=False)
    params = parse_qs(urlparse(start.headers["location"]).query)
    assert params["code_challenge_method"] == ["S256"]
    assert params["redirect_uri"] == [f"https://testserver{PREFIX}/auth/oidc/callback"]
    done = sign_in(portal)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/"
    me = portal.get(f"{PREFIX}/auth/me")
    assert me.status_code == 200
    assert me.json()["person"]["id"] == world.applicant
    with uow() as ctx:
        actions = list(ctx.db.execute(select(AuditEvent.action)).scalars())
    assert "login.oidc" in actions
    assert "session.start" in actions


def test_an_identity_without_an_account_is_refused_and_recorded(portal, uow, issuer):
    World(uow)
    issuer.email = "stranger@example.org"
    refused = sign_in(portal)
    assert refused.status_code == 401
    assert "no aisc account" in refused.json()["detail"]["message"]
    assert portal.get(f"{PREFIX}/auth/me").status_code == 401
    with uow() as ctx:
        actions = list(ctx.db.execute(select(AuditEvent.action)).scalars())
    assert "login.oidc_unknown" in actions


@pytest.mark.parametrize(
    ("knob", "value", "words"),
    [
        ("sign_with_other_key", True, "not valid"),
        ("audience", "someone-else", "not valid"),
        ("nonce", "replayed-nonce", "nonce"),
        ("email_verified", False, "e-mail"),
    ],
)
def test_a_token_that_does_not_check_out_is_refused(portal, uow, issuer, knob, value, words):
    World(uow)
    setattr(issuer, knob, value)
    refused = sign_in(portal)
    assert refused.status_code == 401
    assert words in refused.json()["detail"]["message"]
    assert portal.get(f"{PREFIX}/auth/me").status_code == 401


def test_a_forged_state_or_a_replayed_code_is_refused(portal, uow, issuer):
    World(uow)
    assert sign_in(portal, state="forged").status_code == 401
    # Replaying a code the provider already redeemed fails at the provider.
    start = portal.get(f"{PREFIX}/auth/oidc/login", follow_redirects=False)
    back = urlparse(
        httpx2.get(start.headers["location"], follow_redirects=False).headers["location"]
    )
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert portal.get(back.path, params=query, follow_redirects=False).status_code == 303
    # A new sign-in in the same browser, answered with the old, already redeemed code.
    again = portal.get(f"{PREFIX}/auth/oidc/login", follow_redirects=False)
    query["state"] = parse_qs(urlparse(again.headers["location"]).query)["state"][0]
    replay = portal.get(back.path, params=query, follow_redirects=False)
    assert replay.status_code == 401
    assert "refused" in replay.json()["detail"]["message"]


def test_without_configuration_there_is_no_oidc_sign_in(api):
    response = api.get(f"{PREFIX}/auth/oidc/login", follow_redirects=False)
    assert response.status_code == 404
    assert "not configured" in response.json()["detail"]["message"]
