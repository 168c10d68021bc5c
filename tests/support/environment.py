"""The test run's environment and configuration (`CONFIG`), set up once when this module is first imported."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from config import Config
from tests.support.receiver import make_certificate

ROOT = Path(__file__).resolve().parent.parent.parent


# Webhooks as the tests send them: to receivers on loopback with a
# certificate of the run's own, timing out after 2 s, retried from 0.2 s,
# given up after 3 s and the endpoint disabled after 5 s of failures.
WEBHOOK_SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE": "1",
    "WEBHOOK_TIMEOUT": "2",
    "WEBHOOK_RETRY_SECONDS": "0.2",
    "WEBHOOK_GIVE_UP_SECONDS": "3",
    "WEBHOOK_DISABLE_SECONDS": "5",
}


def prepare_environment() -> tuple[Path, Path]:
    """What the test run, and every process it starts with its environment,
    runs with: a data folder of its own when embedded (no DATABASE_URL),
    quiet logs, feed sends that give up on a stalled client after 2 s, and
    the webhook settings above, trusting the receivers' certificate (which
    it returns with its key)."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="gateway-test-")
    os.environ.setdefault("LOG_LEVEL", "warning")
    os.environ.setdefault("FEED_SEND_TIMEOUT", "2")
    for name, value in WEBHOOK_SETTINGS.items():
        os.environ.setdefault(name, value)
    certificate = make_certificate(Path(tempfile.mkdtemp(prefix="gateway-test-tls-")))
    os.environ["WEBHOOK_CA_FILE"] = str(certificate[0])
    return certificate


RECEIVER_CERTIFICATE = prepare_environment()
CONFIG = Config.from_env()

# The marks of a module of high-availability tests: services mode only,
# slow, with servers of their own, and `ha` (make test-fast skips them).
HA_MARKS = [
    pytest.mark.skipif(not CONFIG.database_url, reason="embedded run: high availability is for services mode"),
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.server,
    pytest.mark.ha,
]


def required_database_url() -> str:
    """CONFIG's PostgreSQL URL, for the tests that are skipped without one."""
    assert CONFIG.database_url, "DATABASE_URL is not set"
    return CONFIG.database_url


def required_redis_url() -> str:
    """CONFIG's Redis URL, for the tests that are skipped without one."""
    assert CONFIG.redis_url, "REDIS_URL is not set"
    return CONFIG.redis_url
