"""Publishing committed events to every web process (services mode).

Workers and web processes publish each event they commit to one Redis
channel; every web process holds one subscription to it (`handlers.hub`).
"""

from __future__ import annotations

import json

import redis

CHANNEL = "payment-gateway:events"


class RedisPublisher:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def __call__(self, frame: dict) -> None:
        self._client.publish(CHANNEL, json.dumps(frame, separators=(",", ":")))
