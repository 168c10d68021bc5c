"""Runtime configuration, read once from the environment (SPEC section 9).

Every knob the service has is here, with its default, so that the server, the
workers, the tests and the benchmarks all agree on what a setting means.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


class StartupError(Exception):
    """A process cannot start, for a reason one line can say (a database
    that does not exist, a port in use, a secret too weak)."""


# Shorter than this, COOKIE_SECRET is refused with services (so is
# deploy/env.example's placeholder, which is shorter).
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    database_url: str | None = None
    redis_url: str | None = None
    read_replica_url: str | None = None
    cookie_secret: str | None = None
    log_format: str = "text"
    log_level: str = "info"
    sentry_dsn: str | None = None
    db_threads: int = 8
    consumer_workers: int = 2
    feed_send_timeout: float = 10.0
    # Settlement safety net: a payment pending longer than stale_after is
    # queued again by the sweeper, which runs every sweep_seconds.
    stale_after: float = 30.0
    sweep_seconds: int = 60
    # Each worker runs the audit this often (its findings go to /metrics,
    # for the alert on a failing audit); 0: never.
    audit_seconds: float = 3600.0
    # API requests per second per token (a token bucket holding `burst`),
    # shared by every web process through Redis; 0 turns the limit off.
    api_rate_limit: float = 5000.0
    api_rate_burst: int = 10000
    # Dashboard log-in attempts per email and client address, per minute.
    login_attempts_per_minute: int = 10
    # Behind a proxy that sets X-Real-Ip / X-Forwarded-For (the deployment's
    # nginx), take the client's address from them. Off, a client could claim
    # any address, and with it a fresh log-in allowance.
    trust_proxy_headers: bool = False
    # A worker serves its own /metrics on this port when set (web processes
    # serve theirs on PORT).
    metrics_port: int | None = None
    # Reads go to READ_REPLICA_URL only while it is provably at most this
    # many seconds behind the primary (see models.replica).
    replica_max_lag: float = 2.0
    # Webhooks (models.destinations, webhooks/): private and loopback
    # destinations and http:// allowed (tests, local set-ups); a CA file the
    # sender trusts besides the system's; how long one attempt may take; the
    # first retry's delay (each next one doubles); when an event is given up
    # and when an endpoint failing that long is disabled.
    webhook_allow_private: bool = False
    webhook_ca_file: str | None = None
    webhook_timeout: float = 10.0
    webhook_retry_seconds: float = 5.0
    webhook_give_up_seconds: float = 3 * 86400.0
    webhook_disable_seconds: float = 3 * 86400.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        env = os.environ if env is None else env
        # By field name: each of its own type.
        values: dict[str, Any] = dict(
            host=env.get("HOST", cls.host),
            port=int(env.get("PORT", cls.port)),
            data_dir=Path(env.get("DATA_DIR", "./var")),
            database_url=env.get("DATABASE_URL") or None,
            redis_url=redis_address(env),
            read_replica_url=env.get("READ_REPLICA_URL") or None,
            cookie_secret=env.get("COOKIE_SECRET") or None,
            log_format=env.get("LOG_FORMAT", cls.log_format),
            log_level=env.get("LOG_LEVEL", cls.log_level),
            sentry_dsn=env.get("SENTRY_DSN") or None,
            db_threads=int(env.get("DB_THREADS", cls.db_threads)),
            consumer_workers=int(env.get("CONSUMER_WORKERS", cls.consumer_workers)),
            feed_send_timeout=float(env.get("FEED_SEND_TIMEOUT", cls.feed_send_timeout)),
            stale_after=float(env.get("STALE_AFTER_SECONDS", cls.stale_after)),
            sweep_seconds=int(env.get("SWEEP_SECONDS", cls.sweep_seconds)),
            audit_seconds=float(env.get("AUDIT_SECONDS", cls.audit_seconds)),
            api_rate_limit=float(env.get("API_RATE_LIMIT", cls.api_rate_limit)),
            api_rate_burst=int(env.get("API_RATE_BURST", cls.api_rate_burst)),
            login_attempts_per_minute=int(env.get("LOGIN_ATTEMPTS_PER_MINUTE", cls.login_attempts_per_minute)),
            trust_proxy_headers=env.get("TRUST_PROXY_HEADERS", "").lower() in ("1", "true", "yes", "on"),
            metrics_port=int(env["METRICS_PORT"]) if env.get("METRICS_PORT") else None,
            replica_max_lag=float(env.get("REPLICA_MAX_LAG", cls.replica_max_lag)),
            webhook_allow_private=env.get("WEBHOOK_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes", "on"),
            webhook_ca_file=env.get("WEBHOOK_CA_FILE") or None,
            webhook_timeout=float(env.get("WEBHOOK_TIMEOUT", cls.webhook_timeout)),
            webhook_retry_seconds=float(env.get("WEBHOOK_RETRY_SECONDS", cls.webhook_retry_seconds)),
            webhook_give_up_seconds=float(env.get("WEBHOOK_GIVE_UP_SECONDS", cls.webhook_give_up_seconds)),
            webhook_disable_seconds=float(env.get("WEBHOOK_DISABLE_SECONDS", cls.webhook_disable_seconds)),
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def redis_sentinels(self) -> bool:
        """Whether Redis is found through Sentinels (REDIS_SENTINELS)."""
        return bool(self.redis_url and self.redis_url.startswith(SENTINEL_SCHEME + "://"))

    @property
    def embedded(self) -> bool:
        """No Redis: the queue, the consumer and the fan-out live in this process."""
        return self.redis_url is None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "gateway.db"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    def secret(self) -> str:
        """The cookie secret: from the environment, else generated once into
        DATA_DIR. With services every web process must share one, so it has
        to be given, and strong."""
        if self.cookie_secret:
            if not self.embedded and len(self.cookie_secret) < MIN_SECRET_LENGTH:
                raise StartupError(
                    f"COOKIE_SECRET must be at least {MIN_SECRET_LENGTH} random characters, not a placeholder:"
                    ' make one with  python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
                )
            return self.cookie_secret
        path = self.data_dir / "cookie_secret"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


# How the Redis address reads when Sentinels name the master:
# redis+sentinel://[:password@]host:port,host:port/master/db
SENTINEL_SCHEME = "redis+sentinel"


def redis_address(env: Mapping[str, str]) -> str | None:
    """REDIS_URL, or, with REDIS_SENTINELS and REDIS_SENTINEL_MASTER, the
    Sentinels' address (`SENTINEL_SCHEME`). There REDIS_URL, if also set,
    gives only the database number and the password; the Sentinels give
    the host."""
    sentinels = (env.get("REDIS_SENTINELS") or "").strip()
    plain = env.get("REDIS_URL") or None
    if not sentinels:
        return plain
    master = (env.get("REDIS_SENTINEL_MASTER") or "").strip()
    if not master:
        raise StartupError("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER: the name the Sentinels know the master by")
    for sentinel in sentinels.split(","):
        host, _, port = sentinel.strip().rpartition(":")
        if not host or not port.isdigit():
            raise StartupError(f"REDIS_SENTINELS must be host:port,host:port,...; {sentinel!r} is not host:port")
    password, db = "", "0"
    if plain:
        given = urlsplit(plain)
        password = f":{given.password}@" if given.password else ""
        db = given.path.strip("/") or "0"
    hosts = ",".join(s.strip() for s in sentinels.split(","))
    return f"{SENTINEL_SCHEME}://{password}{hosts}/{master}/{db}"


def _sentinel_parts(url: str) -> tuple[list[tuple[str, int]], str, int, str | None]:
    """(sentinels, master name, database number, password) of a
    `SENTINEL_SCHEME` address."""
    parts = urlsplit(url)
    credentials, _, netloc = parts.netloc.rpartition("@")
    password = unquote(credentials.partition(":")[2]) or None
    hosts = []
    for sentinel in netloc.split(","):
        host, _, port = sentinel.rpartition(":")
        hosts.append((host.strip("[]"), int(port)))
    master, _, db = parts.path.strip("/").partition("/")
    return hosts, unquote(master), int(db or 0), password


def redis_place(url: str) -> str:
    """Where Redis is, for a message: the URL, or the master's name and its
    Sentinels (never a password)."""
    if not url.startswith(SENTINEL_SCHEME + "://"):
        return f"Redis at {url}"
    hosts, master, db, _ = _sentinel_parts(url)
    sentinels = ",".join(f"{host}:{port}" for host, port in hosts)
    return f"the Redis master {master!r} (database {db}) of the Sentinels {sentinels}"


# How long asking a Sentinel who the master is may take.
SENTINEL_TIMEOUT = 0.5


def redis_client(url: str, **options: Any) -> Any:
    """A Redis client for the address `url` (`Config.redis_url`). Through
    Sentinels, its connection pool asks them for the master whenever it
    connects, so after a failover the next command reaches the new master
    without a restart. `options` are redis-py's (timeouts, ...)."""
    import redis
    from redis.sentinel import Sentinel

    if not url.startswith(SENTINEL_SCHEME + "://"):
        return redis.Redis.from_url(url, **options)
    hosts, master, db, password = _sentinel_parts(url)
    sentinel_options = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
    return Sentinel(hosts, sentinel_kwargs=sentinel_options).master_for(master, db=db, password=password, **options)


def async_redis_client(url: str, **options: Any) -> Any:
    """`redis_client` for asyncio (redis.asyncio)."""
    import redis.asyncio as aioredis
    from redis.asyncio.sentinel import Sentinel

    if not url.startswith(SENTINEL_SCHEME + "://"):
        return aioredis.Redis.from_url(url, **options)
    hosts, master, db, password = _sentinel_parts(url)
    sentinel_options = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
    return Sentinel(hosts, sentinel_kwargs=sentinel_options).master_for(master, db=db, password=password, **options)
