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
import tempfile
from pathlib import Path

import pytest

from deploy.processes import answers_ready, free_port, server_command, spawn
from openapi.document import openapi_document
from tests.support.client import Api
from tests.support.conformance import known_values, run_schemathesis
from tests.support.environment import CONFIG
from tests.support.faults import Stack, stop_process, throwaway_services
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _serve(env: dict, folder: Path) -> tuple[subprocess.Popen, str, Path]:
    """A web process on `env`, its log (warnings and worse) in `folder`."""
    port = free_port()
    log = folder / "web.log"
    with open(log, "wb") as output:
        process = spawn(["serve", "--port", str(port)], env, stdout=output, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: answers_ready(base_url), timeout=30), "fuzz target did not start"
    return process, base_url, log


@pytest.fixture(scope="module")
def fuzz_target():
    """(base URL, admin token, the web process's log) of a deployment, with
    the demo data, that the fuzzer may wreck."""
    folder = Path(tempfile.mkdtemp(prefix="gateway-fuzz-"))
    if CONFIG.database_url:
        with throwaway_services() as services:
            stack = Stack(*services)
            stack.command("seed-demo")
            stack.worker()
            process, base_url, log = _serve(dict(stack.env, LOG_LEVEL="warning", LOG_FORMAT="text"), folder)
            yield base_url, stack.token, log
            stop_process(process)
            stack.stop_all()
    else:
        env = dict(os.environ, DATA_DIR=str(folder / "data"), LOG_LEVEL="warning", LOG_FORMAT="text")
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        server_command(env, "migrate")
        server_command(env, "seed-demo")
        token = server_command(env, "create-token", "--name", "fuzz", "--scope", "admin").splitlines()[-1]
        process, base_url, log = _serve(env, folder)
        yield base_url, token, log
        stop_process(process)


@pytest.fixture(scope="module")
def fuzz_run(fuzz_target, tmp_path_factory) -> subprocess.CompletedProcess:
    base_url, token, _ = fuzz_target
    known = known_values(Api(base_url, token))
    return run_schemathesis(base_url, token, known, tmp_path_factory.mktemp("schemathesis"))


def test_the_fuzzed_document_is_the_one_the_api_serves(fuzz_target):
    base_url, _, _ = fuzz_target
    assert Api(base_url, None).get("/api/v1/openapi.json").body == openapi_document()


def test_schemathesis_with_every_check_and_phase_finds_nothing(fuzz_run):
    report = fuzz_run.stdout[-20000:] + fuzz_run.stderr[-5000:]
    assert fuzz_run.returncode == 0, report
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"\u2705 {phase}" in fuzz_run.stdout, report


def test_no_generated_request_makes_the_server_log_an_error(fuzz_target, fuzz_run):
    _, _, log = fuzz_target
    lines = log.read_text(errors="replace").splitlines()
    assert len(lines) > 1000, "the run's refusals should be in the log, as warnings"
    assert [line for line in lines if "Uncaught exception" in line or " ERROR " in line] == []
