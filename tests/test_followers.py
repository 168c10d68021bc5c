"""Feed connections indexed by what they follow: an event is handed to the
followers that want it and wakes nobody else; followers of everything are
woken once per batch."""

from __future__ import annotations

import asyncio

from models.event import Frame
from web import followers as followers_module
from web.followers import Follower, FollowerIndex


def frame(seq: int, event_type: str = "payment.completed", accounts: tuple[str, ...] = ("alice", "bob")) -> Frame:
    return Frame(seq, event_type, accounts, f'{{"seq":{seq}}}')


def test_an_event_is_handed_only_to_the_followers_of_its_accounts_and_its_type():
    index = FollowerIndex()
    alice = Follower("alice", None)
    alice_completed = Follower("alice", frozenset({"payment.completed"}))
    alice_failed = Follower("alice", frozenset({"payment.failed"}))
    carol = Follower("carol", None)
    completed = Follower(None, frozenset({"payment.completed", "payment.failed"}))
    created = Follower(None, frozenset({"payment.created"}))
    for follower in (alice, alice_completed, alice_failed, carol, completed, created):
        index.add(follower)
    index.hand(frame(1))
    index.hand(frame(2, "account.created", ("carol",)))
    assert [f.seq for f in alice.take()] == [1]
    assert [f.seq for f in alice_completed.take()] == [1]
    assert [f.seq for f in carol.take()] == [2]
    assert [f.seq for f in completed.take()] == [1]
    assert alice_failed.take() == [] and created.take() == []


def test_a_follower_removed_is_handed_nothing_more():
    index = FollowerIndex()
    alice, types = Follower("alice", None), Follower(None, frozenset({"payment.completed"}))
    index.add(alice)
    index.add(types)
    index.remove(alice)
    index.remove(types)
    index.hand(frame(1))
    assert alice.take() == [] and types.take() == []


def test_followers_of_everything_are_woken_once_per_batch_and_handed_nothing():
    loop = asyncio.new_event_loop()
    try:
        index = FollowerIndex()
        everything, bob = Follower(None, None), Follower("bob", None)
        index.add(everything)
        index.add(bob)

        async def batch() -> tuple[bool, bool]:
            waits = [asyncio.ensure_future(everything.woken()), asyncio.ensure_future(bob.woken())]
            await asyncio.sleep(0)
            for seq in range(1, 4):
                index.hand(frame(seq, accounts=("alice",)))
            await asyncio.sleep(0)
            quiet = (waits[0].done(), waits[1].done())
            index.wake_followers_of_everything()
            await asyncio.sleep(0)
            assert waits[0].done()
            waits[1].cancel()
            return quiet

        assert loop.run_until_complete(batch()) == (False, False)
        assert everything.take() == []
    finally:
        loop.close()


def test_a_follower_handed_more_than_a_backlog_holds_none_and_is_told_to_catch_up(monkeypatch):
    monkeypatch.setattr(followers_module, "BACKLOG", 3)
    follower = Follower("alice", None)
    for seq in range(1, 6):
        follower.hand(frame(seq))
    assert follower.overflowed and follower.take() == []
    follower.start_afresh()
    follower.hand(frame(6))
    assert not follower.overflowed and [f.seq for f in follower.take()] == [6]
