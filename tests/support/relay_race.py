"""Relays racing to number events on a scratch database: `python -m tests.support.relay_race`, with DATABASE_URL.

Several relays number events at once while others are committed, as when a
relay's lock connection dies mid-round and another process takes over.
Prints what each relay returned beside what the log holds, as JSON. Run
from the repository's root (`tests/test_relay.py` starts it there).
"""

from __future__ import annotations

import json
import os
import threading
from functools import partial
from pathlib import Path
from typing import cast

from models.connection import connect
from models.event import Event, record_events, sequence_committed
from models.retry import read_only, retried_transaction
from models.schema import migrate

WRITERS, COMMITS, RELAYS = 3, 200, 3


def main() -> None:
    connect(os.environ["DATABASE_URL"], Path("unused.db"))
    migrate()
    done = threading.Event()
    returned: list[tuple[int, str]] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        for i in range(COMMITS):
            events = [("rate.updated", {"marker": f"{n}-{i}-{k}"}) for k in range(1 + i % 3)]
            retried_transaction(partial(record_events, events))

    def relay() -> None:
        while True:
            finished = done.is_set()
            frames = retried_transaction(lambda: sequence_committed(25))
            with lock:
                returned.extend((frame.seq, json.loads(frame.text)["data"]["marker"]) for frame in frames)
            if finished and not frames:
                return

    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    relays = [threading.Thread(target=relay) for _ in range(RELAYS)]
    for thread in writers + relays:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in relays:
        thread.join()
    rows = read_only(lambda: list(Event.select(Event.seq, Event.data).tuples()))
    stored = cast("list[tuple[int, str]]", rows)  # .tuples() gives tuples; Peewee's stubs keep the model's type
    print(
        json.dumps(
            {
                "expected": WRITERS * sum(1 + i % 3 for i in range(COMMITS)),
                "returned": sorted(returned),
                "stored": sorted((seq, json.loads(data)["marker"]) for seq, data in stored),
            }
        )
    )


if __name__ == "__main__":
    main()
