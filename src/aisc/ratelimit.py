"""Per-client rate limits and the bound on concurrent password checks.

- ``RateLimiter``: a token bucket per (purpose, client address), in memory. A bucket holds
  ``per_minute`` tokens and refills at that rate, so a client may burst up to the limit and then
  go on at the limit's pace; an empty bucket answers with how long until the next token (the
  ``Retry-After`` of the 429). IPv6 clients are counted per /64 (one subscriber's usual
  allocation), so rotating addresses inside one network does not reset the count. The table is
  bounded (least recently seen clients are forgotten first), so a flood of addresses cannot
  exhaust memory.
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
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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
