"""Waiting for a condition: asked again and again until it holds or time runs out."""

from __future__ import annotations

import time


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05):
    """`predicate()` once it is truthy, or its last (falsy) value after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
