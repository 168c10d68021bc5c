"""Signals sent after a commit, off the committing thread and coalesced.

Telling a worker to settle and telling the relay to number events are each
a Redis round trip. Made by the thread that committed, they would hold up
its next transaction (an intake batch, a settlement batch); made once per
commit, they would cost one round trip per commit under load although one
signal covers every commit before it. A `Coalesced` call only marks the
signal due; the process's one courier thread sends it, once for all the
calls since it last looked, and every other signal due by then with it: a
thread woken costs more than the send it makes, so the signals share one.

Every call is followed by a send that starts after it, which is all either
signal needs: the work it announces is committed before the call.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Courier:
    """The thread that sends the signals posted to it, in the order posted."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._posted: dict[Coalesced, None] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def post(self, signal: Coalesced) -> None:
        with self._lock:
            self._posted[signal] = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                posted, self._posted = self._posted, {}
            for signal in posted:
                signal.answer()


_courier = Courier("signals")


class Coalesced:
    def __init__(self, send: Callable[[], None], name: str, courier: Courier = _courier) -> None:
        self._send = send
        self._name = name
        self._due = threading.Event()
        self._courier = courier

    def __call__(self, *_ignored: object) -> None:
        self._due.set()
        self._courier.post(self)

    def answer(self) -> None:
        """Send, on the courier's thread."""
        # Clear before sending: a call from here on is answered by the next
        # send, not lost in this one.
        self._due.clear()
        try:
            self._send()
        except Exception:
            log.exception("%s failed", self._name)

    def flush(self) -> None:
        """Send now if a call is still unanswered (on shutdown)."""
        if self._due.is_set():
            self._due.clear()
            self._send()
