"""How the API is fuzzed against its own OpenAPI document (tests/test_fuzz.py):
the Schemathesis run, and the one list of refusals it must accept.

Schemathesis runs every check it has, in every phase (examples, coverage,
fuzzing, stateful), from the document the server serves. Its
`positive_data_acceptance` check says that a request valid by the schema
must not be refused; a few refusals are right all the same, because they
depend on data the schema cannot describe. They are listed below, each with
its reason, and the check is run in a form that lets exactly those through
(`positive_data_acceptance_but_data_rules`). Keep the list short: a refusal
that a pattern, a length or an enum could express belongs in the document.

Before the run, `known_values` makes what only a sequence of calls makes
(accounts with money, a completed transfer, authorized holds, a group), and
half the generated requests name those where they fit, so that every phase
meets the rules behind a lookup and not only its 404 or 422.

This module is also the run's hooks module (SCHEMATHESIS_HOOKS), which is
how Schemathesis learns the check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from deploy.processes import ROOT
from openapi.document import openapi_document
from tests.support.client import Api
from tests.support.ledger import open_account
from tests.support.waiting import wait_until

# Requests per operation in each stateless phase (examples, coverage, fuzzing).
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "100"))
# Fixed, so that each run draws alike; FUZZ_SEED explores anew.
SEED = int(os.environ.get("FUZZ_SEED", "21"))
# Far above any answer's time (a few ms), so that only a request that hangs fails, even on a loaded machine.
RESPONSE_SECONDS = 10


@dataclass(frozen=True)
class DataRule:
    """Refusals (`status` with one of `codes`) of schema-valid requests to
    `operations` that the API is right to make, and why."""

    operations: tuple[str, ...]
    status: int
    codes: tuple[str, ...]
    reason: str


HTTP_METHODS = ("get", "put", "post", "patch", "delete")
# Every operation that takes a `cursor`.
PAGES = tuple(
    f"{method.upper()} {path}"
    for path, item in openapi_document()["paths"].items()
    for method, operation in item.items()
    if method in HTTP_METHODS and {"$ref": "#/components/parameters/Cursor"} in operation.get("parameters", [])
)
PAYMENT_INTAKE = tuple(f"POST /api/v1/{path}" for path in ("payments", "deposits", "withdrawals", "payment-groups"))
PAYMENT_REFUSALS = (
    "validation_error",
    "unknown_currency",
    "currency_required",
    "currency_mismatch",
    "account_inactive",
    "balance_inactive",
    "same_balance",
    "rate_unavailable",
)

DATA_RULES = (
    DataRule(
        PAGES,
        400,
        ("invalid_cursor",),
        "A cursor is opaque: only a `next_cursor` the API gave out is one, and no schema tells those from other"
        " strings of their alphabet.",
    ),
    DataRule(
        PAYMENT_INTAKE,
        422,
        PAYMENT_REFUSALS,
        "A payment names accounts and currencies that must exist, be active and hold the balances it moves (and a"
        " rate for an exchange); its amount may have no more decimals than its currency, and `settle_by` must be"
        " in the future: facts about the ledger and the clock, not the request's shape.",
    ),
    DataRule(
        ("POST /api/v1/accounts", "POST /api/v1/accounts/{account_id}/balances", "PUT /api/v1/rates/{base}/{quote}"),
        422,
        ("unknown_currency", "validation_error"),
        "The currencies named must exist and be active (and a rate's two differ, its value fit the quote's decimals).",
    ),
    DataRule(
        ("PATCH /api/v1/balances/{balance_id}",),
        422,
        ("validation_error",),
        "A floor may not be above what the balance has available now, nor a cap below the floor; the amounts'"
        " decimals depend on the balance's currency.",
    ),
    DataRule(
        ("POST /api/v1/payments/{payment_id}/reverse", "POST /api/v1/payments/{payment_id}/capture"),
        422,
        (
            "not_reversible",
            "amount_exceeds_remaining",
            "amount_exceeds_hold",
            "validation_error",
            "account_inactive",
            "balance_inactive",
            "limit_exceeded",
        ),
        "What may be reversed or captured, and how much, depends on the payment's kind and what was already"
        " taken back or held.",
    ),
    DataRule(
        ("POST /api/v1/webhook-endpoints", "PATCH /api/v1/webhook-endpoints/{endpoint}"),
        422,
        ("validation_error",),
        "A webhook URL's host must resolve to allowed addresses, and the `account` named must exist.",
    ),
    DataRule(
        ("GET /api/v1/balances/{balance_id}/statement",),
        400,
        ("invalid_request",),
        "A statement's `from` may not be after its `to`: two parameters' order, which no schema states.",
    ),
)


def _error_code(response: schemathesis.Response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


@schemathesis.check
def positive_data_acceptance_but_data_rules(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Schemathesis's `positive_data_acceptance`, letting through only the
    refusals DATA_RULES names for the operation."""
    for rule in DATA_RULES:
        if (
            case.operation.label in rule.operations
            and response.status_code == rule.status
            and _error_code(response) in rule.codes
        ):
            return None
    return positive_data_acceptance(ctx, response, case)


