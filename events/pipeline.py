"""One process's part in numbering and spreading events: its relay
(leader-elected on PostgreSQL), how its commits wake the relay, and where
the relay publishes (the in-process hub, or Redis for every web process)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from prometheus_client import Gauge

from config import Config
from models.event import forget_waker, on_commit_of_events

from .fanout import RedisFanout
from .relay import EventRelay, Leadership, Publish
from .signals import Coalesced

RELAY_LEADER = Gauge("gateway_relay_leader", "1 while this process's relay is the one numbering events, else 0")


class EventPipeline:
    def __init__(self, config: Config, publish_here: Publish | None = None, worker: bool = False) -> None:
        """`publish_here`: where the relay hands numbered events when
        embedded (the web process's hub). `worker`: this process is a
        worker, the relay's preferred home."""
        self._stop = threading.Event()
        leadership = Leadership(config.database_url, worker) if config.database_url else None
        self.fanout: RedisFanout | None = None
        self._wake: Callable[[], None]
        if config.redis_url is None:
            if publish_here is None:
                raise ValueError("an embedded relay publishes to this process's hub: give publish_here")
            self.relay = EventRelay(publish_here, leadership)
            self._wake = self.relay.wake
        else:
            fanout = self.fanout = RedisFanout(config.redis_url, config.database_url or "")
            self.relay = EventRelay(fanout.publish_events, leadership)
            self._wake_elsewhere = Coalesced(fanout.wake_relay, "relay-wakes")
            self._wake = self._wake_leader
            fanout.follow_wakes(self.relay.wake, self._stop, leading=lambda: self.relay.leading)
        on_commit_of_events(self._wake)
        RELAY_LEADER.set_function(lambda: 1.0 if self.relay.leading else 0.0)
        self.relay.start()

    def _wake_leader(self) -> None:
        """The relay here, if it leads; else whichever does, over Redis."""
        if self.relay.leading:
            self.relay.wake()
        else:
            self._wake_elsewhere()

    def stop(self) -> None:
        forget_waker(self._wake)
        self._stop.set()
        self.relay.stop()
