"""What this process checked lately, remembered for a few seconds.

Each value is kept `seconds` after it was last remembered, and let go once
stale as new ones come: the memory taken is bounded by what was checked in
the last `seconds`, never by everything ever checked (a wallet service may
see a million customer tokens in a day). Safe to share between threads.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class RecentlyChecked(Generic[T]):
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        # Oldest first: each value is moved to the end when remembered again,
        # so the stale ones are always at the front.
        self._entries: OrderedDict[str, tuple[T, float]] = OrderedDict()

    def remember(self, key: str, value: T) -> None:
        now = self._clock()
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (value, now + self._seconds)
            while True:
                oldest = next(iter(self._entries))
                if self._entries[oldest][1] > now:
                    break
                del self._entries[oldest]

    def get(self, key: str) -> T | None:
        """The value remembered for `key` if it is not stale yet."""
        hit = self._entries.get(key)
        if hit is None or hit[1] <= self._clock():
            return None
        return hit[0]

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
