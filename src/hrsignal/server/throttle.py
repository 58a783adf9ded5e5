"""Brute-force throttling of the token endpoint: failed sign-ins counted in a sliding window.

Two counters guard ``/{tenant}/oauth2/token``: one per (client address, client id), so a
caller guessing one app's secret is stopped after a few attempts without locking the real
uploader out from its own address, and one per client address, so guessing across many client
ids (enumeration) is stopped too. A refused caller gets 429 with ``Retry-After`` *before* its
secret is checked, so a flood cannot keep the server busy hashing argon2 either.

Counts live in memory, per process: a restart forgets them, and several workers count
separately (each still bounds the rate). Behind a reverse proxy every caller shares the
proxy's address, so the per-address limit is deliberately generous.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable


class FailureThrottle:
    """Failures per key within ``window_s``; a key at ``limit`` failures is refused."""

    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: Hashable, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, key: Hashable) -> int | None:
        """Seconds until ``key`` may try again, or None when it is not throttled."""
        with self._lock:
            now = self.clock()
            times = self._recent(key, now)
            if times is None or len(times) < self.limit:
                return None
            return max(1, math.ceil(times[0] + self.window_s - now))

    def failed(self, key: Hashable) -> None:
        """Count one failure of ``key``."""
        with self._lock:
            now = self.clock()
            if key not in self._failures and len(self._failures) >= self.max_keys:
                self._prune(now)
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while len(times) > self.limit:  # older ones no longer change the verdict
                times.popleft()

    def succeeded(self, key: Hashable) -> None:
        """Forget the failures of ``key`` (a correct secret ends the lockout early)."""
        with self._lock:
            self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        # Still full of live keys (a flood from many addresses): drop the oldest half.
        if len(self._failures) >= self.max_keys:
            oldest = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in oldest[: len(oldest) // 2]:
                del self._failures[key]


class TokenThrottle:
    """The token endpoint's two counters (see the module docstring)."""

    def __init__(
        self,
        *,
        per_client: int = 10,
        per_address: int = 100,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = FailureThrottle(limit=per_client, window_s=window_s, clock=clock)
        self.per_address = FailureThrottle(limit=per_address, window_s=window_s, clock=clock)

    def retry_after(self, address: str, client_id: str) -> int | None:
        """Seconds to wait when this address, or this address for this client, is throttled."""
        waits = [
            self.per_client.retry_after((address, client_id)),
            self.per_address.retry_after(address),
        ]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def failed(self, address: str, client_id: str) -> None:
        """Count a failed sign-in."""
        self.per_client.failed((address, client_id))
        self.per_address.failed(address)

    def succeeded(self, address: str, client_id: str) -> None:
        """A successful sign-in clears the (address, client) counter, not the address's."""
        self.per_client.succeeded((address, client_id))
