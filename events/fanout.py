"""How events travel between processes (services mode), over Redis pub/sub.

Two channels per database, so that deployments sharing a Redis never hear
each other:

- wake: any process that committed events says so (no payload); the relay
  listens, and numbers them at once instead of at its next poll;
- events: the relay publishes each numbered batch, in `seq` order; every web
  process holds one subscription (`web.hub.EventHub`), and so does every
  webhook sender. A message is one line of JSON saying what subscribers
  filter on (`[[seq, type, accounts, request_id], ...]`), then each
  frame's text on a line of its own, as the feed sends it: nobody escapes
  the texts into a JSON string, nor parses them back out.

Pub/sub may drop messages (a subscriber reconnecting); nothing depends on it
for correctness: the hub notices a gap in `seq` and reads the log instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import redis
from psycopg2.extensions import parse_dsn

from config import redis_client
from models.event import Frame
from models.serialize import compact_json

from .relay import FOLLOWER_RETRY_SECONDS

log = logging.getLogger(__name__)

# Frames per events-channel message. A relay batch (up to 5,000 frames of
# about 1.5 KB) in one message made every web process hold it several times
# over at once (the bytes, their text, its lines, the frames): some 25 MB
# for a moment, each time, which the heap kept.
PUBLISHED_FRAMES = 500


def frames_message(frames: list[Frame]) -> str:
    """The events-channel message of `frames` (see the module doc)."""
    head = compact_json([[f.seq, f.type, f.accounts, f.request_id] for f in frames])
    return "\n".join([head, *(_one_line(frame.text) for frame in frames)])


def _one_line(text: str) -> str:
    # The texts are compact ASCII JSON, so a line break can only be one a
    # string holds raw, which JSON allows: written again, it is escaped.
    return compact_json(json.loads(text)) if "\n" in text else text


def read_frames(message: bytes) -> list[Frame]:
    """The frames of one events-channel message."""
    head, *texts = message.decode().split("\n")
    return [
        Frame(seq, kind, tuple(accounts), text, request_id)
        for (seq, kind, accounts, request_id), text in zip(json.loads(head), texts, strict=True)
    ]


def frames_subscription(client: Any) -> Any:
    """A pub/sub of the async Redis `client` for the events channel, which
    hands each message over as it came: redis-py's own handler writes every
    message out as text for a debug line, logged or not, a copy of each
    batch of events made for nothing."""
    return client.pubsub(push_handler_func=_as_received)


async def _as_received(message: list) -> list:
    return message


def deployment_tag(database_url: str) -> str:
    """The prefix of every Redis key and channel of the deployment whose
    database is at `database_url`, so that deployments sharing a Redis never
    see each other's."""
    parts = parse_dsn(database_url)
    identity = f"{parts.get('host')}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"
    return "gateway:" + hashlib.sha256(identity.encode()).hexdigest()[:12]


def channel_names(database_url: str) -> tuple[str, str]:
    """(wake, events) channel names for the database at `database_url`."""
    tag = deployment_tag(database_url)
    return f"{tag}:wake", f"{tag}:frames"


class RedisFanout:
    """The Redis side of the fan-out for one process."""

    def __init__(self, redis_url: str, database_url: str) -> None:
        self.redis_url = redis_url
        self.wake_channel, self.events_channel = channel_names(database_url)
        self._client = redis_client(redis_url, socket_timeout=2, socket_connect_timeout=2)

    def wake_relay(self) -> None:
        """After a commit that recorded events. A lost wake only delays
        numbering to the relay's next poll, so failures are not errors."""
        try:
            self._client.publish(self.wake_channel, b"")
        except redis.RedisError:
            log.debug("could not wake the relay", exc_info=True)

    def publish_events(self, frames: list[Frame]) -> None:
        """A numbered batch, in messages of at most PUBLISHED_FRAMES frames,
        in `seq` order: each frame's JSON text as the feed sends it, with
        what subscribers filter on, so no web process has to parse and
        re-serialize an event."""
        for start in range(0, len(frames), PUBLISHED_FRAMES):
            self._client.publish(self.events_channel, frames_message(frames[start : start + PUBLISHED_FRAMES]))

    def follow_wakes(
        self, wake: Callable[[], None], stop: threading.Event, leading: Callable[[], bool] = lambda: True
    ) -> threading.Thread:
        """Call `wake` for every wake message, on a daemon thread, until
        `stop`; subscribed only while `leading()`: every commit of every
        process sends one, and a relay that does not lead has no use for it."""

        def listen() -> None:
            while not stop.is_set():
                if not leading():
                    # As often as a follower's relay tries to lead.
                    stop.wait(FOLLOWER_RETRY_SECONDS)
                    continue
                try:
                    pubsub = redis_client(self.redis_url, socket_connect_timeout=2).pubsub()
                    pubsub.subscribe(self.wake_channel)
                    while not stop.is_set() and leading():
                        if pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5):
                            wake()
                    pubsub.close()
                except redis.RedisError:
                    log.warning("wake subscription lost; retrying", exc_info=True)
                    stop.wait(1)

        thread = threading.Thread(target=listen, name="relay-wakes", daemon=True)
        thread.start()
        return thread
