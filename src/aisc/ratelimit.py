"""Per-client rate limits and the bound on concurrent password checks.

- ``RateLimiter``: a token bucket per (purpose, client address), in memory. A bucket holds
  ``per_minute`` tokens and refills at that rate, so a client may burst up to the limit and then
  go on at the limit's pace; an empty bucket answers with how long until the next token (the
  ``Retry-After`` of the 429). IPv6 clients are counted per /64 (one subscriber's usual
  allocation), so rotating addresses inside one network does not reset the count. The table is
  bounded (least recently seen clients are forgotten first), so a flood of addresses cannot
  exhaust memory.
- ``RateLimitMiddleware``: the API's throttled routes are answered 429 before routing, so a
  flood of refused attempts costs the server next to nothing (no dependency injection, no
  thread, no database).
- ``HashSlots``: at most ``n`` password checks at once in this process; a sign-in waits a short
  while for a slot and is otherwise refused (429), so a flood of sign-ins cannot take every
  worker thread or core.

Counts live in the memory of one server process: a deployment running several processes (or
machines) grants each its own limit, so the effective limit is the setting times the number of
processes. That is the documented trade-off for needing no shared store; a proxy in front can
enforce a global one.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aisc.errors import RateLimited

MAX_CLIENTS = 100_000


def client_key(address: str) -> str:
    """The key a client address is counted under: itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def client_of(peer: str, forwarded: Sequence[str], trusted_proxies: Sequence[str]) -> str:
    """The client behind a request: the socket's peer, unless that is a trusted proxy; then the
    right-most ``X-Forwarded-For`` entry that is not a trusted proxy (what a client writes
    itself sits further left, so it cannot pick its own address)."""
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    hops = [part.strip() for header in forwarded for part in header.split(",") if part.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, proxies: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in proxies)


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets per (purpose, client); thread-safe."""

    def __init__(
        self,
        limits: dict[str, int],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.limits = dict(limits)  # purpose -> tokens a minute (and burst)
        self._clock = clock
        self._max = max_clients
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, purpose: str, address: str) -> float:
        """Spend one token; 0.0 when allowed, else the seconds until one is available."""
        per_minute = self.limits[purpose]
        key = (purpose, client_key(address))
        now = self._clock()
        with self._lock:
            bucket = self._buckets.pop(key, None)
            if bucket is None:
                bucket = _Bucket(tokens=float(per_minute), at=now)
            else:
                refill = (now - bucket.at) * per_minute / 60.0
                bucket.tokens = min(float(per_minute), bucket.tokens + refill)
                bucket.at = now
            self._buckets[key] = bucket  # most recently seen last
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) * 60.0 / per_minute

    def check(self, purpose: str, address: str) -> None:
        """Spend one token or raise ``RateLimited`` (429) with the wait in whole seconds."""
        wait = self.take(purpose, address)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise RateLimited(
                f"too many requests from this address; try again in {seconds} s",
                retry_after=seconds,
            )


class RateLimitMiddleware:
    """Pure ASGI: ``routes`` maps (method, path) to a purpose of ``limiter``; an empty bucket is
    answered 429 with ``Retry-After`` and the error body every API error has."""

    def __init__(
        self,
        app: Any,
        *,
        limiter: RateLimiter,
        routes: Mapping[tuple[str, str], str],
        trusted_proxies: Sequence[str],
        headers: Mapping[str, str],
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.routes = dict(routes)
        self.trusted_proxies = list(trusted_proxies)
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        purpose = None
        if scope["type"] == "http":
            purpose = self.routes.get((scope["method"], scope["path"]))
        if purpose is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        try:
            self.limiter.check(purpose, client_of(peer, forwarded, self.trusted_proxies))
        except RateLimited as exc:
            body = json.dumps({"detail": exc.to_dict()}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(exc.retry_after).encode()),
                *self.headers,
            ]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class HashSlots:
    """At most ``size`` password checks at once; waiting is bounded by ``wait_s``."""

    def __init__(self, size: int, *, wait_s: float = 2.0) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self.wait_s = wait_s

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self.wait_s):
            raise RateLimited("too many sign-ins at once; try again in 1 s", retry_after=1)
        try:
            yield
        finally:
            self._slots.release()
