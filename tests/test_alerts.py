"""The alerts operators get (SPEC section 16): Prometheus rules in
deploy/prometheus/alerts.yml, each unit-tested by promtool (Debian's
`prometheus` package) in alerts.test.yml, on figures the product exports."""

from __future__ import annotations

import re
import subprocess

from prometheus_client import REGISTRY

from tests.support.environment import ROOT

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
# What the alerts must cover, by name.
ALERTS = {
    "SettlementBacklog",
    "PendingPaymentOlderThanAMinute",
    "AuditFailing",
    "ServerErrorsRising",
    "FeedClientsDropped",
    "WebhookEndpointsFailing",
    "ReadReplicaLagging",
    "PatroniMemberLagging",
    "NoRelayLeader",
}


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120)


def test_the_rules_are_valid_prometheus_rules():
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout


def test_every_rule_passes_its_unit_tests():
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_there_is_one_alert_for_each_thing_that_needs_a_person_and_each_is_tested_firing():
    assert set(re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), re.M)) == ALERTS
    firing = set(
        re.findall(r"^\s*- alertname: (\w+)\n\s*eval_time: .*\n\s*exp_alerts:\n\s*- ", RULE_TESTS.read_text(), re.M)
    )
    quiet = set(re.findall(r"\{alertname: (\w+), eval_time: [^,]+, exp_alerts: \[\]\}", RULE_TESTS.read_text()))
    assert firing == ALERTS
    assert quiet == ALERTS


def test_the_rules_use_only_figures_the_product_exports():
    # The modules that define the product's figures, loaded: their names are
    # what a scrape of a web process or a worker shows.
    import events.pipeline  # noqa: F401
    import models.audit  # noqa: F401
    import tasks.settlement  # noqa: F401
    import web.metrics  # noqa: F401
    import webhooks.dispatcher  # noqa: F401

    exported = set(REGISTRY._names_to_collectors)
    used = set(re.findall(r"\b(gateway_\w+)", RULES.read_text()))
    assert used and used <= exported, used - exported
