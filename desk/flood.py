"""Flood control: a token bucket per key (a channel identity, a client address),
refilled steadily."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

log = logging.getLogger(__name__)


class RateLimiter:
    """`burst` messages at once, then `per_minute` a minute. Buckets are kept for the
    most recent identities only, so a flood of new identities cannot exhaust memory.
    These buckets are this process's own; several console processes share theirs
    through `SharedRateLimiter`."""

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

    async def check(self, key: str) -> bool:
        """`allow`, as the service asks it of either kind of limiter."""
        return self.allow(key)


# One token bucket per key, refilled by Redis's own clock so that every process agrees.
TOKEN_BUCKET = """
local now = redis.call('TIME')
local at = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local since = tonumber(bucket[2]) or at
tokens = math.min(burst, tokens + math.max(0, at - since) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], ttl)
return allowed
"""


class SharedRateLimiter:
    """The same buckets kept in Redis, so that several console processes enforce one
    limit per identity together. If Redis cannot be reached, each process falls back
    to its own buckets rather than refusing customers."""

    def __init__(self, redis_url: str, per_minute: int, burst: int, prefix: str = "hd:rate:"):
        import redis.asyncio

        self.redis = redis.asyncio.from_url(redis_url)
        self.prefix = prefix
        self.rate = per_minute / 60.0
        self.burst = burst
        # A bucket untouched this long is full again anyway.
        self.ttl = max(60, int(burst / self.rate) + 1)
        self.script = self.redis.register_script(TOKEN_BUCKET)
        self.fallback = RateLimiter(per_minute, burst)

    async def check(self, key: str) -> bool:
        try:
            return bool(
                await self.script(keys=[self.prefix + key], args=[self.rate, self.burst, self.ttl])
            )
        except Exception as exc:  # noqa: BLE001 - Redis down: limit locally, keep serving
            log.warning("shared rate limit unavailable (%s); limiting in this process", exc)
            return self.fallback.allow(key)

    async def close(self) -> None:
        await self.redis.aclose()


def flood_limiter(
    redis_url: str, per_minute: int, burst: int, prefix: str = "hd:rate:"
) -> RateLimiter | SharedRateLimiter:
    """Buckets in Redis when the processes share one (their socket.io message queue),
    so that several processes enforce one limit together; else this process's own."""
    if redis_url.startswith(("redis://", "rediss://")):
        return SharedRateLimiter(redis_url, per_minute, burst, prefix)
    return RateLimiter(per_minute, burst)