def known_values(admin: Api) -> dict[str, list[str]]:
    """Values that half the generated requests name where they fit (keys as
    Schemathesis binds them: `path.payment_id`, `body.from_account`), so
    that every phase meets the rules behind a lookup, not only its 404 or
    422: accounts that hold money, a completed transfer to reverse,
    authorized holds to capture or void, a payment group, a customer token
    of an account, a webhook endpoint with an attempt in its delivery log
    (and, under ENDPOINTS_OF's names, endpoints that only the operations
    changing or deleting one name)."""
    payer = open_account(admin, admin, {"PHP": "1000.00"})
    payee = open_account(admin, admin, currencies=["PHP"])
    # Nothing listens there: its deliveries fail, and the log shows them.
    hook = admin.post("/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/", "account": payee})
    others = {
        name: admin.post("/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/", "active": False})
        for name in ENDPOINTS_OF
    }
    for response in [hook, *others.values()]:
        assert response.status == 201, response.body
    token = admin.post(f"/api/v1/accounts/{payee}/tokens", {"scope": "read"})
    assert token.status == 201, token.body
    transfer = {"from_account": payer, "to_account": payee, "currency": "PHP"}
    made = [admin.post("/api/v1/payments", {**transfer, "amount": "10.00"}, wait=30)]
    made += [
        admin.post("/api/v1/payments", {**transfer, "amount": "5.00", "capture": "manual"}, wait=30) for _ in range(4)
    ]
    group = admin.post(
        "/api/v1/payment-groups", {"atomic": True, "payments": [{**transfer, "amount": "1.00"}] * 2}, wait=30
    )
    for response in [*made, group]:
        assert response.status == 201 and response.body["status"] in ("completed", "authorized"), response.body
    endpoint = hook.body["id"]
    attempts = wait_until(lambda: admin.get(f"/api/v1/webhook-endpoints/{endpoint}/deliveries").body["data"], 30)
    assert attempts, "no delivery was attempted"
    # The demo accounts (server.py seed-demo) besides these two, and what
    # makes a payment between them: an amount, their currency, a deadline
    # that is still to come.
    payment = {
        "from_account": [payer, payee, "bob123", "alice456", "carol789"],
        "to_account": [payer, payee, "bob123", "alice456", "carol789"],
        "amount": ["0.01", "1.00", "2.5"],
        "currency": ["PHP"],
        "to_currency": ["PHP"],
        "settle_by": ["2099-12-31T23:59:59Z"],
    }
    return {
        "path.payment_id": [response.body["id"] for response in made],
        "path.group_id": [group.body["id"]],
        "path.account_id": [payee],
        "path.token_id": [str(token.body["id"])],
        "path.endpoint": [endpoint],
        "path.delivery": [attempts[0]["id"]],
        **{name: [response.body["id"]] for name, response in others.items()},
        "body.account": payment["from_account"],
        **{f"body.{field}": values for field, values in payment.items()},
        **{f"body.payments[*].{field}": values for field, values in payment.items() if field != "settle_by"},
    }


# The endpoints the run may change or delete: ones of their own, so that
# the endpoint the other operations name stays active with its delivery log.
ENDPOINTS_OF = {
    "changed_endpoint": "PATCH /api/v1/webhook-endpoints/{endpoint}",
    "deleted_endpoint": "DELETE /api/v1/webhook-endpoints/{endpoint}",
}


def _config(known: dict[str, list[str]]) -> str:
    """The run's schemathesis.toml: the known values as dictionaries bound to
    their parameters, and a run that fails when an operation only ever
    answered 404 (its rules were never reached)."""
    lines = []
    for number, values in enumerate(known.values()):
        lines += [f"[dictionaries.known{number}]", f"values = {json.dumps(values)}"]
    lines.append("[parameters]")
    lines += [
        f'"{key}" = {{ dictionary = "known{number}", probability = 0.5 }}'
        for number, key in enumerate(known)
        if key not in ENDPOINTS_OF
    ]
    lines += ["[warnings]", 'fail-on = ["missing_test_data"]']
    for number, key in enumerate(known):
        if key in ENDPOINTS_OF:
            lines += [
                "[[operations]]",
                f'include-name = "{ENDPOINTS_OF[key]}"',
                f'parameters = {{ "path.endpoint" = {{ dictionary = "known{number}", probability = 0.5 }} }}',
            ]
    return "\n".join(lines) + "\n"


def run_schemathesis(
    base_url: str, token: str, known: dict[str, list[str]], workdir: Path
) -> subprocess.CompletedProcess:
    """The whole Schemathesis run against `base_url`, as a command a person
    could type (its output shows each failure with a curl line to replay),
    in `workdir` (where it keeps its configuration and cache)."""
    config = workdir / "schemathesis.toml"
    config.write_text(_config(known))
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        *("--config-file", str(config)),
        "run",
        f"{base_url}/api/v1/openapi.json",
        *("--header", f"Authorization: Bearer {token}"),
        *("--phases", "examples,coverage,fuzzing,stateful"),
        *("--checks", "all"),
        *("--exclude-checks", "positive_data_acceptance"),
        *("--max-examples", str(EXAMPLES_PER_OPERATION)),
        *("--seed", str(SEED)),
        *("--max-response-time", str(RESPONSE_SECONDS)),
        # The WebSocket feed is no HTTP operation (tests/test_feed.py tests it).
        *("--exclude-path", "/api/v1/stream"),
        *("--workers", "1"),
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    env = dict(os.environ, SCHEMATHESIS_HOOKS=__name__, PYTHONPATH=str(ROOT))
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Headers as text: the stateful phase may fill X-Request-Id with an
    integer id from an answer, which HTTP cannot carry as it is."""
    if case.headers:
        for name, value in case.headers.items():
            if not isinstance(value, str):
                case.headers[name] = str(value)
