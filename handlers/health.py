"""Liveness, readiness and the API's front door."""

from __future__ import annotations

from collections.abc import Callable

from models.connection import database

from .base import APIHandler, public

API_LINKS = {
    "openapi": "/api/v1/openapi.json",
    "docs": "/docs",
    "accounts": "/api/v1/accounts",
    "payments": "/api/v1/payments",
    "deposits": "/api/v1/deposits",
    "withdrawals": "/api/v1/withdrawals",
    "currencies": "/api/v1/currencies",
    "events": "/api/v1/events",
    "search": "/api/v1/search",
    "activity": "/api/v1/activity",
    "audit": "/api/v1/audit",
}


class IndexHandler(APIHandler):
    @public
    async def get(self) -> None:
        self.send({"name": "Payment Gateway API", "version": "v1", "links": API_LINKS})


class HealthHandler(APIHandler):
    """Alive: the process answers. Says nothing about its dependencies."""

    @public
    async def get(self) -> None:
        self.send({"status": "ok"})


class ReadinessHandler(APIHandler):
    """Ready: the database and the queue both answer; 503 names which does not."""

    @public
    async def get(self) -> None:
        checks = {
            "database": await self._check(lambda: database.execute_sql("SELECT 1").fetchone()),
            "queue": await self._check(self.settings["queue_depth"]),
        }
        ready = all(state == "ok" for state in checks.values())
        self.send({"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503)

    async def _check(self, probe: Callable[[], object]) -> str:
        try:
            await self.run_db(probe)
        except Exception as problem:  # any failure means "not ready", and says why
            return f"error: {type(problem).__name__}"
        return "ok"


default_handlers = [
    (r"/api/?", IndexHandler),
    (r"/api/v1/?", IndexHandler),
    (r"/healthz", HealthHandler),
    (r"/readyz", ReadinessHandler),
]
