"""The Tornado application: routes and one settings dict.

`make_app` is the one factory the server, the tests and the benchmarks use.
What the handlers share (database threads, event hub, queue, limits) lives
in settings, read by handlers through properties.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import tornado.web
from tornado.log import access_log

from config import Config
from openapi.document import query_parameters
from web.access_watch import AccessWatch
from web.batching import CaptureBatcher, IntakeBatcher
from web.inflight import InFlight
from web.metrics import observe_request
from web.pinger import Pinger
from web.ratelimit import api_limiter, login_limiter
from web.services import WebServices

from . import (
    accounts,
    activity,
    customer_tokens,
    dashboard,
    docs,
    groups,
    health,
    metrics,
    payments,
    rates,
    reference,
    search,
    stream,
    webhooks,
)
from .base import NotFoundHandler, check_every_method_is_guarded
from .dashboard.formatting import make_environment

# A request is matched against each route in turn: payments first (intake
# is the busiest), and the dashboard last, as its final route answers every
# other page path.
ROUTE_MODULES = (
    payments,
    accounts,
    customer_tokens,
    groups,
    rates,
    reference,
    search,
    activity,
    webhooks,
    health,
    metrics,
    docs,
    stream,
    dashboard,
)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FEED_PING_SECONDS = 20.0


def routes() -> list:
    return [route for module in ROUTE_MODULES for route in module.default_handlers]


def _template(path: str) -> str:
    """A route's pattern or a documented path, with its parameters as `{}`:
    `/api/v1/accounts/([^/]+)` and `/api/v1/accounts/{account_id}` alike."""
    path = re.sub(r"\([^)]*\)|\{[^}/]+\}", "{}", path.removesuffix("$").replace("/?", ""))
    return path.replace("\\.", ".")


def documented_query_parameters(table: list) -> dict[type, dict[str, frozenset[str]]]:
    """Handler class -> method -> the query parameters its operation in the
    OpenAPI document takes (`handlers.base.check_query`)."""
    documented: dict[str, dict[str, frozenset[str]]] = {}
    for (path, method), names in query_parameters().items():
        documented.setdefault(_template(path), {})[method] = names
    taken: dict[type, dict[str, frozenset[str]]] = {}
    for route in table:
        methods = documented.get(_template(route[0]))
        if methods is not None:
            assert taken.setdefault(route[1], methods) == methods, f"{route[1].__name__} serves two operations"
    return taken


def make_app(config: Config, services: WebServices, debug: bool = False) -> tornado.web.Application:
    table = routes()
    check_every_method_is_guarded([route[1] for route in table] + [NotFoundHandler])
    return tornado.web.Application(
        table,
        query_parameters=documented_query_parameters(table),
        db_executor=services.executor,
        hub=services.hub,
        access_watch=AccessWatch(services.executor),
        request_settlement=services.request_settlement,
        intake_batcher=IntakeBatcher(services.executor, services.request_settlement),
        capture_batcher=CaptureBatcher(services.executor, services.request_settlement),
        # Requests being answered, which a shutdown lets finish.
        in_flight=InFlight(),
        queue_depth=services.queue_depth,
        api_limiter=api_limiter(config, services.executor),
        login_limiter=login_limiter(config, services.executor),
        cookie_secret=config.secret(),
        # Dashboard forms carry Tornado's CSRF token; API handlers opt out
        # (bearer tokens, not cookies). The cookie lasts the browser session.
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax", "expires_days": None},
        login_url="/login",
        template_path=str(TEMPLATES),
        jinja=make_environment(TEMPLATES),
        default_handler_class=NotFoundHandler,
        feed_send_timeout=config.feed_send_timeout,
        # Set when reads may go to a replica: who wrote recently (models.replica).
        write_marks=services.write_marks,
        # Webhook URLs may name private and loopback hosts (tests, local set-ups).
        webhook_allow_private=config.webhook_allow_private,
        # Every feed connection is pinged every 20 s, by one task (web.pinger).
        feed_pinger=Pinger(FEED_PING_SECONDS),
        log_function=log_request,
        debug=debug,
    )


_SECRET_PARAMETER = re.compile(r"([?&]token=)[^&]*")


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, without the `?token=` a feed client may
    put in its URL: tokens are never written to logs. Its fields (request
    id included) ride along for the JSON log format; the request is counted
    for /metrics."""
    observe_request(handler)
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not access_log.isEnabledFor(level):
        return
    request = handler.request
    uri = _SECRET_PARAMETER.sub(r"\1[redacted]", request.uri or "")
    duration_ms = round(1000.0 * request.request_time(), 2)
    fields = {
        "request_id": getattr(handler, "request_id", None),
        "method": request.method,
        "path": uri,
        "status": status,
        "duration_ms": duration_ms,
        "remote_ip": request.remote_ip,
    }
    payment_id = getattr(handler, "payment_id", None)
    if payment_id is not None:
        fields["payment_id"] = payment_id
    access_log.log(
        level, "%d %s %s (%s) %.2fms", status, request.method, uri, request.remote_ip, duration_ms, extra=fields
    )
