"""The test run's environment and configuration (`CONFIG`), set up once when this module is first imported."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from config import Config

ROOT = Path(__file__).resolve().parent.parent.parent


def prepare_environment() -> None:
    """What the test run, and every process it starts with its environment,
    runs with: a data folder of its own when embedded (no DATABASE_URL),
    quiet logs, and feed sends that give up on a stalled client after 2 s."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="gateway-test-")
    os.environ.setdefault("LOG_LEVEL", "warning")
    os.environ.setdefault("FEED_SEND_TIMEOUT", "2")


prepare_environment()
CONFIG = Config.from_env()


def required_database_url() -> str:
    """CONFIG's PostgreSQL URL, for the tests that are skipped without one."""
    assert CONFIG.database_url, "DATABASE_URL is not set"
    return CONFIG.database_url


def required_redis_url() -> str:
    """CONFIG's Redis URL, for the tests that are skipped without one."""
    assert CONFIG.redis_url, "REDIS_URL is not set"
    return CONFIG.redis_url
