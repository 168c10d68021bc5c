"""The production topology on one machine, without Docker: nginx in front of
several web processes, several workers, on this machine's PostgreSQL and
Redis (DATABASE_URL and REDIS_URL). For tests, benchmarks and trying
failover by hand:

    python -m deploy.local up [--web 2] [--workers 2] [--port 8080]   # Ctrl-C stops everything
    python -m deploy.local up --ha                                     # ...on Patroni, etcd and Sentinels
    python -m deploy.local down                                        # ...or this, from another shell

With --ha it starts, besides, the highly available services of
`deploy.ha` (etcd, three PostgreSQL nodes under Patroni, a Redis master and
replica with three Sentinels) and runs the service on them instead.

nginx runs as a foreground child with a generated configuration (the same
template docker-compose.yml uses) in a folder of its own. Every process is
started so that it dies with the one that started it, even if that one is
killed, so nothing outlives a test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from config import Config
from deploy.ha import HaServices
from deploy.processes import (
    ROOT,
    die_with_parent,
    free_port,
    free_port_pair,
    server_command,
    spawn,
    stop_processes,
    wait_ready,
)

TEMPLATE = ROOT / "deploy" / "nginx" / "gateway.conf.template"
NGINX_WORKERS = 4

MAIN_CONF = """\
# Each feed follower holds two connections in nginx (the client's and the
# upstream one). Four workers, taking connections in turn (`reuseport` on
# the listening socket), each hold a quarter: 20,000 followers fit under a
# hard limit of 20,000 open files, which nginx cannot raise without root's
# right to.
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile 50000;
events {{ worker_connections 45000; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/gateway.conf;
}}
"""


def nginx_binary() -> str:
    """The nginx to run: $NGINX, else Debian's."""
    return os.environ.get("NGINX", "/usr/sbin/nginx")


def state_file() -> Path:
    """Where `up` writes its process id for `down`: in $DATA_DIR, else var/."""
    return Path(os.environ.get("DATA_DIR", ROOT / "var")) / "local-topology.pid"


def render(template: str, values: dict[str, str]) -> str:
    """Substitute ${NAME} for the given names only, as envsubst does with a
    list of variables: nginx's own $variables stay."""
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def nginx_config(directory: Path, listen: int, web_ports: list[int]) -> Path:
    servers = " ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in web_ports)
    (directory / "gateway.conf").write_text(
        render(TEMPLATE.read_text(), {"NGINX_UPSTREAM": servers, "NGINX_LISTEN": f"127.0.0.1:{listen} reuseport"})
    )
    main = directory / "nginx.conf"
    main.write_text(MAIN_CONF.format(dir=directory, workers=NGINX_WORKERS))
    return main


class LocalTopology:
    """nginx + `web` web processes + `workers` workers, on loopback."""

    def __init__(
        self,
        web: int = 2,
        workers: int = 2,
        port: int | None = None,
        env: dict | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        config = Config.from_env(self.env)
        if not config.database_url or not config.redis_url:
            raise SystemExit(
                "the local topology needs DATABASE_URL and REDIS_URL (or REDIS_SENTINELS): PostgreSQL and Redis"
            )
        # Each process's output in a file of its own here (web-1.log,
        # worker-1.log, ...) when given; else this process's.
        self.log_dir = log_dir
        self.web_count, self.worker_count = web, workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web: list[tuple[subprocess.Popen, str]] = []
        self.workers: list[tuple[subprocess.Popen, str]] = []
        self.nginx: subprocess.Popen | None = None
        self.directory = Path(tempfile.mkdtemp(prefix="gateway-nginx-"))

    def _spawn(self, args: list[str], log_name: str, **env: str) -> subprocess.Popen:
        if self.log_dir is None:
            return spawn(args, {**self.env, **env})
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{log_name}.log", "ab") as log:
            return spawn(args, {**self.env, **env}, stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> LocalTopology:
        server_command(self.env, "migrate")
        for n in range(self.worker_count):
            port = free_port_pair()  # its metrics, and its webhook sender's on the next port
            process = self._spawn(["worker", "--workers", "4"], f"worker-{n + 1}", METRICS_PORT=str(port))
            self.workers.append((process, f"http://127.0.0.1:{port}"))
        for n in range(self.web_count):
            port = free_port()
            web = self._spawn(["serve", "--port", str(port)], f"web-{n + 1}", TRUST_PROXY_HEADERS="1")
            self.web.append((web, f"http://127.0.0.1:{port}"))
        for _, url in self.web:
            wait_ready(url)
        config = nginx_config(self.directory, self.port, [int(url.rsplit(":", 1)[1]) for _, url in self.web])
        self.nginx = subprocess.Popen(
            [nginx_binary(), "-p", str(self.directory), "-c", str(config), "-g", "daemon off;"],
            preexec_fn=die_with_parent,
        )
        wait_ready(self.url)
        return self

    def stop(self) -> None:
        """Workers get SIGINT (Huey's graceful stop), the rest SIGTERM."""
        workers = [p for p, _ in self.workers]
        processes = workers + [p for p, _ in self.web] + ([self.nginx] if self.nginx else [])
        stop_processes(processes, 40, lambda p: signal.SIGINT if any(p is w for w in workers) else signal.SIGTERM)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalTopology:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def process_running(pid: int) -> bool:
    """Whether process `pid` exists and has not ended (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start nginx, web and worker processes; Ctrl-C stops them")
    up.add_argument("--web", type=int, default=2)
    up.add_argument("--workers", type=int, default=2)
    up.add_argument("--port", type=int, default=8080, help="nginx's port (default 8080)")
    up.add_argument(
        "--ha", action="store_true", help="on etcd, Patroni (3 PostgreSQL nodes) and Redis Sentinels of its own"
    )
    commands.add_parser("down", help="stop the topology started by `up` (and with --ha, its services)")
    args = parser.parse_args(argv)
    state = state_file()
    if args.command == "down":
        pid = int(state.read_text())
        os.kill(pid, signal.SIGTERM)
        # Back when everything it started has stopped: `up` removes its state
        # file last (or, killed, is gone; a zombie counts as gone).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not state.exists() or not process_running(pid):
                return
            time.sleep(0.2)
        raise SystemExit(f"process {pid} did not stop within 120 s")
    stopping = False

    def stop(*_) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with contextlib.ExitStack() as running:
        env = dict(os.environ)
        if args.ha:
            services = running.enter_context(HaServices())
            for name in ("DATABASE_URL", "REDIS_URL", "READ_REPLICA_URL"):
                env.pop(name, None)
            env.update(services.environment())
            print(f"etcd, Patroni, Redis and Sentinels in {services.folder}", flush=True)
            for name, value in services.environment().items():
                print(f"{name}={value}", flush=True)
        topology = running.enter_context(LocalTopology(args.web, args.workers, args.port, env=env))
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(str(os.getpid()))
        print(f"nginx on {topology.url}", flush=True)
        for _, url in topology.web:
            print(f"web    {url}   (metrics: {url}/metrics)", flush=True)
        for _, url in topology.workers:
            print(f"worker metrics: {url}/metrics", flush=True)
        while not stopping:
            time.sleep(0.2)
    state.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
