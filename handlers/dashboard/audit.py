"""The audit: the ledger's invariants checked over what changed since the
last checkpoint, with what is wrong if anything is."""

from __future__ import annotations

from models.audit import run_audit

from .base import PageHandler, viewer


class AuditHandler(PageHandler):
    @viewer
    async def get(self) -> None:
        self.render_page("audit.html", report=await self.run_db(run_audit))


default_handlers = [(r"/audit", AuditHandler)]
