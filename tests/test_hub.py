"""The hub's ring of recent events: a feed reads what follows its last seq,
from memory when the ring still holds it, from the log when it does not."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import cast

import pytest

from models.event import Frame
from web import hub as hub_module
from web.hub import EventHub


def frame(seq: int) -> Frame:
    return Frame(seq, "payment.created", (), f'{{"seq":{seq}}}')


@pytest.fixture
def full_ring(monkeypatch):
    """A hub whose ring (100 frames) holds events 151-250."""
    monkeypatch.setattr(hub_module, "RING_SIZE", 100)
    loop = asyncio.new_event_loop()
    # No executor: these tests only append to the ring and read it, which never reads the log.
    hub = EventHub(loop, executor=cast(Executor, None))
    for seq in range(1, 251):
        hub._append(frame(seq))
    yield hub
    loop.close()


@pytest.mark.parametrize(
    ("after", "limit", "expected"),
    [
        (250, 10, []),  # at the head
        (249, 10, [250]),  # one behind
        (240, 5, [241, 242, 243, 244, 245]),  # close to the head, more than the limit
        (240, 50, list(range(241, 251))),
        (160, 3, [161, 162, 163]),  # far behind, still in the ring
        (150, 2, [151, 152]),  # the ring's first frame
    ],
)
def test_a_reader_gets_the_frames_after_its_seq_up_to_the_limit(full_ring, after, limit, expected):
    assert [f.seq for f in full_ring.frames_after(after, limit)] == expected


def test_a_reader_behind_what_the_ring_holds_is_sent_to_the_log(full_ring):
    assert full_ring.frames_after(149, 10) is None
    assert full_ring.frames_after(0, 10) is None
