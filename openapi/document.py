"""The OpenAPI 3.1 document of the JSON API as it is implemented: what each
operation takes, answers and refuses, and the scope it needs.

Which paths and methods exist is checked against the routing table by the
tests, so a route without documentation fails them.
"""

from __future__ import annotations

import functools

from models.exports import PAYMENT_COLUMNS
from models.pagination import DEFAULT_LIMIT, MAX_LIMIT
from web.protocol import MAX_BODY_BYTES

from . import components
from .builders import created, header, operation, payment_accepted, success
from .customer_tokens import (
    OWN_ACCOUNT,
    OWN_BALANCE,
    OWN_FEED,
    OWN_PAYER,
    OWN_PAYMENT,
    customer_token_operations,
    customer_token_parameters,
    customer_token_schemas,
)
from .links import add_links
from .operations_desk import desk_operations, desk_parameters, desk_schemas, with_csv
from .parameters import headers, parameters
from .payments import payment_operations, payment_schemas
from .rates import rate_operations, rate_parameters, rate_schemas
from .requests import request_schemas
from .webhooks import webhook_deliveries, webhook_operations, webhook_parameters, webhook_schemas

PAYMENT_REFUSALS = ("validation_error", "unknown_currency", "currency_mismatch", "account_inactive", "balance_inactive")


PAYMENT_FILTERS = (
    "PaymentStatus",
    "PaymentKind",
    "PaymentCurrency",
    "CreatedAfter",
    "CreatedBefore",
    "PaymentOrder",
    "PaymentReference",
    "MetadataFilter",
)


