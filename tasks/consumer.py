"""Running the Huey consumer: as its own process, or inside the web server."""

from __future__ import annotations

from huey.consumer import Consumer, Scheduler

from config import Config

from . import settlement  # noqa: F401  (registers the tasks)
from .queue import huey


class SweepingScheduler(Scheduler):
    """Huey looks at periodic tasks once a minute; SWEEP_SECONDS makes the
    sweeper look more often (the fault tests use a few seconds)."""

    periodic_task_seconds = Config.from_env().sweep_seconds


class GatewayConsumer(Consumer):
    scheduler_class = SweepingScheduler


class EmbeddedConsumer(GatewayConsumer):
    """A consumer on threads inside the server process: the server owns the
    signals and stops it on shutdown."""

    def _set_signal_handlers(self) -> None:
        pass


def start_embedded(workers: int) -> EmbeddedConsumer:
    consumer = EmbeddedConsumer(huey, workers=workers, worker_type="thread", max_delay=0.25, periodic=True)
    consumer.start()
    return consumer


def run_worker(workers: int) -> None:
    """Block running a consumer until SIGINT (graceful) or SIGTERM."""
    GatewayConsumer(huey, workers=workers, worker_type="thread", periodic=True, shutdown_timeout=30).run()
