"""Starting the service as a newcomer would: what cannot work is said in
one line (a database that does not exist, a port in use, an unreachable
PostgreSQL or Redis, a weak COOKIE_SECRET with services), and a worker says
when it starts, when it is connected and when it stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from deploy.processes import free_port, spawn
from tests.support.environment import CONFIG, ROOT
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server
# Against this run's own PostgreSQL and Redis.
needs_services = pytest.mark.skipif(
    not CONFIG.database_url, reason="needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)"
)


def run_server(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`server.py <args>` to its end, in an environment of its own (an empty
    data folder, the given variables)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "COOKIE_SECRET")}
    base["DATA_DIR"] = tempfile.mkdtemp(prefix="gateway-startup-")
    return subprocess.run(
        [sys.executable, "server.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_refusal(result: subprocess.CompletedProcess) -> str:
    """The process failed, and said why in one line, with no traceback."""
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def closed_port() -> int:
    return free_port()


def services_env(**overrides: str) -> dict[str, str]:
    assert CONFIG.database_url and CONFIG.redis_url
    return {"DATABASE_URL": CONFIG.database_url, "REDIS_URL": CONFIG.redis_url, **overrides}


@pytest.mark.services
@needs_services
def test_migrating_a_database_that_does_not_exist_says_so_in_one_line():
    assert CONFIG.database_url
    missing = f"gateway_missing_{uuid.uuid4().hex[:8]}"
    line = one_line_refusal(run_server("migrate", DATABASE_URL=CONFIG.database_url.rsplit("/", 1)[0] + "/" + missing))
    assert missing in line and "does not exist" in line and "createdb" in line


def test_an_unreachable_postgresql_says_so_in_one_line():
    url = f"postgresql://root@127.0.0.1:{closed_port()}/gateway"
    line = one_line_refusal(run_server("migrate", DATABASE_URL=url))
    assert "does not answer" in line and "is it running" in line


@pytest.mark.services
@needs_services
def test_an_unreachable_redis_says_so_in_one_line():
    redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    line = one_line_refusal(run_server("serve", **services_env(REDIS_URL=redis_url)))
    assert redis_url in line and "does not answer" in line


def test_a_port_in_use_says_so_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_refusal(run_server("serve", "--port", str(port)))
    assert f"port {port}" in line and "in use" in line


@pytest.mark.services
@needs_services
@pytest.mark.parametrize("secret", ["change-me", "x" * 31], ids=["the example file's placeholder", "31 characters"])
def test_with_services_a_weak_cookie_secret_is_refused_at_start(secret):
    example = (ROOT / "deploy" / "env.example").read_text()
    assert "COOKIE_SECRET=change-me" in example  # the placeholder people copy
    line = one_line_refusal(run_server("serve", "--port", str(free_port()), **services_env(COOKIE_SECRET=secret)))
    assert "COOKIE_SECRET" in line and "32" in line and "secrets.token_urlsafe" in line


@pytest.mark.services
@needs_services
def test_a_worker_logs_when_it_starts_when_it_is_connected_and_when_it_stops(tmp_path: Path):
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = spawn(
            ["worker", "--workers", "1"],
            {**os.environ, "LOG_LEVEL": "info"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            assert wait_until(lambda: "settling" in log_path.read_text(), timeout=30), log_path.read_text()
            worker.send_signal(signal.SIGINT)
            worker.wait(30)
        finally:
            if worker.poll() is None:
                worker.kill()
    text = log_path.read_text()
    assert "worker starting: 1 threads" in text
    assert "worker connected to PostgreSQL and Redis; settling" in text
    assert "worker stopped" in text
    assert text.index("starting") < text.index("connected") < text.index("stopped")
