"""The API under generated input (SPEC section 5: "never a 500 for bad
input"): Schemathesis reads `/api/v1/openapi.json` and sends every operation
requests made from its schema, valid and not, with an admin token. Every
answer must be below 500, be documented for that operation (status, content
type, headers, body schema), and come back within RESPONSE_SECONDS.

The fuzzer creates currencies and changes rates at random, so it works on a
deployment of its own (an embedded server on its own data folder, or web and
worker processes on a throwaway PostgreSQL and Redis), never on the session's.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from deploy.processes import answers_ready, free_port, server_command, spawn
from openapi.document import openapi_document
from tests.support.client import Api
from tests.support.environment import CONFIG
from tests.support.faults import Stack, stop_process, throwaway_services
from tests.support.waiting import wait_until

# The fuzzer's own deployment, and a few seconds per operation.
pytestmark = [pytest.mark.server, pytest.mark.slow]
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "30"))
RESPONSE_SECONDS = 5.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _embedded_target():
    env = dict(os.environ, DATA_DIR=tempfile.mkdtemp(prefix="gateway-fuzz-"), LOG_LEVEL="error")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)

    server_command(env, "migrate")
    token = server_command(env, "create-token", "--name", "fuzz", "--scope", "admin").splitlines()[-1]
    port = free_port()
    process = spawn(["serve", "--port", str(port)], env)
    api = Api(f"http://127.0.0.1:{port}", token)
    assert wait_until(lambda: answers_ready(api.base_url), timeout=30), "fuzz target did not start"
    return process, api


@pytest.fixture(scope="module")
def fuzz_target():
    """(base URL, admin token) of a deployment the fuzzer may wreck."""
    if CONFIG.database_url:
        with throwaway_services() as services:
            stack = Stack(*services)
            _, api = stack.web()
            stack.worker()
            yield api.base_url, stack.token
            stack.stop_all()
    else:
        process, api = _embedded_target()
        yield api.base_url, api.token
        stop_process(process)


# The document the server serves, built here too so that pytest can make one
# test per operation when it collects (checked to be the same below).
# The WebSocket feed is left out: an HTTP fuzzer cannot speak it (its refusals
# before the upgrade are tested below and in tests/test_feed.py).
schema = schemathesis.openapi.from_dict(openapi_document()).exclude(path="/api/v1/stream")


def test_the_fuzzed_document_is_the_one_the_api_serves(fuzz_target):
    base_url, _ = fuzz_target
    assert Api(base_url, None).get("/api/v1/openapi.json").body == openapi_document()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_generated_requests_as_documented_without_a_server_error(case, fuzz_target):
    base_url, token = fuzz_target
    response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    case.validate_response(response, checks=CHECKS)
    assert response.elapsed < RESPONSE_SECONDS, (case.method, case.path, response.elapsed)


def test_the_feed_refuses_a_request_that_is_not_a_websocket_upgrade_with_a_json_error(fuzz_target):
    base_url, token = fuzz_target
    response = Api(base_url, token).get("/api/v1/stream")
    assert 400 <= response.status < 500
    content_type = response.header("content-type")
    assert content_type is not None and content_type.startswith("application/json"), response.raw
    assert set(response.body["error"]) >= {"code", "message"}
