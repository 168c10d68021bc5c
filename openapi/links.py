"""OpenAPI links: from every answer that hands out an id to every operation
that takes that id in its path, so that a client reading the document (and a
stateful fuzzer) knows which call can follow which."""

from __future__ import annotations

# Where each schema carries the values that operations take as path
# parameters, as JSON pointers into one such object. A new resource whose
# id appears in paths adds its schema here.
HANDED_OUT: dict[str, dict[str, str]] = {
    "Account": {"account_id": "/id", "balance_id": "/balances/0/id"},
    "Balance": {"balance_id": "/id", "account_id": "/account"},
    "BalanceNowOrThen": {"balance_id": "/id", "account_id": "/account"},
    "Statement": {"balance_id": "/balance", "account_id": "/account"},
    "SearchResults": {"account_id": "/accounts/0/id", "payment_id": "/payments/0/id"},
    "Payment": {"payment_id": "/id"},
    "PaymentWithEntries": {"payment_id": "/id"},
    "AccountPayment": {"payment_id": "/payment_id"},
    "Entry": {"payment_id": "/payment_id", "balance_id": "/balance", "account_id": "/account"},
    "PaymentGroup": {"group_id": "/id", "payment_id": "/payments/0/id"},
    "Rate": {"base": "/base", "quote": "/quote"},
    "CustomerToken": {"account_id": "/account", "token_id": "/id"},
    "IssuedToken": {"account_id": "/account", "token_id": "/id"},
    "WebhookEndpoint": {"endpoint": "/id"},
    "WebhookEndpointWithSecret": {"endpoint": "/id"},
    "WebhookAttempt": {"endpoint": "/endpoint", "delivery": "/id"},
    "WebhookRetry": {"endpoint": "/endpoint"},
}


def _handed_out(schema: dict, schemas: dict) -> dict[str, str]:
    """Path parameter -> pointer, for an answer of `schema`: an object named
    in HANDED_OUT, or a page of them (its first item)."""
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    if name in HANDED_OUT:
        return HANDED_OUT[name]
    items = schemas.get(name, {}).get("properties", {}).get("data", {}).get("items", {})
    inner = items.get("$ref", "").rsplit("/", 1)[-1]
    return {parameter: "/data/0" + pointer for parameter, pointer in HANDED_OUT.get(inner, {}).items()}


def _path_parameters(path: str) -> set[str]:
    return {part[1:-1] for part in path.split("/") if part.startswith("{")}


def add_links(paths: dict, schemas: dict) -> None:
    """Give each successful answer a link to every other operation whose
    path parameters it carries, all of them."""
    targets = [
        (operation["operationId"], _path_parameters(path))
        for path, item in paths.items()
        for operation in item.values()
        if _path_parameters(path)
    ]
    for item in paths.values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                carried = _handed_out(schema, schemas) if status.startswith("2") else {}
                links = {
                    target: {
                        "operationId": target,
                        "parameters": {name: f"$response.body#{carried[name]}" for name in sorted(needed)},
                    }
                    for target, needed in targets
                    if needed <= carried.keys() and target != operation["operationId"]
                }
                if links:
                    response["links"] = links
