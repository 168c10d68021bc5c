"""This process's feed connections, indexed by what they follow, so that an
event costs work only for the connections that want it.

A connection following one account, or some event types, is found through
those: each new event is handed at once to the followers of the accounts it
touches and of its type, and nobody else is woken. A connection following
everything is woken once per batch of events the hub takes in, and reads the
batch from the hub's ring itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from models.event import Frame

# Frames handed to one follower and not yet taken; past this the follower is
# told to read the ring from its last seq instead, so that a connection that
# falls behind holds no more than one batch of frames.
BACKLOG = 500


class Follower:
    """One feed connection's filters, and the matching frames handed to it
    since it last took them, in `seq` order. `wake` is called whenever there
    is something new for it: a frame handed, or a batch for a follower of
    everything."""

    __slots__ = ("account", "types", "_handed", "overflowed", "wake")

    def __init__(self, account: str | None, types: frozenset[str] | None, wake: Callable[[], None]) -> None:
        self.account = account
        self.types = types
        self._handed: list[Frame] = []
        self.overflowed = False
        self.wake = wake

    @property
    def follows_everything(self) -> bool:
        return self.account is None and self.types is None

    def wants(self, frame: Frame) -> bool:
        if self.types is not None and frame.type not in self.types:
            return False
        return self.account is None or self.account in frame.accounts

    def hand(self, frame: Frame) -> None:
        if self.overflowed:
            return
        if len(self._handed) >= BACKLOG:
            self.overflowed = True
            self._handed = []
        else:
            self._handed.append(frame)
        self.wake()

    def take(self) -> list[Frame]:
        """The frames handed since the last take (none after an overflow:
        the caller reads the ring instead)."""
        handed, self._handed = self._handed, []
        return handed

    def start_afresh(self) -> None:
        """The connection has sent everything up to the hub's head: what was
        handed until now is behind it, and every later event will be handed."""
        self._handed = []
        self.overflowed = False


class FollowerIndex:
    """The followers of one process, found by account, by event type, or as
    followers of everything."""

    def __init__(self) -> None:
        self._by_account: dict[str, set[Follower]] = {}
        self._by_type: dict[str, set[Follower]] = {}
        self._everything: set[Follower] = set()

    def add(self, follower: Follower) -> None:
        if follower.follows_everything:
            self._everything.add(follower)
        for key, groups in self._keys_of(follower):
            groups.setdefault(key, set()).add(follower)

    def remove(self, follower: Follower) -> None:
        for key, groups in self._keys_of(follower):
            group = groups.get(key)
            if group is not None:
                group.discard(follower)
                if not group:
                    del groups[key]
        self._everything.discard(follower)

    def hand(self, frame: Frame) -> None:
        """Give `frame` to every follower of its accounts or its type that wants it."""
        for account in frame.accounts:
            for follower in self._by_account.get(account, ()):
                if follower.types is None or frame.type in follower.types:
                    follower.hand(frame)
        for follower in self._by_type.get(frame.type, ()):
            follower.hand(frame)

    def wake_followers_of_everything(self) -> None:
        for follower in self._everything:
            follower.wake()

    def _keys_of(self, follower: Follower) -> Iterable[tuple[str, dict[str, set[Follower]]]]:
        if follower.account is not None:
            yield follower.account, self._by_account
        elif follower.types is not None:
            for event_type in follower.types:
                yield event_type, self._by_type
