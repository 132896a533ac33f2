"""Sign-in through an OpenID Connect provider (authorization code flow with PKCE).

Configured by ``AISC_OIDC_ISSUER``, ``AISC_OIDC_CLIENT_ID`` and ``AISC_OIDC_CLIENT_SECRET``
(and ``AISC_OIDC_REDIRECT_URL`` when the server sits behind a proxy). The flow:

1. ``begin`` reads the issuer's discovery document and returns the authorization URL with a
   fresh ``state``, ``nonce`` and PKCE verifier; the edge keeps those three in a short-lived
   HttpOnly cookie of the browser that started the sign-in.
2. The provider sends the browser back with a ``code`` and the ``state``; ``finish`` checks
   the state against the cookie, exchanges the code (with the client secret and the PKCE
   verifier) at the token endpoint, and verifies the ID token: signature against the issuer's
   published keys, issuer, audience, expiry and nonce.
3. The verified, provider-confirmed e-mail address names an existing, active aisc account;
   accounts are never created by signing in (the centre's staff create them). The edge then
   starts an ordinary browser session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt
from sqlalchemy import select

from aisc.accounts.models import Person
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.errors import NotFound, Unauthenticated
from aisc.settings import Settings

TIMEOUT_S = 10
ALGORITHMS = ["RS256", "ES256", "PS256"]


@dataclass(frozen=True)
class Pending:
    """What the browser keeps between leaving for the provider and coming back."""

    state: str
    nonce: str
    verifier: str

    def dump(self) -> str:
        return f"{self.state}.{self.nonce}.{self.verifier}"

    @classmethod
    def load(cls, text: str) -> Pending | None:
        parts = text.split(".")
        return cls(*parts) if len(parts) == 3 and all(parts) else None


class Provider:
    """One configured OpenID provider; discovery and keys are fetched when first needed."""

    def __init__(self, settings: Settings, client: httpx2.Client | None = None) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            raise NotFound("OIDC sign-in is not configured on this server", field="oidc")
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.client_secret = (
            settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
        )
        self.redirect_url = settings.oidc_redirect_url
        self.http = client or httpx2.Client(timeout=TIMEOUT_S)
        self._discovery: dict[str, Any] | None = None

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.get(url)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise Unauthenticated(f"the sign-in provider did not answer properly ({exc})") from exc
        return body

    @property
    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            found = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if found.get("issuer", "").rstrip("/") != self.issuer:
                raise Unauthenticated("the sign-in provider's discovery names another issuer")
            self._discovery = found
        return self._discovery

    def begin(self, redirect_url: str) -> tuple[str, Pending]:
        pending = Pending(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
        )
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(pending.verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_url or redirect_url,
                "scope": "openid email profile",
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self.discovery['authorization_endpoint']}?{query}", pending

    def exchange(
        self, *, code: str, state: str, pending: Pending | None, redirect_url: str
    ) -> dict[str, Any]:
        """The verified ID token's claims (network calls: run it outside any transaction).

        ``Unauthenticated`` when anything about the sign-in is wrong.
        """
        if pending is None or not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise Unauthenticated("the sign-in could not be matched to this browser; start again")
        try:
            response = self.http.post(
                self.discovery["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_url or redirect_url,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "code_verifier": pending.verifier,
                },
            )
            tokens = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise Unauthenticated("the sign-in provider did not answer properly") from exc
        if response.status_code != 200 or "id_token" not in tokens:
            raise Unauthenticated("the sign-in provider refused the sign-in")
        claims = self._verify(tokens["id_token"], nonce=pending.nonce)
        email = str(claims.get("email", "")).strip().lower()
        if not email or claims.get("email_verified") is False:
            raise Unauthenticated("the sign-in provider did not confirm an e-mail address")
        return claims

    def finish(self, ctx: Ctx, *, claims: dict[str, Any]) -> Person | None:
        """The aisc account verified ``claims`` vouch for (``exchange``'s result).

        None when the identity is genuine but names no active account (recorded: the edge
        commits, then refuses).
        """
        email = str(claims.get("email", "")).strip().lower()
        person = ctx.db.execute(select(Person).where(Person.email == email)).scalar_one_or_none()
        if person is None or not person.is_active:
            record(
                ctx,
                action="login.oidc_unknown",
                object_type="person",
                object_id="unknown",
                after={"issuer": self.issuer, "subject": claims.get("sub")},
            )
            return None
        record(
            ctx,
            action="login.oidc",
            object_type="person",
            object_id=person.id,
            after={"issuer": self.issuer, "subject": claims.get("sub")},
        )
        return person

    def _verify(self, token: str, *, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            keys = self._get_json(self.discovery["jwks_uri"]).get("keys", [])
            match = [k for k in keys if k.get("kid") == header.get("kid")] or keys[:1]
            if not match:
                raise Unauthenticated("the sign-in provider publishes no signing key")
            key = jwt.PyJWK.from_json(json.dumps(match[0]))
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=ALGORITHMS,
                audience=self.client_id,
                issuer=self.discovery["issuer"],
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the ID token is not valid: {exc}") from exc
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise Unauthenticated("the ID token does not answer this sign-in (nonce)")
        return claims
