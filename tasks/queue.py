"""The Huey instance: Redis with services, a SQLite file when embedded.

Built from the environment at import, as Huey's task decorators need it; the
server, the workers and the tests all set the environment first.
"""

from __future__ import annotations

from huey import Huey, RedisHuey, SqliteHuey

from config import Config

QUEUE_NAME = "payment-gateway"


def make_huey(config: Config) -> Huey:
    if config.redis_url:
        return RedisHuey(QUEUE_NAME, url=config.redis_url, results=False)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(config.queue_path), results=False, timeout=30)


huey = make_huey(Config.from_env())


def queue_ping() -> int:
    """Touch the queue's storage; raises if it is unreachable."""
    return huey.pending_count()
