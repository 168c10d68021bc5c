"""The server under test: the suite's database made ready, a web server on a thread of this process, worker processes beside it with services."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading

from config import Config
from deploy.processes import spawn


def reset_services(config: Config) -> None:
    """Empty the PostgreSQL schema and the Redis queue left by an earlier run."""
    import psycopg2
    import redis

    if not config.redis_url:
        raise RuntimeError("DATABASE_URL is set but REDIS_URL is not: services mode needs both")
    with psycopg2.connect(config.database_url) as conn, conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    conn.close()
    client = redis.Redis.from_url(config.redis_url)
    for key in client.scan_iter("huey.*payment-gateway*"):
        client.delete(key)


def prepare_database(config: Config) -> None:
    """This process connected to the suite's database, migrated (and, with
    services, emptied first along with the queue)."""
    from models.connection import connect as connect_database
    from models.schema import migrate

    if config.database_url:
        reset_services(config)
    connect_database(config.database_url, config.sqlite_path)
    migrate()


def start_workers(count: int) -> list[subprocess.Popen]:
    return [spawn(["worker", "--workers", "4"], dict(os.environ)) for _ in range(count)]


class RunningServer:
    def __init__(self, config: Config) -> None:
        from web.process import serve

        self.config = config
        # The session's worker processes, with services (set by the fixture).
        self.workers: list[subprocess.Popen] = []
        self.started = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            await serve(config, on_ready=self.started.set, stop=self.stop_event)

        self.thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self.thread.start()
        if not self.started.wait(30):
            raise RuntimeError("server did not start")
        self.url = f"http://127.0.0.1:{config.port}"

    def stop(self) -> None:
        # Both set by main() before the server was ready, which __init__ waited for.
        assert self.loop is not None and self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)
