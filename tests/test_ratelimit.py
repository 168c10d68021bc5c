"""Rate limits (SPEC section 5): a token that sends too fast is refused
429 `rate_limited` with `Retry-After`, alone, and the limit holds across web
processes; a dashboard log-in is tried only a few times a minute per email
and address.

The session's server runs with limits far above what any test sends, so the
API limits are tested on web processes of their own, started with small ones.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from deploy.processes import answers_ready, free_port, server_command, spawn
from models.errors import ApiError
from tests.support.client import Api, issue_token
from tests.support.environment import CONFIG, required_redis_url
from tests.support.faults import stop_process
from tests.support.ledger import unique
from tests.support.pages import PASSWORD, new_operator
from tests.support.refusals import assert_error
from tests.support.waiting import wait_until
from tools.dashboard import Session
from web.ratelimit import RateLimiter, RedisTokenBuckets, TokenBuckets

# Small API limits; and these processes play the part of web processes
# behind the deployment's nginx, which says who the client is.
LIMITS = {"API_RATE_LIMIT": "1", "API_RATE_BURST": "5", "TRUST_PROXY_HEADERS": "1"}


class LimitedWeb:
    """Web processes with small limits: two sharing the session's database
    and Redis with services, one on a database of its own when embedded."""

    def __init__(self) -> None:
        self.env = dict(os.environ, **LIMITS)
        if not CONFIG.database_url:
            self.env["DATA_DIR"] = tempfile.mkdtemp(prefix="gateway-ratelimit-")
            self.command("migrate")
        self.processes, self.urls = [], []
        for _ in range(2 if CONFIG.database_url else 1):
            port = free_port()
            self.processes.append(spawn(["serve", "--port", str(port)], dict(self.env, PORT=str(port))))
            self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            assert wait_until(lambda url=url: answers_ready(url), timeout=30), f"{url} did not start"

    def command(self, *args: str) -> str:
        return server_command(self.env, *args)

    def token(self, scope: str = "read") -> str:
        if CONFIG.database_url:
            return issue_token(scope)
        return self.command("create-token", "--name", "limited", "--scope", scope).splitlines()[-1]

    def stop(self) -> None:
        for process in self.processes:
            stop_process(process)


@pytest.fixture(scope="module")
def limited(gateway):
    web = LimitedWeb()
    yield web
    web.stop()


def burst(api: Api, count: int) -> list:
    return [api.get("/api/v1/currencies", params={"limit": 1}) for _ in range(count)]


def test_a_token_that_sends_faster_than_its_limit_is_refused_429_with_retry_after(limited):
    api = Api(limited.urls[0], limited.token())
    responses = burst(api, 8)
    assert [r.status for r in responses[:5]] == [200] * 5
    refused = [r for r in responses if r.status == 429]
    assert refused, [r.status for r in responses]
    assert_error(refused[0], 429, "rate_limited")
    assert int(refused[0].header("retry-after")) >= 1


def test_a_limited_token_is_served_again_after_retry_after(limited):
    api = Api(limited.urls[0], limited.token())
    refused = next(r for r in burst(api, 10) if r.status == 429)
    time.sleep(int(refused.header("retry-after")))
    assert api.get("/api/v1/currencies", params={"limit": 1}).status == 200


def test_one_token_over_its_limit_does_not_limit_another(limited):
    greedy, patient = Api(limited.urls[0], limited.token()), Api(limited.urls[0], limited.token())
    assert 429 in [r.status for r in burst(greedy, 10)]
    assert [r.status for r in burst(patient, 5)] == [200] * 5


def test_a_request_without_a_valid_token_is_refused_401_not_counted(limited):
    api = Api(limited.urls[0], "pgw_" + "x" * 43)
    assert {r.status for r in burst(api, 10)} == {401}


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.database_url, reason="one process serves the API when embedded")
def test_the_limit_holds_across_web_processes(limited):
    token = limited.token()
    apis = [Api(url, token) for url in limited.urls]
    started = time.monotonic()
    statuses = [apis[n % 2].get("/api/v1/currencies", params={"limit": 1}).status for n in range(20)]
    elapsed = time.monotonic() - started
    # The burst, what refilled meanwhile, and at most one lease per process.
    assert statuses.count(200) <= 5 + int(elapsed * 1) + 1 + len(apis), statuses
    assert statuses.count(429) >= 20 - 5 - int(elapsed) - 1 - len(apis)


def redis_buckets(rate: float, burst: int, redis_url: str, prefix: str) -> RedisTokenBuckets:
    return RedisTokenBuckets(rate, burst, "requests", redis_url, prefix, REDIS_CALLS)


REDIS_CALLS = ThreadPoolExecutor(2, thread_name_prefix="redis-calls")


def limiters() -> list[RateLimiter]:
    """A limiter of each backend this run has, each with a burst of 2 and no refill to speak of."""
    found: list[RateLimiter] = [TokenBuckets(rate=0.001, burst=2, what="requests")]
    if CONFIG.redis_url:
        found.append(redis_buckets(0.001, 2, CONFIG.redis_url, unique("test:") + ":"))
    return found


@pytest.mark.parametrize("limiter", limiters(), ids=lambda limiter: type(limiter).__name__)
def test_acquire_grants_the_burst_then_raises_429_with_retry_after_whatever_the_backend(limiter):
    async def three() -> list:
        outcomes: list[str | tuple[int, str, bool]] = []
        for _ in range(3):
            try:
                await limiter.acquire("k")
            except ApiError as refused:
                outcomes.append((refused.status, refused.code, int(refused.headers["Retry-After"]) >= 1))
            else:
                outcomes.append("granted")
        return outcomes

    assert asyncio.run(three()) == ["granted", "granted", (429, "rate_limited", True)]


def test_the_in_process_bucket_refills_at_its_rate():
    buckets = TokenBuckets(rate=10, burst=2, what="requests")
    assert buckets.take("k") == 0 and buckets.take("k") == 0
    wait = buckets.take("k")
    assert 0 < wait <= 0.1
    time.sleep(wait + 0.01)
    assert buckets.take("k") == 0


def test_a_limiter_whose_redis_is_down_lets_requests_through():
    closed = f"redis://127.0.0.1:{free_port()}/0"
    buckets = redis_buckets(1, 1, closed, unique("test:"))
    assert [buckets.take("k") for _ in range(3)] == [0, 0, 0]


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.redis_url, reason="the shared buckets live in Redis")
def test_redis_buckets_grant_the_burst_then_refuse_whoever_asks():
    first = redis_buckets(1, 3, required_redis_url(), unique("test:") + ":")
    second = redis_buckets(1, 3, required_redis_url(), first._prefix)
    granted = [first.take("k") == 0, second.take("k") == 0, first.take("k") == 0]
    assert granted == [True, True, True]
    assert second.take("k") > 0 and first.take("k") > 0


def spend(buckets: RedisTokenBuckets, key: str) -> bool:
    """One request as the API spends it: a leased token (leasing the next
    when these run low), else a lease."""
    if buckets.spend_leased(key):
        if buckets.claim_refill(key):
            buckets.refill(key)
        return True
    return buckets.take(key) == 0


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.redis_url, reason="the shared buckets live in Redis")
def test_requests_that_arrive_together_share_one_lease_and_are_all_served():
    buckets = redis_buckets(1000, 100, required_redis_url(), unique("test:") + ":")
    together = threading.Barrier(32)

    def request() -> bool:
        together.wait()
        return spend(buckets, "k")

    with ThreadPoolExecutor(32) as pool:
        served = list(pool.map(lambda _: request(), range(32)))
    # 32 requests are well within a burst of 100.
    assert served == [True] * 32


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.redis_url, reason="the shared buckets live in Redis")
def test_a_token_sending_below_its_rate_from_many_threads_is_never_refused():
    buckets = redis_buckets(1000, 50, required_redis_url(), unique("test:") + ":")
    refused = []

    def sender() -> None:
        # 16 senders, one request each 40 ms: 400 a second, under the 1000.
        for _ in range(25):
            if not spend(buckets, "k"):
                refused.append(1)
            time.sleep(0.04)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: sender(), range(16)))
    assert refused == []


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.redis_url, reason="the shared buckets live in Redis")
def test_a_token_over_its_rate_from_many_threads_gets_the_burst_and_the_refill_and_no_more():
    buckets = redis_buckets(100, 20, required_redis_url(), unique("test:") + ":")
    served = []
    started = time.monotonic()

    def sender() -> None:
        for _ in range(40):
            served.append(spend(buckets, "k"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: sender(), range(8)))
    elapsed = time.monotonic() - started
    assert served.count(True) >= 20
    assert served.count(True) <= 20 + int(elapsed * 100) + 2 * buckets.lease, (served.count(True), elapsed)


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.redis_url, reason="the shared buckets live in Redis")
def test_the_next_lease_is_asked_for_once_when_half_the_last_is_spent_and_never_earlier():
    buckets = redis_buckets(1000, 1000, required_redis_url(), unique("test:") + ":")
    assert buckets.lease == 20
    assert buckets.take("k") == 0  # leases 20, spends one
    time.sleep(0.3)  # more than half its life gone, but not its tokens
    claims = []
    for _ in range(19):
        assert buckets.spend_leased("k")
        claims.append(buckets.claim_refill("k"))
    # Fewer than 10 left from the 10th of these spends on: one claim, then
    # none while it is under way, so a process holds at most one and a half
    # leases.
    assert claims == [False] * 9 + [True] + [False] * 9
    buckets.refill("k")
    assert [buckets.spend_leased("k") for _ in range(20)] == [True] * 20
    assert not buckets.spend_leased("k")


def test_logging_in_is_refused_429_after_ten_attempts_a_minute_for_one_email(gateway):
    email = new_operator("viewer")
    session = Session(gateway.url)
    for _ in range(10):
        assert session.login(email, "wrong password").status == 422
    page = session.login(email, PASSWORD)
    assert page.status == 429, page.text[:200]
    assert int(page.headers["retry-after"]) >= 1
    assert "Too many attempts" in page.text
    assert "operator" not in session.cookies
    # Another operator, from the same address, is not held up.
    assert Session(gateway.url).login(new_operator("viewer"), PASSWORD).status == 303


def test_a_client_cannot_escape_the_log_in_limit_by_claiming_other_addresses(gateway):
    # The server is not behind a proxy here (TRUST_PROXY_HEADERS unset): what
    # a client says its address is must not give it a fresh allowance.
    email = new_operator("viewer")
    session = Session(gateway.url)
    statuses = [log_in_from(session, email, f"203.0.113.{n + 1}").status for n in range(12)]
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]


def test_behind_the_proxy_each_client_address_has_its_own_log_in_allowance(limited):
    email = unique("nobody") + "@example.com"
    session = Session(limited.urls[0])
    assert [log_in_from(session, email, "198.51.100.7").status for _ in range(10)] == [422] * 10
    assert log_in_from(session, email, "198.51.100.7").status == 429
    assert log_in_from(session, email, "198.51.100.8").status == 422


def log_in_from(session: Session, email: str, address: str):
    """A wrong-password log-in whose request says it comes from `address`
    (as a proxy would, or a client pretending to)."""
    form = {"email": email, "password": "wrong password"}
    return session.post("/login", form, headers={"X-Real-Ip": address, "X-Forwarded-For": address})
