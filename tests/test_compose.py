"""The compose files (SPEC sections 9 and 16), as `docker-compose config`
reads them: docker-compose.yml adds the logs in one place (Loki, promtail,
Grafana with its data sources and a "Find a payment" dashboard) and
Prometheus with the alerts; docker-compose.ha.yml gives the same shape on
Patroni with etcd and on Redis with Sentinels."""

from __future__ import annotations

import json
import os
import subprocess

from tests.support.environment import ROOT

PLACEHOLDERS = {
    "POSTGRES_PASSWORD": "placeholder",
    "COOKIE_SECRET": "placeholder",
    "GRAFANA_ADMIN_PASSWORD": "placeholder",
    "REPLICATION_PASSWORD": "placeholder",
}


def compose_config(*files: str, **env: str) -> subprocess.CompletedProcess:
    command = ["docker-compose", *(a for f in files for a in ("-f", f)), "config"]
    return subprocess.run(
        command, cwd=ROOT, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=60
    )


def services_of(config: str) -> set[str]:
    """The service names of `docker-compose config`'s output."""
    section = config.split("\nservices:\n", 1)[1] if not config.startswith("services:") else config[10:]
    names = set()
    for line in section.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            names.add(line.strip()[:-1])
        elif line and not line.startswith(" "):
            break
    return names


def test_the_base_file_has_loki_grafana_and_prometheus_beside_the_service():
    read = compose_config("docker-compose.yml", **PLACEHOLDERS)
    assert read.returncode == 0, read.stderr
    assert {"postgres", "redis", "web", "worker", "nginx", "prometheus", "loki", "promtail", "grafana"} <= services_of(
        read.stdout
    )


def test_the_ha_override_runs_patroni_with_etcd_and_redis_with_sentinels():
    read = compose_config("docker-compose.yml", "docker-compose.ha.yml", **PLACEHOLDERS)
    assert read.returncode == 0, read.stderr
    services = services_of(read.stdout)
    assert {"etcd", "postgres", "postgres-2", "postgres-3", "redis", "redis-replica"} <= services
    assert {"sentinel-1", "sentinel-2", "sentinel-3", "prometheus", "loki", "grafana"} <= services
    assert "target_session_attrs=read-write" in read.stdout
    assert "REDIS_SENTINELS: sentinel-1:26379,sentinel-2:26379,sentinel-3:26379" in read.stdout


def test_without_its_secrets_the_ha_override_is_refused():
    read = compose_config("docker-compose.yml", "docker-compose.ha.yml", **{**PLACEHOLDERS, "REPLICATION_PASSWORD": ""})
    assert read.returncode != 0 and "REPLICATION_PASSWORD" in read.stderr


def test_grafanas_find_a_payment_dashboard_finds_lines_by_either_id():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "find-a-payment.json").read_text())
    assert dashboard["title"] == "Find a payment"
    (variable,) = dashboard["templating"]["list"]
    logs = next(panel for panel in dashboard["panels"] if panel["type"] == "logs")
    query = logs["targets"][0]["expr"]
    assert f'payment_id="${variable["name"]}"' in query and f'request_id="${variable["name"]}"' in query
    sources = (ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "gateway.yml").read_text()
    assert logs["datasource"]["uid"] in sources and "type: loki" in sources
