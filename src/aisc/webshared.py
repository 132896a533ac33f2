"""What the API and the portal share about HTTP: the session cookie, the safe methods, the
client's address and bounded ids in paths.

Both edges sign people in with the same session cookie and refuse the same unsafe requests, so
these facts live here, beneath both, and neither edge imports the other's plumbing: the API's
(the principal, ``requires``, the unit of work, error bodies) stays in ``aisc.http``, the
portal's in ``aisc.portal.web``. ``tests/test_layers.py`` keeps this module free of both edges.

Client address: the socket's peer, unless the peer is one of ``settings.trusted_proxies``; then
the right-most ``X-Forwarded-For`` entry that is not a trusted proxy. Rate limits
(``aisc.ratelimit``) and the audit trail count per client address.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request, Response

from aisc.accounts.auth import SESSION_HOURS
from aisc.ratelimit import client_of

SESSION_COOKIE = "aisc_session"
CSRF_HEADER = "X-CSRF-Token"
# Requests that change nothing: read transactions, and no CSRF token asked of a session.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Ids in paths are bounded so that an absurd number is a 422, not a database overflow.
IdPath = Annotated[int, Path(ge=1, lt=2**31)]


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    # SameSite=Lax, not Strict: a Strict cookie set at the end of an OIDC redirect chain is
    # not sent on the next page. Cross-site changes are stopped by the CSRF token regardless.
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        secure=request.app.state.settings.cookie_secure,
        samesite="lax",
        path="/",
    )


def client_address(request: Request) -> str:
    """Who is asking, as far as rate limits and the audit trail are concerned (see above)."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.getlist("x-forwarded-for")
    return client_of(peer, forwarded, request.app.state.settings.trusted_proxies)