def _operations() -> list[tuple[str, str, dict]]:
    return [
        operation("get", "/api", "getApiIndex", "Index", "API index", None, {"200": success("Links.", "Index")}),
        operation(
            "get", "/api/v1", "getApiV1Index", "Index", "API v1 index", None, {"200": success("Links.", "Index")}
        ),
        operation(
            "get",
            "/api/v1/openapi.json",
            "getOpenApi",
            "Index",
            "This OpenAPI document",
            None,
            {"200": success("The OpenAPI 3.1 document.", "OpenApiDocument")},
        ),
        operation(
            "get",
            "/healthz",
            "getHealth",
            "Health",
            "Liveness",
            None,
            {"200": success("The process answers.", "Health")},
        ),
        operation(
            "get",
            "/readyz",
            "getReadiness",
            "Health",
            "Readiness",
            None,
            {
                "200": success("The database and the queue answer.", "Readiness"),
                "503": success("A dependency does not answer; `checks` says which.", "Readiness"),
            },
        ),
        operation(
            "get",
            "/metrics",
            "getMetrics",
            "Health",
            "This process's metrics",
            None,
            {
                "200": {
                    "description": "Prometheus text: requests, latencies, feed clients, queue depth, pending payments.",
                    "headers": {"X-Request-Id": header("X-Request-Id")},
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            description="For a scraper inside the network: nginx does not pass it through.",
        ),
        operation(
            "get",
            "/api/v1/currencies",
            "listCurrencies",
            "Currencies",
            "List currencies",
            "read",
            {"200": success("Currencies by code, a page at a time.", "CurrencyList")},
            parameters=("ActiveFilter", "CurrencySearch", "Limit", "Cursor"),
            errors=("invalid_request", "invalid_cursor"),
        ),
        operation(
            "post",
            "/api/v1/currencies",
            "createCurrency",
            "Currencies",
            "Add a custom currency",
            "admin",
            created("Currency", "Currency"),
            description="Adds a currency such as BTC with 8 decimals, and its `@system` balance.",
            body="NewCurrency",
            errors=("validation_error", "currency_exists"),
        ),
        operation(
            "get",
            "/api/v1/accounts",
            "listAccounts",
            "Accounts",
            "List accounts",
            "read",
            {"200": success("Accounts oldest first, each with its balances.", "AccountList")},
            parameters=(
                "AccountActiveFilter",
                "OwnerFilter",
                "EmailFilter",
                "HoldsCurrency",
                "SearchTerm",
                "AccountReference",
                "MetadataFilter",
                "Limit",
                "Cursor",
            ),
        ),
        operation(
            "post",
            "/api/v1/accounts",
            "createAccount",
            "Accounts",
            "Open an account",
            "write",
            created("Account", "Account"),
            description="Opens an account with a zero balance in each currency asked for.",
            body="NewAccount",
            errors=("validation_error", "unknown_currency", "account_exists"),
        ),
        operation(
            "get",
            "/api/v1/accounts/{account_id}",
            "getAccount",
            "Accounts",
            "Get an account",
            "read",
            {"200": success("The account with its balances.", "Account")},
            parameters=("AccountId",),
            errors=("not_found",),
            customers=OWN_ACCOUNT,
        ),
        operation(
            "patch",
            "/api/v1/accounts/{account_id}",
            "updateAccount",
            "Accounts",
            "Change an account",
            "admin",
            {"200": success("The account as changed.", "Account")},
            description=(
                "Changes the owner, email, reference, metadata or active state; fields left out stay as they are. "
                "`metadata` is merged: a key given null is removed."
            ),
            parameters=("AccountId",),
            body="AccountChange",
            errors=("not_found", "validation_error", "system_account"),
        ),
        operation(
            "get",
            "/api/v1/accounts/{account_id}/payments",
            "listAccountPayments",
            "Accounts",
            "An account's payment history",
            "read",
            {"200": success("This account's side of each payment, newest first.", "AccountPaymentList")},
            parameters=("AccountId", *PAYMENT_FILTERS, "Limit", "Cursor"),
            errors=("not_found",),
            customers=OWN_ACCOUNT,
        ),
        operation(
            "post",
            "/api/v1/accounts/{account_id}/balances",
            "createBalance",
            "Balances",
            "Open a balance",
            "write",
            created("Balance", "Balance"),
            description="Opens a zero balance in a currency the account does not hold yet.",
            parameters=("AccountId",),
            body="NewBalance",
            errors=("not_found", "unknown_currency", "balance_exists", "system_account"),
        ),
        operation(
            "get",
            "/api/v1/balances/{balance_id}",
            "getBalance",
            "Balances",
            "Get a balance, now or at a moment",
            "read",
            {"200": success("The balance; with `as_of`, its amount then.", "BalanceNowOrThen")},
            parameters=("BalanceId", "AsOf"),
            errors=("not_found", "invalid_request"),
            customers=OWN_BALANCE,
        ),
        operation(
            "patch",
            "/api/v1/balances/{balance_id}",
            "updateBalance",
            "Balances",
            "Activate or deactivate a balance, or change its limits",
            "admin",
            {"200": success("The balance as changed.", "Balance")},
            description=(
                "Waits for any settlement holding the balance, so later settlements see the change. `min_balance` "
                "(0, or negative: a credit line) is the floor of `available`; it is refused above what the balance "
                "has available now. `max_balance` caps `amount`: a payment that would take it higher fails "
                "`limit_exceeded`; a cap below today's amount takes nothing away."
            ),
            parameters=("BalanceId",),
            body="BalanceChange",
            errors=("not_found", "validation_error", "system_account"),
        ),
        operation(
            "get",
            "/api/v1/balances/{balance_id}/entries",
            "listBalanceEntries",
            "Balances",
            "A balance's statement",
            "read",
            {"200": success("Entries oldest first, each with `balance_after`.", "EntryList")},
            parameters=("BalanceId", "Limit", "Cursor"),
            errors=("not_found",),
            customers=OWN_BALANCE,
        ),
        operation(
            "get",
            "/api/v1/payments",
            "listPayments",
            "Payments",
            "List payments",
            "read",
            {
                "200": with_csv(
                    success("Payments newest first unless `order=asc`, without entries.", "PaymentList"),
                    PAYMENT_COLUMNS,
                    "Every payment the filters match, in the list's order (no paging)",
                )
            },
            description=(
                "With `format=csv` or `Accept: text/csv`, every payment the filters match streams as CSV, in "
                "bounded memory however many there are."
            ),
            parameters=(
                *PAYMENT_FILTERS[:3],
                "PaymentAccount",
                *PAYMENT_FILTERS[3:],
                "ExportFormat",
                "Limit",
                "Cursor",
            ),
        ),
        operation(
            "post",
            "/api/v1/payments",
            "createTransfer",
            "Payments",
            "Send a transfer or an exchange",
            "write",
            payment_accepted(),
            description=(
                "Moves money between two customers' balances of one currency. Refusable rules are checked now "
                "(422, nothing stored); funds are checked at settlement, where a short balance ends the payment "
                "`failed` with `insufficient_funds`.\n\n"
                "With `to_currency` different from `currency` it is an `exchange`: the receiver's `to_currency` "
                "balance gets the amount converted at the rate (`currency`/`to_currency`) in force at settlement, "
                "rounded down to the target currency's decimals, so rounding never creates money. The receiver "
                "may be the sender itself, exchanging between its own two balances. No rate is 422 "
                "`rate_unavailable` now, or `failure_code` `rate_unavailable` when the rate was removed before "
                "settlement. Until settled, `target_amount` and `rate` are the quote at intake."
            ),
            body="NewTransfer",
            creates_payment=True,
            errors=(*PAYMENT_REFUSALS, "currency_required", "same_balance", "rate_unavailable"),
            customers=OWN_PAYER,
        ),
        operation(
            "get",
            "/api/v1/payments/{payment_id}",
            "getPayment",
            "Payments",
            "Get a payment",
            "read",
            {"200": success("The payment with its entries.", "PaymentWithEntries")},
            parameters=("PaymentId",),
            errors=("not_found",),
            customers=OWN_PAYMENT,
        ),
        operation(
            "patch",
            "/api/v1/payments/{payment_id}",
            "updatePayment",
            "Payments",
            "Change a payment's description or metadata",
            "admin",
            {"200": success("The payment as changed, with its entries.", "PaymentWithEntries")},
            description=(
                "Only `description` and `metadata` may change, whatever the payment's status; `metadata` is "
                "merged (a key given null is removed). A change records a `payment.updated` event."
            ),
            parameters=("PaymentId",),
            body="PaymentChange",
            errors=("not_found", "validation_error"),
        ),
        *payment_operations(),
        operation(
            "post",
            "/api/v1/deposits",
            "createDeposit",
            "Payments",
            "Deposit money",
            "admin",
            payment_accepted(),
            description="Money arriving from outside: `@system` pays the account's balance in that currency.",
            body="NewCashPayment",
            creates_payment=True,
            errors=PAYMENT_REFUSALS,
        ),
        operation(
            "post",
            "/api/v1/withdrawals",
            "createWithdrawal",
            "Payments",
            "Withdraw money",
            "admin",
            payment_accepted(),
            description=(
                "Money leaving to outside: the account pays `@system`. Fails at settlement with "
                "`insufficient_funds` when the balance is short."
            ),
            body="NewCashPayment",
            creates_payment=True,
            errors=PAYMENT_REFUSALS,
        ),
        *rate_operations(),
        *desk_operations(),
        *webhook_operations(),
        *customer_token_operations(),
        operation(
            "get",
            "/api/v1/events",
            "listEvents",
            "Events",
            "Replay the event log",
            "read",
            {"200": success("Events by ascending `seq` unless `order=desc`.", "EventList")},
            parameters=("EventsAfter", "EventOrder", "Limit", "Cursor"),
        ),
        operation(
            "get",
            "/api/v1/stream",
            "followStream",
            "Events",
            "Follow the live feed (WebSocket)",
            "read",
            {
                "101": {
                    "description": (
                        "Switching to the WebSocket protocol. The server sends JSON text frames: first "
                        '`{"type": "hello", "head": <latest seq>}`, then one `Event` per frame with strictly '
                        "increasing `seq` and no gaps among the events asked for. A client too slow to read is "
                        "closed with code 4008 and the reason `too slow: resume with after=N`; reconnect with "
                        "that `after` to miss nothing."
                    )
                }
            },
            description=(
                "Authenticate with `Authorization: Bearer`, `?token=` or the dashboard's session cookie. "
                "Browsers may connect from this service's own origin only (403 otherwise)."
            ),
            parameters=("StreamAfter", "StreamAccount", "StreamTypes", "StreamToken"),
            errors=("invalid_request",),
            customers=OWN_FEED,
        ),
        operation(
            "get",
            "/api/v1/audit",
            "runAudit",
            "Audit",
            "Check the ledger's invariants",
            "admin",
            {"200": success("What was covered, totals per currency and any problem found.", "AuditReport")},
            description=(
                "Checks, over what changed since the last checkpoint (the events after `from_seq` up to "
                "`to_seq`), that every currency's balances sum to zero, every balance equals its entries, "
                "no customer balance is below its floor, every balance holds what its open holds reserve "
                "and every payment has exactly its entries. A sound answer becomes the next checkpoint. "
                "The work is proportional to what changed; `server.py audit --full` checks the whole ledger."
            ),
        ),
    ]


DESCRIPTION = f"""\
Accounts, balances and payments of the payment gateway. JSON in and out, UTF-8.

**Authentication**: send `Authorization: Bearer <token>`. Scopes are nested: `read` can list and get,
`write` can also open accounts and balances and send transfers, `admin` can do everything.
A missing, unknown, revoked or expired token is 401 `unauthorized`, too small a scope 403 `forbidden`.
A customer token (`POST /api/v1/accounts/{{account_id}}/tokens`) is bound to one account: it reads that account,
its balances, statements and payments, follows its feed, and with `read+pay` pays from it; anything else is 403.
Each token may send a limited number of requests a second (a token bucket, shared by every web
process); past it the answer is 429 `rate_limited` with `Retry-After` in seconds.

**Errors** have the shape `{{"error": {{"code", "message", "fields"}}}}`; `fields` comes with validation errors only.
Branch on `code`, which is stable; the message is for people.

**Amounts** are decimal strings with exactly the currency's number of decimals (`"100.50"`).
On input a decimal string or a JSON number is accepted and read exactly.

**Lists** take `limit` (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}) and `cursor`, and answer
`{{"data": [...], "next_cursor": "..." | null}}`.

**Retries**: every POST accepts an `Idempotency-Key`. POSTs that create a payment accept `Prefer: wait=N`.

**Request ids**: every response carries `X-Request-Id`, the client's own when it sent a valid one.

Request bodies over {MAX_BODY_BYTES} bytes are refused with 413; unknown body fields with 400 `invalid_request`."""

TAGS = [
    ("Index", "Where to start."),
    ("Accounts", "Customers' accounts and their payment history."),
    ("Balances", "One balance per account and currency, and its statement."),
    ("Payments", "Transfers, exchanges, deposits, withdrawals and reversals; settled in the background."),
    ("Holds", "Payments authorized first (`capture: manual`), then captured, voided or left to expire."),
    ("Payment groups", "Payments sent together: all or nothing, or each on its own."),
    ("Customer tokens", "Tokens bound to one account, for a customer's own app."),
    ("Currencies", "ISO 4217 currencies and operators' custom ones."),
    ("Rates", "Exchange rates in force, set by operators, with their history."),
    ("Search", "Payments and accounts found by id, reference, email or words."),
    ("Activity", "Who did what: every change and every access, with its actor."),
    ("Events", "The append-only log of every committed change."),
    ("Webhooks", "Endpoints that are sent events by HTTP, signed, in order; their delivery logs."),
    ("Audit", "The ledger's invariants, checked on demand from the last checkpoint."),
    ("Health", "Liveness and readiness probes for load balancers; metrics for Prometheus."),
]


def query_parameters() -> dict[tuple[str, str], frozenset[str]]:
    """(path, method) -> the names of the query parameters that operation
    documents: all that it takes (the app refuses any other); `name[` for
    a deepObject parameter's `name[key]`."""
    document = openapi_document()
    components = document["components"]["parameters"]
    taken = {}
    for path, item in document["paths"].items():
        for method, described in item.items():
            parameters = [
                components[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in described["parameters"]
            ]
            # A deepObject parameter (`metadata[key]=value`) takes every name
            # in that shape: listed as its name and a bracket.
            taken[(path, method)] = frozenset(
                p["name"] + ("[" if p.get("style") == "deepObject" else "") for p in parameters if p["in"] == "query"
            )
    return taken


@functools.cache
def openapi_document() -> dict:
    """The whole document, built once per process (it never changes while
    the code does not)."""
    paths: dict[str, dict] = {}
    for path, method, body in _operations():
        paths.setdefault(path, {})[method] = body
    schemas = {
        **components.schemas(),
        **request_schemas(),
        **rate_schemas(),
        **payment_schemas(),
        **desk_schemas(),
        **webhook_schemas(),
        **customer_token_schemas(),
    }
    add_links(paths, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Payment Gateway API", "version": "v1", "description": DESCRIPTION},
        "tags": [{"name": name, "description": about} for name, about in TAGS],
        "security": [{"bearer": []}],
        "paths": paths,
        "webhooks": webhook_deliveries(),
        "components": {
            "schemas": schemas,
            "parameters": {
                **parameters(),
                **rate_parameters(),
                **desk_parameters(),
                **webhook_parameters(),
                **customer_token_parameters(),
            },
            "headers": headers(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "An API token created by an operator; its scope is `read`, `write` or `admin`. A customer "
                        "token (`read` or `read+pay`) is bound to one account and reaches only that account."
                    ),
                }
            },
        },
    }
