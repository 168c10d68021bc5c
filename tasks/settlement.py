"""Settlement tasks, and the sweeper that finds payments nobody settled.

Intake does not queue a task per payment: it asks for settlement
(`Settlement.request`), and at most one request waits in the queue at a
time. A flag (in Redis with services, in memory when embedded) is raised by
the request that queues the task and lowered by the worker that takes it,
before that worker looks for work; it then settles the backlog in batches
until it finds it empty. A payment committed while it runs raises the flag
again, so another worker joins in: under load several workers drain the
backlog side by side, sharing it out with SKIP LOCKED; at rest, one request
settles one payment at once.

The flag expires by itself (FLAG_TTL), so a task lost with its worker only
delays settlement until the next request; the sweeper covers the rest.

Workers claim with SKIP LOCKED (`models.dialect.claim_rows`), so a claim
passes over every row another transaction holds: another worker's, which
that worker settles, but also, for a moment, a request's: a capture or a
void of a hold whose capture is being asked for, refused; an edit of a
pending payment. Nothing would ask again for what was passed over, so a
worker that finds the backlog empty while payments or captures still wait
looks again every LOOK_AGAIN_SECONDS, for LOOKING_AGAIN_FOR_SECONDS. One
thread of a process looks at a time (a task finding it looking hands it
its own moment and ends), and it stops once the flag is raised again: the
task then queued looks in its turn. Under load the flag is raised all the
time, so nobody looks again; a task left looking would hold a thread while
fresh payments' tasks wait for one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import redis
from huey import Huey, crontab
from prometheus_client import Counter, Histogram

from config import Config, redis_client
from models.audit import run_audit
from models.idempotency import forget_expired
from models.retry import read_only
from models.settlement import BATCH, anything_waiting, captures_waiting, settle_pending, stale_pending_ids

from .queue import QUEUE_NAME, make_huey

log = logging.getLogger(__name__)

SETTLED = Counter("gateway_settled_payments", "Payments this process settled (completed or failed)")
BATCH_SECONDS = Histogram(
    "gateway_settlement_batch_seconds",
    "Time to settle one batch of pending payments, in one transaction",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

FLAG_TTL = 2.0
LOOK_AGAIN_SECONDS = 0.1
LOOKING_AGAIN_FOR_SECONDS = 1.0


class RedisFlag:
    def __init__(self, url: str) -> None:
        self._client = redis_client(url, socket_timeout=2, socket_connect_timeout=2)
        self._key = f"{QUEUE_NAME}:settlement-requested"

    def raise_(self) -> bool:
        """True if it was down (the caller queues the task)."""
        return bool(self._client.set(self._key, b"1", nx=True, px=int(FLAG_TTL * 1000)))

    def lower(self) -> None:
        self._client.delete(self._key)

    def raised(self) -> bool:
        """Whether a task is queued; False when Redis cannot say (whoever
        looks again then goes on looking)."""
        try:
            return bool(self._client.exists(self._key))
        except redis.RedisError:
            return False


class LocalFlag:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raised_at: float | None = None

    def raise_(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._raised_at is not None and now - self._raised_at < FLAG_TTL:
                return False
            self._raised_at = now
            return True

    def lower(self) -> None:
        with self._lock:
            self._raised_at = None

    def raised(self) -> bool:
        with self._lock:
            return self._raised_at is not None and time.monotonic() - self._raised_at < FLAG_TTL


class Settlement:
    """The settlement tasks on one queue, and the way to ask for them.

    A payment still pending `config.stale_after` seconds after intake was
    missed (queue down at intake, worker killed mid-batch): the sweeper asks
    for settlement again. (How often it looks: `config.sweep_seconds`, see
    `tasks.consumer`.)"""

    def __init__(self, config: Config, huey: Huey | None = None) -> None:
        self.huey = huey or make_huey(config)
        self._flag = RedisFlag(config.redis_url) if config.redis_url else LocalFlag()
        self._stale_after = timedelta(seconds=config.stale_after)
        self._audit_seconds = config.audit_seconds
        self._audited_at = time.monotonic()  # the first, `audit_seconds` after start
        self._looking = LookingAgain()
        self.settle_backlog = self.huey.task(retries=10, retry_delay=1)(self._settle_backlog)
        self.sweeper = self.huey.periodic_task(crontab(minute="*"))(self._sweeper)

    def _settle_backlog(self) -> None:
        """Settle pending payments, a batch per transaction, until none are
        left (looking again for a moment while some wait: see the module
        doc). Transient database errors are retried inside each batch;
        anything else is retried by Huey: a payment stays pending, never
        half-settled."""
        self._flag.lower()
        settle_all()
        self._looking.look(self._flag.raised)

    def _sweeper(self) -> None:
        """No lock: two workers sweeping at once only ask for settlement
        twice, which is harmless, while a lock left by a worker killed
        mid-sweep would stop every sweep after it."""
        self.sweep_pending()
        forget_expired()
        self.audit_when_due()

    def audit_when_due(self) -> None:
        """Run the audit every `audit_seconds`, for /metrics
        (`gateway_audit_problems`)."""
        now = time.monotonic()
        if not self._audit_seconds or now - self._audited_at < self._audit_seconds:
            return
        self._audited_at = now
        report = read_only(run_audit)
        if not report["ok"]:
            log.error("audit found %d problems: %s", len(report["problems"]), report["problems"][:3])

    def request(self) -> None:
        """After a payment's commit: make sure a worker will settle it.

        The payment is already stored, so a queue that is down must not fail
        the request that accepted it: the sweeper will ask again.
        """
        try:
            if self._flag.raise_():
                self.settle_backlog()
        except Exception:  # redis.ConnectionError, sqlite3.OperationalError, ...
            log.warning("could not queue settlement; the sweeper will", exc_info=True)

    def sweep_pending(self) -> int:
        """Queue settlement when payments have waited longer than
        `stale_after`, or captures wait for theirs; returns how many were
        waiting."""
        stale = len(stale_pending_ids(self._stale_after)) + captures_waiting()
        if stale:
            log.info("%d payments or captures waiting for settlement; queueing it", stale)
            self.settle_backlog()
        return stale

    def queue_depth(self) -> int:
        """Tasks waiting in the queue; raises if it is unreachable."""
        return self.huey.pending_count()


class LookingAgain:
    """The one thread of a process that looks again for passed-over rows
    (see the module doc), and until when it looks."""

    def __init__(self) -> None:
        self._state = threading.Lock()
        self._looker = False  # a thread is looking
        self._asked = False  # a task asked since its last look
        self._until = 0.0

    @property
    def looking(self) -> bool:
        """Whether a thread of this process is looking again now."""
        with self._state:
            return self._looker

    def look(self, another_task_queued: Callable[[], bool]) -> None:
        """Look again for LOOKING_AGAIN_FOR_SECONDS, while something waits
        and no other task is queued; or, if a thread already looks, leave
        it to that thread, from now on for as long."""
        with self._state:
            self._until = max(self._until, time.monotonic() + LOOKING_AGAIN_FOR_SECONDS)
            self._asked = True
            if self._looker:
                return
            self._looker = True
        try:
            while True:
                with self._state:
                    if time.monotonic() >= self._until:
                        self._looker = False
                        return
                    self._asked = False
                if another_task_queued():
                    self._stop()  # that task looks again after its batch
                    return
                if not read_only(anything_waiting):
                    if self._stop(unless_asked=True):
                        return
                    continue  # a task finished meanwhile: look once more for it
                time.sleep(LOOK_AGAIN_SECONDS)
                settle_all()
        except BaseException:
            self._stop()
            raise

    def _stop(self, unless_asked: bool = False) -> bool:
        """Stop looking (in the same hold of the lock as the decision, so
        that no task's ask falls in between), unless a task asked since the
        last look and `unless_asked`."""
        with self._state:
            if unless_asked and self._asked:
                return False
            self._looker = False
            return True


def settle_all() -> None:
    """Batches until one comes back short (the backlog is empty, or the
    rest is held by others)."""
    while settle_batch() == BATCH:
        pass


def settle_batch() -> int:
    """One batch of `settle_pending`, counted and timed for /metrics (the
    last, empty look at the backlog is not a batch)."""
    started = time.perf_counter()
    settled = settle_pending()
    if settled:
        BATCH_SECONDS.observe(time.perf_counter() - started)
        SETTLED.inc(settled)
    return settled
