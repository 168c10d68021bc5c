"""Feed connections indexed by what they follow: an event is handed to the
followers that want it and wakes nobody else; followers of everything are
woken once per batch."""

from __future__ import annotations

from models.event import Frame
from web import followers as followers_module
from web.followers import Follower, FollowerIndex


def frame(seq: int, event_type: str = "payment.completed", accounts: tuple[str, ...] = ("alice", "bob")) -> Frame:
    return Frame(seq, event_type, accounts, f'{{"seq":{seq}}}')


class Woken:
    """Counts the times a follower is woken."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def follower_of(account: str | None, types: frozenset[str] | None = None, woken: Woken | None = None) -> Follower:
    return Follower(account, types, woken or Woken())


def test_an_event_is_handed_only_to_the_followers_of_its_accounts_and_its_type():
    index = FollowerIndex()
    alice = follower_of("alice")
    alice_completed = follower_of("alice", frozenset({"payment.completed"}))
    alice_failed = follower_of("alice", frozenset({"payment.failed"}))
    carol = follower_of("carol")
    completed = follower_of(None, frozenset({"payment.completed", "payment.failed"}))
    created = follower_of(None, frozenset({"payment.created"}))
    for follower in (alice, alice_completed, alice_failed, carol, completed, created):
        index.add(follower)
    index.hand(frame(1))
    index.hand(frame(2, "account.created", ("carol",)))
    assert [f.seq for f in alice.take()] == [1]
    assert [f.seq for f in alice_completed.take()] == [1]
    assert [f.seq for f in carol.take()] == [2]
    assert [f.seq for f in completed.take()] == [1]
    assert alice_failed.take() == [] and created.take() == []


def test_only_the_followers_handed_an_event_are_woken():
    index = FollowerIndex()
    alice_woken, bob_woken = Woken(), Woken()
    index.add(follower_of("alice", woken=alice_woken))
    index.add(follower_of("bob", woken=bob_woken))
    for seq in range(1, 4):
        index.hand(frame(seq, accounts=("alice", "carol")))
    assert alice_woken.count == 3 and bob_woken.count == 0


def test_followers_of_everything_are_woken_once_per_batch_and_handed_nothing():
    index = FollowerIndex()
    everything_woken, bob_woken = Woken(), Woken()
    everything = follower_of(None, woken=everything_woken)
    index.add(everything)
    index.add(follower_of("bob", woken=bob_woken))
    for seq in range(1, 4):
        index.hand(frame(seq, accounts=("alice",)))
    assert everything_woken.count == 0
    index.wake_followers_of_everything()
    assert everything_woken.count == 1 and bob_woken.count == 0
    assert everything.take() == []


def test_a_follower_removed_is_handed_nothing_more():
    index = FollowerIndex()
    alice, types = follower_of("alice"), follower_of(None, frozenset({"payment.completed"}))
    index.add(alice)
    index.add(types)
    index.remove(alice)
    index.remove(types)
    index.hand(frame(1))
    assert alice.take() == [] and types.take() == []


def test_a_follower_handed_more_than_a_backlog_holds_none_and_is_told_to_catch_up(monkeypatch):
    monkeypatch.setattr(followers_module, "BACKLOG", 3)
    follower = follower_of("alice")
    for seq in range(1, 6):
        follower.hand(frame(seq))
    assert follower.overflowed and follower.take() == []
    follower.start_afresh()
    follower.hand(frame(6))
    assert not follower.overflowed and [f.seq for f in follower.take()] == [6]
