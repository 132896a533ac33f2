"""What every response carries and what no request may exceed, enforced in front of the app.

- **Request size**: ``BodyLimit`` refuses a body larger than the configured limit with 413 before
  the application reads it: at once when ``Content-Length`` says so, and while streaming a body
  without one (chunked), so an anonymous client cannot make the server hold more than the limit
  (plus one chunk) in memory. Paths where uploads are expected get a larger limit.
- **Headers**: ``security_headers`` gives every response a Content-Security-Policy whose scripts
  are this site's files or carry the response's nonce (never inline code otherwise, never
  ``'unsafe-inline'`` for scripts; none for styles on portal pages), ``frame-ancestors 'none'``,
  ``nosniff``, no referrer, and over TLS ``Strict-Transport-Security``.
  ``SecurityHeaders`` sets them on every HTTP response (a plain ASGI middleware: it wraps
  ``send`` and never buffers or re-streams the response) and gives the request its nonce
  (``request.state.csp_nonce``) for the pages' inline scripts.
- **Timing**: ``RequestTiming`` (outermost) measures every HTTP request from its arrival to the
  end of its response and hands the duration, the status and the routed scope to an observer
  (``aisc.metrics.Metrics.observe_request``), refused requests and errors included.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Static headers of every response (the CSP is built per response, with its nonce).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Browsers remember this for a year; only ever sent over TLS (RFC 6797 ignores it otherwise).
HSTS = "max-age=31536000; includeSubDomains"


def new_nonce() -> str:
    """A fresh CSP nonce: 128 random bits, one per response."""
    return secrets.token_urlsafe(16)


def content_security_policy(nonce: str, *, inline_styles: bool = False) -> str:
    """The policy of a response whose permitted inline scripts carry ``nonce``.

    ``inline_styles`` only for the API's documentation page, whose bundled Swagger UI sets
    style attributes in its markup; portal pages use the stylesheet alone.
    """
    styles = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src {styles}; "
        "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )


def security_headers(headers: Any, *, nonce: str, https: bool, inline_styles: bool = False) -> None:
    """Set the security headers on a response's ``headers`` (those it set itself win)."""
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    headers.setdefault(
        "Content-Security-Policy", content_security_policy(nonce, inline_styles=inline_styles)
    )
    if https:
        headers.setdefault("Strict-Transport-Security", HSTS)


class SecurityHeaders:
    """ASGI middleware: every HTTP response gets ``security_headers`` with the request's nonce.

    A URL with a NUL character (raw in the path or escaped in the query) is answered 422 here,
    before routing. ``inline_styles_path`` is the one page allowed inline styles (the API's
    documentation, whose bundled Swagger UI sets style attributes).
    """

    def __init__(self, app: ASGIApp, *, inline_styles_path: str) -> None:
        self.app = app
        self.inline_styles_path = inline_styles_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = new_nonce()
        scope.setdefault("state", {})["csp_nonce"] = nonce
        https = scope.get("scheme") == "https"
        inline_styles = scope["path"] == self.inline_styles_path

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                security_headers(headers, nonce=nonce, https=https, inline_styles=inline_styles)
            await send(message)

        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            problem = {"code": "invalid", "message": "the URL may not contain NUL characters"}
            body = json.dumps({"detail": {**problem, "field": "url"}}).encode()
            await sending(
                {
                    "type": "http.response.start",
                    "status": 422,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await sending({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, sending)


class BodyLimit:
    """ASGI middleware: a request body over its limit is answered 413 and never read in full.

    ``limits`` maps path prefixes to their own (larger) limits, e.g. the inventory import; every
    other path gets ``default``. A body within its limit is passed on unchanged.
    """

    def __init__(self, app: ASGIApp, *, default: int, limits: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.limits = dict(limits)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            text = declared.decode("latin-1").strip()
            if not (text.isascii() and text.isdigit()):
                await _refuse(scope, send, 400, "bad_request", "Content-Length is not a number")
                return
            if len(text) > 18 or int(text) > limit:
                await _too_large(scope, send, limit)
                return
        # Read the body here, counting, so that an undeclared (chunked) body stops at the limit.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the client's own."""
    body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
    queue: list[Message] = [pending] if pending is not None else [body]

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    await _refuse(
        scope,
        send,
        413,
        "too_large",
        f"the request body is larger than this address accepts ({limit:,} bytes)",
    )


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"detail": {"code": code, "message": message, "field": "body"}}).encode()
    nonce = new_nonce()
    headers = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        # The rest of the body is not read: the connection cannot carry another request.
        "connection": "close",
    }
    security_headers(headers, nonce=nonce, https=scope.get("scheme") == "https")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestTiming:
    """ASGI middleware: ``observe(scope, status, seconds)`` once per HTTP request.

    The status is the one sent (500 if the application raised before sending one); ``scope`` is
    the request's own, in which the router has recorded the matched route by the time it ends.
    """

    def __init__(self, app: ASGIApp, *, observe: Callable[[Scope, int, float], None]) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.observe(scope, status, time.perf_counter() - began)
