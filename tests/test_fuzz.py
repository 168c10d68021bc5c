"""The API under generated input (SPEC section 5: "never a 500 for bad
input", and the OpenAPI document says what the API does): Schemathesis reads
`/api/v1/openapi.json` and runs every check it has, in all four phases
(examples, coverage, fuzzing, stateful sequences that follow the document's
links), with an admin token, on the backend the suite runs on. The run,
its budget and the few refusals it accepts are in tests/support/conformance.py.

The fuzzer creates currencies, changes rates and moves the demo accounts'
money at random, so it works on a deployment of its own (an embedded server
on its own data folder, or web and worker processes on a throwaway
PostgreSQL and Redis), never on the session's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest

from deploy.processes import ROOT, answers_ready, free_port, server_command, spawn
from openapi.document import openapi_document
from tests.support.client import Api
from tests.support.conformance import known_values, run_schemathesis
from tests.support.environment import CONFIG
from tests.support.faults import Stack, stop_process, throwaway_services
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.server, pytest.mark.slow]

# Endpoints whose deliveries fail stay enabled through the run, so that
# sending a delivery again is answered, not refused as disabled.
KEEP_ENDPOINTS = {"WEBHOOK_DISABLE_SECONDS": str(24 * 3600)}


def _serve(env: dict, folder: Path) -> tuple[subprocess.Popen, str, Path]:
    """A web process on `env`, its log (warnings and worse) in `folder`."""
    port = free_port()
    log = folder / "web.log"
    with open(log, "wb") as output:
        process = spawn(["serve", "--port", str(port)], env, stdout=output, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: answers_ready(base_url), timeout=30), "fuzz target did not start"
    return process, base_url, log


class FuzzTarget(NamedTuple):
    """A deployment with the demo data that the fuzzer may wreck."""

    base_url: str
    token: str  # an admin's
    log: Path  # its web process's
    env: dict  # the environment its `server.py` commands run in


@pytest.fixture(scope="module")
def fuzz_target():
    folder = Path(tempfile.mkdtemp(prefix="gateway-fuzz-"))
    if CONFIG.database_url:
        with throwaway_services() as services:
            stack = Stack(*services)
            stack.env.update(KEEP_ENDPOINTS)
            stack.command("seed-demo")
            stack.worker()
            process, base_url, log = _serve(dict(stack.env, LOG_LEVEL="warning", LOG_FORMAT="text"), folder)
            yield FuzzTarget(base_url, stack.token, log, stack.env)
            stop_process(process)
            stack.stop_all()
    else:
        env = dict(os.environ, DATA_DIR=str(folder / "data"), LOG_LEVEL="warning", LOG_FORMAT="text", **KEEP_ENDPOINTS)
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        server_command(env, "migrate")
        server_command(env, "seed-demo")
        token = server_command(env, "create-token", "--name", "fuzz", "--scope", "admin").splitlines()[-1]
        process, base_url, log = _serve(env, folder)
        yield FuzzTarget(base_url, token, log, env)
        stop_process(process)


@pytest.fixture(scope="module")
def fuzz_run(fuzz_target: FuzzTarget, tmp_path_factory) -> subprocess.CompletedProcess:
    known = known_values(Api(fuzz_target.base_url, fuzz_target.token))
    return run_schemathesis(fuzz_target.base_url, fuzz_target.token, known, tmp_path_factory.mktemp("schemathesis"))


def test_the_fuzzed_document_is_the_one_the_api_serves(fuzz_target):
    assert Api(fuzz_target.base_url, None).get("/api/v1/openapi.json").body == openapi_document()


def test_schemathesis_with_every_check_and_phase_finds_nothing(fuzz_run):
    report = fuzz_run.stdout[-20000:] + fuzz_run.stderr[-5000:]
    assert fuzz_run.returncode == 0, report
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"\u2705 {phase}" in fuzz_run.stdout, report


def test_no_generated_request_makes_the_server_log_an_error(fuzz_target, fuzz_run):
    lines = fuzz_target.log.read_text(errors="replace").splitlines()
    assert len(lines) > 1000, "the run's refusals should be in the log, as warnings"
    assert [line for line in lines if "Uncaught exception" in line or " ERROR " in line] == []


def test_the_ledger_the_fuzzer_moved_money_in_still_keeps_every_invariant(fuzz_target, fuzz_run):
    audit = subprocess.run(
        [sys.executable, "server.py", "audit"], cwd=ROOT, env=fuzz_target.env, capture_output=True, text=True
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
