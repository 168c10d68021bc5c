"""Every guarded API call, read from the app's own route table, the scope each needs, and how to make it."""

from __future__ import annotations

import re

from tornado.web import RequestHandler, URLSpec
from tornado.websocket import WebSocketHandler

from handlers.app import routes
from tests.support.refusals import assert_error

PUBLIC_PATHS = {"/api", "/api/v1", "/api/v1/openapi.json", "/healthz", "/readyz"}
METHODS = ("get", "post", "patch", "put", "delete")
DUMMY_ID = "no-such-thing"

# GET needs `read`; creating accounts, balances, transfers and payment
# groups, and capturing or voiding holds, needs `write`; everything else that
# changes something needs `admin`.
WRITE_ROUTES = {
    ("post", "/api/v1/accounts"),
    ("post", f"/api/v1/accounts/{DUMMY_ID}/balances"),
    ("post", "/api/v1/payments"),
    ("post", f"/api/v1/payments/{DUMMY_ID}/capture"),
    ("post", f"/api/v1/payments/{DUMMY_ID}/void"),
    ("post", "/api/v1/payment-groups"),
}
ADMIN_READS = {
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/activity"),
    ("get", f"/api/v1/accounts/{DUMMY_ID}/tokens"),
    # Webhook endpoints: where events go, and the answers their receivers gave.
    ("get", "/api/v1/webhook-endpoints"),
    ("get", f"/api/v1/webhook-endpoints/{DUMMY_ID}"),
    ("get", f"/api/v1/webhook-endpoints/{DUMMY_ID}/deliveries"),
}


def concrete_path(pattern: str) -> str:
    """A URL the route matches, with every path parameter a dummy id."""
    path = re.sub(r"\([^)]*\)", DUMMY_ID, pattern)
    path = re.sub(r"\\(.)", r"\1", path.removesuffix("$").replace("/?", ""))
    return path or "/"


def route_table() -> list[tuple[str, type]]:
    table = []
    for route in routes():
        if isinstance(route, URLSpec):
            table.append((route.regex.pattern, route.handler_class))
        else:
            table.append((route[0], route[1]))
    return table


def implemented_methods(handler: type) -> list[str]:
    return [name for name in METHODS if getattr(handler, name) is not getattr(RequestHandler, name)]


API_CALLS = sorted(
    {
        (method, concrete_path(pattern), issubclass(handler, WebSocketHandler))
        for pattern, handler in route_table()
        for method in implemented_methods(handler)
        if concrete_path(pattern).startswith("/api/v1") and concrete_path(pattern) not in PUBLIC_PATHS
    }
)
CALL_IDS = [f"{method.upper()} {path}" for method, path, _ in API_CALLS]


def needed_scope(method: str, path: str) -> str:
    if (method, path) in ADMIN_READS:
        return "admin"
    if method == "get":
        return "read"
    return "write" if (method, path) in WRITE_ROUTES else "admin"


def call(api, method: str, path: str, websocket: bool = False, headers: dict | None = None):
    sent = dict(headers or {})
    if websocket:
        sent.update(
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
            }
        )
    return api.request(method.upper(), path, {} if method != "get" else None, headers=sent)


def assert_unauthorized(response) -> None:
    assert_error(response, 401, "unauthorized")
    assert (response.header("www-authenticate") or "").lower().startswith("bearer"), response.headers
