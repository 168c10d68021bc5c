"""A worker process: a consumer of the settlement queue, its share of the
event relay, its webhook sender (a child process), and its own /metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import start_http_server

from config import Config, StartupError
from events.pipeline import EventPipeline
from webhooks.process import SenderSupervisor

from .clock import Clock
from .consumer import run_consumer
from .settlement import Settlement

log = logging.getLogger("gateway.worker")


def run_worker(config: Config, threads: int, on_ready: Callable[[], None] | None = None) -> None:
    """Settle payments with `threads` worker threads until SIGINT (graceful:
    the batches under way finish) or SIGTERM; `on_ready` is called once set
    up. The models must be bound to the database already."""
    if config.embedded:
        raise StartupError("worker needs REDIS_URL: without it the server settles payments itself")
    log.info("worker starting: %d threads", threads)
    settlement = Settlement(config)
    if config.metrics_port:
        start_http_server(config.metrics_port, addr=config.host)
    pipeline = EventPipeline(config, worker=True)
    clock = Clock()
    clock.start()
    sender = SenderSupervisor()
    sender.start()
    try:
        if on_ready is not None:
            on_ready()
        log.info("worker connected to PostgreSQL and Redis; settling")
        run_consumer(settlement, threads, config.sweep_seconds)
    except KeyboardInterrupt:
        # SIGINT before the consumer took over its signals: stop as it would.
        pass
    finally:
        sender.stop()
        clock.stop()
        pipeline.stop()
        log.info("worker stopped")
