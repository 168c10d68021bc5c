"""Payments sent the way a careful client sends them, during a failover:
each with its own Idempotency-Key, retried with that key until some web
process answers 2xx. Records when each answer came, so that a test can say
how long intake stopped, and which payments needed a retry."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from tests.support.client import Api
from tests.support.ledger import unique

# How long one payment may take to be answered, retries included.
GIVE_UP_SECONDS = 90.0


@dataclass
class Sent:
    key: str
    payment_id: str
    answered_at: float  # time.monotonic() of the 2xx
    attempts: int


@dataclass
class Traffic:
    """`clients` threads sending transfers among `accounts` through `api`
    until `stop()`."""

    api: Api
    accounts: list[str]
    clients: int = 4
    sent: list[Sent] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Traffic:
        for n in range(self.clients):
            thread = threading.Thread(target=self._client, args=(random.Random(n),), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(GIVE_UP_SECONDS + 10)

    def _client(self, rng: random.Random) -> None:
        while not self._stop.is_set():
            sender, receiver = rng.sample(self.accounts, 2)
            body = {"from_account": sender, "to_account": receiver, "amount": f"{rng.randint(1, 100) / 100:.2f}"}
            self._pay(body, unique("ha"))

    def _pay(self, body: dict, key: str) -> None:
        attempts = 0
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while time.monotonic() < deadline:
            attempts += 1
            try:
                response = self.api.post("/api/v1/payments", body, headers={"Idempotency-Key": key})
            except OSError:
                time.sleep(0.1)
                continue
            if response.status in (200, 201, 202):
                with self._lock:
                    self.sent.append(Sent(key, response.body["id"], time.monotonic(), attempts))
                return
            if response.status < 500:
                # A refusal a retry cannot change: the test fails on it.
                with self._lock:
                    self.refusals.append(f"{response.status} {response.body}")
                return
            time.sleep(0.1)
        with self._lock:
            self.refusals.append(f"no 2xx within {GIVE_UP_SECONDS:.0f} s for {key}")

    def count(self) -> int:
        with self._lock:
            return len(self.sent)

    def wait_for_more(self, count: int, timeout: float = 60) -> bool:
        """Wait until `count` more payments than now have been answered."""
        target = self.count() + count
        deadline = time.monotonic() + timeout
        while self.count() < target and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count() >= target

    @property
    def ids(self) -> list[str]:
        return [sent.payment_id for sent in self.sent]

    @property
    def retried(self) -> int:
        """Payments that needed more than one attempt."""
        return sum(sent.attempts > 1 for sent in self.sent)


def longest_gap(times: list[float], since: float, until: float) -> float:
    """The longest stretch within [since, until] with none of `times` in it."""
    inside = sorted(t for t in times if since <= t <= until)
    edges = [since, *inside, until]
    return max(b - a for a, b in zip(edges, edges[1:], strict=False))


def monotonic_of(moment: datetime, wall_at: datetime, monotonic_at: float) -> float:
    """A database timestamp (naive UTC) on this process's monotonic clock,
    given one moment known on both (same machine: same clock)."""
    return monotonic_at + (moment - wall_at).total_seconds()
