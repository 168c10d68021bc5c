"""HTTP load from a separate process: wrk, bounded in time, on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "wrk"


def wrk(
    url: str, script: str, seconds: int = 8, connections: int = 32, threads: int = 1, env: dict | None = None
) -> dict:
    """Requests per second and latency (ms) of `url` under `script`."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk; `make bench` does it)")
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(SCRIPTS / script),
            url,
        ],
        env=dict(os.environ, **(env or {})),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    requests, duration_us, errors, p50_us, p99_us = (int(v) for v in line.split()[1:])
    return {
        "per_s": round(requests / (duration_us / 1e6), 1),
        "requests": requests,
        "errors": errors,
        "p50_ms": round(p50_us / 1000, 2),
        "p99_ms": round(p99_us / 1000, 2),
    }
