"""Running the Huey consumer: as its own process, or inside the web server."""

from __future__ import annotations

from typing import Any

from huey.consumer import Consumer, Scheduler

from .settlement import Settlement


class GatewayConsumer(Consumer):
    """Huey looks at periodic tasks once a minute; `sweep_seconds` makes the
    sweeper look more often (the fault tests use a few seconds)."""

    def __init__(self, settlement: Settlement, sweep_seconds: int, **options: Any) -> None:
        self._sweep_seconds = sweep_seconds
        super().__init__(settlement.huey, worker_type="thread", periodic=True, **options)

    def _create_scheduler(self) -> Scheduler:
        scheduler = super()._create_scheduler()
        scheduler.periodic_task_seconds = self._sweep_seconds
        return scheduler


class EmbeddedConsumer(GatewayConsumer):
    """A consumer on threads inside the server process: the server owns the
    signals and stops it on shutdown."""

    def _set_signal_handlers(self) -> None:
        pass


def start_embedded(settlement: Settlement, workers: int, sweep_seconds: int) -> EmbeddedConsumer:
    consumer = EmbeddedConsumer(settlement, sweep_seconds, workers=workers, max_delay=0.25)
    consumer.start()
    return consumer


def run_consumer(settlement: Settlement, workers: int, sweep_seconds: int) -> None:
    """Block running a consumer until SIGINT (graceful) or SIGTERM."""
    GatewayConsumer(settlement, sweep_seconds, workers=workers, shutdown_timeout=30).run()
