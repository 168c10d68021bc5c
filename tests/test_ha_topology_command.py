"""`python -m deploy.local up --ha` and `down` (SPEC section 16): up starts
etcd, three PostgreSQL nodes under Patroni, Redis with its replica and
Sentinels, nginx, web processes and workers, on loopback; down stops all of
it and leaves nothing running."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from deploy.ha import ETCD_PORTS, PATRONI_PORTS, PG_PORTS, REDIS_PORTS, SENTINEL_PORTS
from deploy.processes import ROOT, answers_ready, die_with_parent, free_port
from tests.support.environment import HA_MARKS

pytestmark = HA_MARKS

PORTS = (*ETCD_PORTS, *PG_PORTS, *PATRONI_PORTS, *REDIS_PORTS, *SENTINEL_PORTS)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_ha_starts_the_whole_shape_on_loopback_and_down_leaves_nothing_running(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "READ_REPLICA_URL")}
    env.update(DATA_DIR=str(tmp_path), LOG_LEVEL="warning")
    port = free_port()
    # Its output (and its processes') to a file: a pipe nobody reads would
    # fill and stop them.
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "deploy.local", "up", "--ha", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and "nginx on " not in log.read_text() and up.poll() is None:
            time.sleep(0.5)
        output = log.read_text()
        assert f"nginx on http://127.0.0.1:{port}" in output, output[-3000:]
        assert re.search(
            r"DATABASE_URL=postgresql://\S+@127\.0\.0\.1:5441,127\.0\.0\.1:5442,127\.0\.0\.1:5443/", output
        )
        assert "REDIS_SENTINELS=127.0.0.1:26390,127.0.0.1:26391,127.0.0.1:26392" in output
        folder = Path(re.search(r"Sentinels in (\S+)", output).group(1))  # type: ignore[union-attr]
        assert answers_ready(f"http://127.0.0.1:{port}")
        assert all(listening(p) for p in PORTS), {p: listening(p) for p in PORTS}
        # Every service listens on loopback only.
        lines = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout.splitlines()
        for p in PORTS:
            addresses = {line.split()[3].rsplit(":", 1)[0] for line in lines if line.split()[3].endswith(f":{p}")}
            assert addresses <= {"127.0.0.1"}, (p, addresses)

        down = subprocess.run(
            [sys.executable, "-m", "deploy.local", "down"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
        )
        assert down.returncode == 0, down.stderr
        assert up.wait(10) == 0
        assert not any(listening(p) for p in (*PORTS, port)), {p: listening(p) for p in (*PORTS, port)}
        assert not folder.exists()
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(60)
