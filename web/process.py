"""A web process: the HTTP server, and what it runs beside it (the event
hub, the relay's share, and when embedded, the queue's consumer and the
webhook sender)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from config import Config, StartupError
from events.pipeline import EventPipeline
from events.signals import Coalesced
from handlers.app import make_app
from models.connection import connect_replica, disconnect_replica
from models.replica import WriteMarks
from models.schema import migrate
from tasks.clock import Clock
from tasks.consumer import start_embedded
from tasks.settlement import Settlement
from webhooks.service import WebhookService

from .hub import EventHub
from .protocol import MAX_STREAMED_BYTES
from .services import WebServices

log = logging.getLogger(__name__)

# How long a stopping web process waits for the requests it has started
# (under the 10 s a container runtime allows before SIGKILL).
SHUTDOWN_GRACE_SECONDS = 8.0


async def serve(config: Config, on_ready: Callable[[], None] | None = None, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM, or until `stop` is set when given (tests
    run servers on threads of theirs); `on_ready` is called once the port is
    open. The models must be bound to the database already
    (`models.connection.connect`)."""
    write_marks = read_from_replica(config)
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(config.db_threads, thread_name_prefix="db")
    hub = EventHub(loop, executor)
    settlement = Settlement(config)
    consumer = None
    senders: WebhookService | None = None
    if config.embedded:
        await loop.run_in_executor(None, migrate)
        await hub.start()
        pipeline = EventPipeline(config, publish_here=hub.receive_threadsafe)
        consumer = start_embedded(settlement, config.consumer_workers, config.sweep_seconds)
    else:
        pipeline = EventPipeline(config)
        assert pipeline.fanout is not None
        await hub.start(config.redis_url, pipeline.fanout.events_channel)
    clock = Clock()
    clock.start()
    request_settlement = Coalesced(settlement.request, "settlement-requests")
    services = WebServices(executor, hub, request_settlement, settlement.queue_depth, write_marks)
    app = make_app(config, services)
    try:
        server = app.listen(
            config.port, config.host, max_body_size=MAX_STREAMED_BYTES, xheaders=config.trust_proxy_headers
        )
    except OSError as problem:
        if problem.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {config.port} on {config.host} is in use: stop what listens there, or choose another with PORT"
            ) from None
        raise
    if config.embedded:
        # Started once the port is open: a server that cannot start sends nothing.
        senders = WebhookService(config, f"{socket.gethostname()}:web-{os.getpid()}")
        await loop.run_in_executor(None, senders.start)
    mode = "embedded" if config.embedded else "services"
    log.info("serving on http://%s:%d (%s mode)", config.host, config.port, mode)
    if stop is None:
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    if on_ready is not None:
        on_ready()
    await stop.wait()
    log.info("shutting down")
    server.stop()
    in_flight = app.settings["in_flight"]
    if not await in_flight.drained(SHUTDOWN_GRACE_SECONDS):
        log.warning("stopping with %d requests still unanswered", in_flight.count)
    await server.close_all_connections()
    await loop.run_in_executor(None, request_settlement.flush)
    if consumer is not None:
        await loop.run_in_executor(None, lambda: consumer.stop(graceful=True))
    if senders is not None:
        await loop.run_in_executor(None, senders.stop)
    await loop.run_in_executor(None, clock.stop)
    await loop.run_in_executor(None, pipeline.stop)
    await hub.close()
    executor.shutdown(wait=True)
    if write_marks is not None:
        disconnect_replica()


def read_from_replica(config: Config) -> WriteMarks | None:
    """With READ_REPLICA_URL, start the replica's monitor and return the
    write marks that keep callers reading their own writes (models.replica)."""
    if not config.read_replica_url:
        return None
    if config.embedded or not config.database_url:
        raise StartupError("READ_REPLICA_URL needs DATABASE_URL and REDIS_URL: a replica of PostgreSQL, marks in Redis")
    connect_replica(config.read_replica_url, config.database_url, config.replica_max_lag)
    assert config.redis_url is not None
    return WriteMarks(config.redis_url, config.replica_max_lag)
