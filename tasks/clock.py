"""The clock: about once a second, what is overdue is ended (pending
payments past their `settle_by` fail, holds past their `hold_expires_at`
expire: `models.overdue`), and every ten seconds the overview's summaries
are folded (`models.summaries.fold_tallies`). Every web and worker process
runs one, so deadlines are kept while the workers are down too; they share
the work out as settlement workers do."""

from __future__ import annotations

import logging
import threading

from models.overdue import end_overdue
from models.summaries import fold_tallies

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
FOLD_EVERY = 10  # ticks


class Clock:
    def __init__(self, tick: float = TICK_SECONDS) -> None:
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(self._tick):
            ticks += 1
            try:
                end_overdue()
            except Exception:
                log.exception("could not end what is overdue; trying again")
            if ticks % FOLD_EVERY == 0:
                try:
                    fold_tallies()
                except Exception:
                    log.exception("could not fold the summaries; trying again")
