"""The API's documentation: the OpenAPI document, and a page that renders it
for people, with no resource from outside this server."""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Any

import tornado.web

from openapi.document import openapi_document

from .base import APIHandler, NamesAllowedMethods, public

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
DOCS_PAGE = ROOT / "templates" / "docs.html"

# The page loads its script and style from here and nothing else: no inline
# script, no CDN, so it works offline and under a strict policy.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class OpenApiHandler(APIHandler):
    @public
    async def get(self) -> None:
        self.send(openapi_document())


class DocsHandler(NamesAllowedMethods):
    """The human-readable API reference (static HTML; the script renders
    /api/v1/openapi.json)."""

    @public
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", PAGE_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.finish(DOCS_PAGE.read_bytes())


class StaticHandler(NamesAllowedMethods, tornado.web.StaticFileHandler):
    """Files under static/, open to anyone."""

    @public
    def get(self, path: str, include_body: bool = True) -> Coroutine[Any, Any, None]:
        return super().get(path, include_body)

    @public
    def head(self, path: str) -> Awaitable[None]:
        return super().head(path)


default_handlers = [
    (r"/api/v1/openapi\.json", OpenApiHandler),
    (r"/docs", DocsHandler),
    (r"/static/(.*)", StaticHandler, {"path": str(STATIC_DIR)}),
]
