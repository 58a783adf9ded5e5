"""Which failures are worth retrying, and how long to wait before the next attempt.

Transient: connection errors, timeouts, 408, 429, 500, 502, 503, 504. Capped exponential
backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"), and a
``Retry-After`` header (seconds or an HTTP date) always wins over the computed delay. Both the
number of retries and the total time spent waiting for one chunk are bounded.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from dataclasses import dataclass

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds of the retries of one request."""

    max_retries: int = 10
    max_wait: float = 900.0  # seconds of waiting per chunk, like the official ~15 minutes
    base: float = 1.0
    cap: float = 60.0

    def delay(
        self, retry: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        ceiling = min(self.cap, self.base * (2 ** (retry - 1)))
        return (rng or _RNG).uniform(0, ceiling)


# Jitter only spreads clients apart; it needs no cryptographic strength.
_RNG = random.Random()  # noqa: S311


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())
