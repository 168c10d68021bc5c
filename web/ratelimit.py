"""Rate limits: API requests per token, dashboard log-ins per email and
client address (SPEC section 5: 429 `rate_limited`).

Each key has a token bucket: it refills at `rate` a second and holds at most
`burst`; a request takes one, and one that finds it empty is refused with
the seconds until the next (`Retry-After`).

Embedded, the buckets live in this process. With services they live in
Redis, updated by one Lua script (atomic, on Redis's clock), so a limit
holds across every web process. A process takes tokens from Redis a lease
at a time (a fiftieth of a second's worth) and spends them locally, so a
busy token costs one Redis call per lease, not per request; at most one
lease per process is ever spent beyond the shared bucket. The next lease is
taken in the background once half of one is spent; requests that find none
left ask Redis one at a time, and those after the first spend what it
brought (leasing once each would take many leases at once, most of which
would expire unspent and starve the token). A bucket found empty is not
asked again until it has refilled by one.

A limiter must never take the API down with it: if Redis cannot be
reached, requests are let through and the failure is logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from concurrent.futures import Executor

import redis

from config import Config, redis_client
from events.fanout import deployment_tag
from models.errors import ApiError

log = logging.getLogger(__name__)

LEASE_SECONDS = 0.02
LEASE_LIFETIME = 0.5  # tokens leased but not spent by then go back unused

_TAKE = """
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = clock[1] + clock[2] / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if granted == 0 then wait = (1 - tokens) / rate end
return {granted, tostring(wait)}
"""


class TokenBuckets:
    """Buckets in this process's memory (embedded mode)."""

    def __init__(self, rate: float, burst: int, what: str) -> None:
        self.rate, self.burst, self.what = rate, burst, what
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    async def acquire(self, key: str) -> None:
        """Take one token for `key`, or raise 429 `rate_limited` saying when
        to try again."""
        wait = self.take(key)
        if wait:
            raise rate_limited(wait, self.what)

    def take(self, key: str) -> float:
        """Take one token for `key`: 0 if granted, else the seconds to wait."""
        with self._lock:
            now = time.monotonic()
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


class RedisTokenBuckets:
    """Buckets in Redis, shared by every web process (services mode). Its
    calls to Redis run on `executor`, never on the IOLoop."""

    def __init__(self, rate: float, burst: int, what: str, redis_url: str, prefix: str, executor: Executor) -> None:
        self.rate, self.burst, self.what = rate, burst, what
        self._executor = executor
        self.lease = max(1, min(burst, int(rate * LEASE_SECONDS)))
        self._prefix = prefix
        self._client = redis_client(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self._script = self._client.register_script(_TAKE)
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        # One call to Redis at a time per key (striped, so that keys do not
        # wait on each other's round trips).
        self._calling = [threading.Lock() for _ in range(16)]

    async def acquire(self, key: str) -> None:
        """Take one token for `key`, or raise 429 `rate_limited` saying when
        to try again: from this process's lease when it holds one (no Redis
        call), else from Redis."""
        loop = asyncio.get_running_loop()
        if self.spend_leased(key):
            if self.claim_refill(key):
                loop.run_in_executor(self._executor, self.refill, key)
            return
        wait = await loop.run_in_executor(self._executor, self.take, key)
        if wait:
            raise rate_limited(wait, self.what)

    def spend_leased(self, key: str) -> bool:
        """Spend a token this process already leased for `key`, if it has one
        (no Redis call, safe on the IOLoop)."""
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or lease.count <= 0 or lease.until <= time.monotonic():
                return False
            lease.count -= 1
            return True

    def claim_refill(self, key: str) -> bool:
        """True when `key`'s lease is running low and nobody is refilling it
        yet: the caller is to call `refill`, off the IOLoop."""
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or lease.refilling:
                return False
            # Only when the stock runs low, so that a process never holds
            # more than one and a half leases.
            low = lease.count * 2 < self.lease and lease.until > time.monotonic()
            lease.refilling = low
            return low

    def refill(self, key: str) -> None:
        """Lease more tokens for `key` before the ones in hand run out, so
        that a busy token's requests seldom wait for Redis. Blocking."""
        try:
            with self._calling_for(key):
                self._lease(key, spend=False)
        finally:
            with self._lock:
                self._leases[key].refilling = False

    def take(self, key: str) -> float:
        """Lease tokens from Redis and spend one: 0 if granted, else the
        seconds to wait. Blocking: run it off the IOLoop."""
        with self._calling_for(key):
            # Another request may have leased while this one waited its turn,
            # or learnt that the bucket is empty for a while yet.
            if self.spend_leased(key):
                return 0.0
            with self._lock:
                lease = self._leases.get(key)
                empty_for = lease.empty_until - time.monotonic() if lease else 0.0
            if empty_for > 0:
                return empty_for
            return self._lease(key, spend=True)

    def _calling_for(self, key: str) -> threading.Lock:
        return self._calling[hash(key) % len(self._calling)]

    def _lease(self, key: str, spend: bool) -> float:
        try:
            granted, wait = self._script(keys=[self._prefix + key], args=[self.rate, self.burst, self.lease])
        except redis.RedisError as problem:
            log.warning("rate limit not checked (Redis unreachable): %s", type(problem).__name__)
            return 0.0
        granted, wait = int(granted) - (1 if spend else 0), float(wait)
        with self._lock:
            lease = self._leases.setdefault(key, _Lease())
            now = time.monotonic()
            if granted < 0:
                lease.empty_until = now + wait
                return wait
            if granted > 0:
                # Added to what is left, never replacing it.
                lease.count = (lease.count if lease.until > now else 0) + granted
                lease.until = now + LEASE_LIFETIME
        return 0.0


class _Lease:
    """Tokens of one key this process holds, until when, and whether a
    refill is under way or the shared bucket was last found empty."""

    __slots__ = ("count", "until", "refilling", "empty_until")

    def __init__(self) -> None:
        self.count, self.until, self.refilling, self.empty_until = 0, 0.0, False, 0.0


RateLimiter = TokenBuckets | RedisTokenBuckets


def _buckets(rate: float, burst: int, what: str, config: Config, name: str, executor: Executor) -> RateLimiter | None:
    if rate <= 0:
        return None
    if config.redis_url:
        # Keys per deployment, as the fan-out's channels are.
        prefix = f"{deployment_tag(config.database_url or '')}:ratelimit:{name}:"
        return RedisTokenBuckets(rate, burst, what, config.redis_url, prefix, executor)
    return TokenBuckets(rate, burst, what)


def api_limiter(config: Config, executor: Executor) -> RateLimiter | None:
    """Requests per API token (API_RATE_LIMIT a second, API_RATE_BURST at
    once), or None when API_RATE_LIMIT is 0."""
    return _buckets(config.api_rate_limit, config.api_rate_burst, "requests for this token", config, "api", executor)


def login_limiter(config: Config, executor: Executor) -> RateLimiter | None:
    """Log-in attempts per email and client address
    (LOGIN_ATTEMPTS_PER_MINUTE), or None when it is 0."""
    per_minute = config.login_attempts_per_minute
    return _buckets(per_minute / 60.0, per_minute, "log-in attempts", config, "login", executor)


def retry_after(wait: float) -> int:
    """Whole seconds for a `Retry-After` header: never 0."""
    return max(1, math.ceil(wait))


def rate_limited(wait: float, what: str) -> ApiError:
    seconds = retry_after(wait)
    return ApiError(
        429, "rate_limited", f"too many {what}: try again in {seconds} s", headers={"Retry-After": str(seconds)}
    )
