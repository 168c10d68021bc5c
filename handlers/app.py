"""The Tornado application: routes and one settings dict.

`make_app` is the one factory the server, the tests and the benchmarks use.
Dependencies (executor, event hub, queue) are passed in and live in
settings, read by handlers through properties.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor

import tornado.web

from . import accounts, docs, health, payments, reference
from .base import NotFoundHandler, check_every_method_is_guarded
from .hub import EventHub

ROUTE_MODULES = (health, accounts, payments, reference, docs)


def routes() -> list:
    return [route for module in ROUTE_MODULES for route in module.default_handlers]


def make_app(
    *,
    executor: Executor,
    hub: EventHub,
    enqueue: Callable[[str], None],
    queue_ping: Callable[[], object],
    cookie_secret: str,
    debug: bool = False,
) -> tornado.web.Application:
    table = routes()
    check_every_method_is_guarded([route[1] for route in table] + [NotFoundHandler])
    return tornado.web.Application(
        table,
        db_executor=executor,
        hub=hub,
        enqueue=enqueue,
        queue_ping=queue_ping,
        cookie_secret=cookie_secret,
        default_handler_class=NotFoundHandler,
        debug=debug,
    )
