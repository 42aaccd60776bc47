"""Flood control per channel identity: a token bucket each, refilled steadily."""

from __future__ import annotations

import time
from collections import OrderedDict


class RateLimiter:
    """`burst` messages at once, then `per_minute` a minute. Buckets are kept for the
    most recent identities only, so a flood of new identities cannot exhaust memory.
    Each console process keeps its own buckets: with N processes behind a balancer
    that spreads one identity's requests, the effective limit is up to N times this."""

    def __init__(self, per_minute: int, burst: int, max_identities: int = 100_000):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_identities = max_identities
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self.max_identities:
            self._buckets.popitem(last=False)
        return allowed
