"""The operator dashboard (SPEC section 7): server-rendered pages, one module
per area, each ending in `default_handlers`; any other path outside /api is
an HTML 404, so it comes last."""

from __future__ import annotations

from . import (
    accounts,
    activity,
    audit,
    auth,
    operators,
    overview,
    payments,
    reference,
    search,
    statements,
    tokens,
    webhooks,
)
from .base import PageNotFoundHandler

default_handlers = [
    *auth.default_handlers,
    *overview.default_handlers,
    *statements.default_handlers,
    *accounts.default_handlers,
    *payments.default_handlers,
    *reference.default_handlers,
    *tokens.default_handlers,
    *webhooks.default_handlers,
    *audit.default_handlers,
    *activity.default_handlers,
    *operators.default_handlers,
    *search.default_handlers,
    (r"(?!/api(?:/|$)).*", PageNotFoundHandler),
]
