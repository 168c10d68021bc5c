"""The Huey queue: Redis with services, a SQLite file when embedded."""

from __future__ import annotations

from huey import Huey, RedisHuey, SqliteHuey

from config import Config, redis_client

QUEUE_NAME = "payment-gateway"


def make_huey(config: Config) -> Huey:
    """The queue `config` names. Every process that asks for settlement or
    settles builds its own, with the tasks of `tasks.settlement` on it."""
    if config.redis_url:
        # A client's pool: through Sentinels it asks them for the master
        # on every new connection, so a consumer blocked reading the queue
        # when the master goes reads from the new one once it is promoted.
        pool = redis_client(config.redis_url).connection_pool
        return RedisHuey(QUEUE_NAME, connection_pool=pool, results=False)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(config.queue_path), results=False, timeout=30)
