"""Sender processes: `server.py webhooks` runs one; every worker starts one
beside it (`SenderSupervisor`) and starts it again if it dies.

Deliveries run in a process of their own, not in the worker's: a hundred
lanes making TLS connections and parsing answers would take the worker's
interpreter lock from settlement.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading

from prometheus_client import start_http_server

from config import Config
from deploy.processes import spawn

from .service import WebhookService

log = logging.getLogger("gateway.webhooks")

RESTART_SECONDS = 1.0


def run_sender(config: Config, owner: str | None) -> None:
    """Send webhooks until SIGINT or SIGTERM. `owner` names who runs this
    sender (its worker), so that a restarted sender frees its dead
    predecessor's endpoints at once. The models must be bound already."""
    stop = threading.Event()
    if config.metrics_port:
        try:
            start_http_server(config.metrics_port, addr=config.host)
        except OSError as problem:
            # Deliveries matter more than their counts: go on without them.
            log.warning("webhook sender serves no metrics: port %d: %s", config.metrics_port, problem)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    service = WebhookService(config, owner or f"{socket.gethostname()}:{os.getpid()}")
    service.start()
    log.info("webhook sender running")
    while not stop.wait(1):
        if not service.alive:
            log.error("the webhook sender stopped by itself; exiting to be started again")
            break
    else:
        service.stop()
        log.info("webhook sender stopped")
    logging.shutdown()
    # Nothing is left to save (a sender's endpoints are handed back by
    # `stop`, or taken over when its heartbeat is old), and a database thread
    # still retrying against a server that went away must not keep the
    # process alive after its worker is gone.
    os._exit(0 if stop.is_set() else 1)


class SenderSupervisor:
    """A worker's sender process, started again whenever it exits. (The
    child is started from this supervisor's thread, which lives as long as
    the worker: Linux ends the child with the thread that made it.)"""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._env = dict(os.environ if env is None else env)
        # The worker's metrics are on METRICS_PORT; its sender's on the next port.
        if self._env.get("METRICS_PORT"):
            self._env["METRICS_PORT"] = str(int(self._env["METRICS_PORT"]) + 1)
        self._owner = f"{socket.gethostname()}:worker-{os.getpid()}"
        self._stop = threading.Event()
        self._process: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._process = spawn(["webhooks", "--owner", self._owner], self._env)
            while self._process.poll() is None:
                if self._stop.wait(0.5):
                    self._process.terminate()
                    try:
                        self._process.wait(20)
                    except subprocess.TimeoutExpired:
                        self._process.kill()
                    return
            log.warning("webhook sender exited with %s; starting it again", self._process.returncode)
            self._stop.wait(RESTART_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
