"""Starting the service's own processes so that they die with whoever started them.

`spawn` starts `server.py serve`, `server.py worker` (or another script) as a
child that Linux ends when its parent ends, even a parent killed with
SIGKILL (PR_SET_PDEATHSIG): what a test, a benchmark or the local topology
starts never outlives it. The tests, the benchmarks and `deploy.local` all
start processes through here.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1


def die_with_parent(death_signal: int = signal.SIGTERM) -> None:
    """Have Linux send this process `death_signal` when its parent ends.

    Meant as `subprocess.Popen(..., preexec_fn=die_with_parent)`; a
    preexec_fn that changes the user first must call it after, as a change
    of user clears it."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, death_signal)


def spawn(args: list[str], env: dict | None = None, **kwargs) -> subprocess.Popen:
    """Start a child process (`server.py ...` when args start with a
    command name, else the script `args[0]`) that cannot outlive this one."""
    command = [sys.executable, "server.py", *args] if not args[0].endswith(".py") else [sys.executable, *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, preexec_fn=die_with_parent, **kwargs)


def stop_processes(
    processes: Sequence[subprocess.Popen],
    grace: float,
    signal_of: Callable[[subprocess.Popen], int] = lambda _: signal.SIGTERM,
) -> None:
    """Ask every process still running to stop (SIGTERM, or what
    `signal_of` says for it), all at once, then wait for each: one that has
    not ended within `grace` seconds is killed."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal_of(process))
    for process in processes:
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def server_command(env: dict | None, *args: str) -> str:
    """Run `server.py <args>` (migrate, create-token, ...) to completion with
    `env`; returns what it printed."""
    return subprocess.run(
        [sys.executable, "server.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def answers_ready(base: str) -> bool:
    """Whether the server at `base` answers /readyz with 200 now."""
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def wait_ready(base: str, timeout: float = 30.0) -> None:
    """Wait until the server at `base` answers /readyz; RuntimeError if it
    does not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers_ready(base):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not become ready")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair() -> int:
    """A TCP port on loopback that nothing listens on now, nor on the next
    one (a worker's metrics, then its webhook sender's)."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
