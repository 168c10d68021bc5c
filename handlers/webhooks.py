"""Webhook endpoints (admin): create, list, read, change, delete, rotate the
secret, the delivery log, and sending a delivery again.

A URL is checked (its host resolved) on a database thread before any
transaction opens: DNS may take seconds, a transaction must not wait on it.
"""

from __future__ import annotations

from functools import partial

from models.idempotency import check_key
from models.pagination import parse_limit
from models.serialize import webhook_attempt_json, webhook_endpoint_json
from models.webhooks import (
    EndpointChange,
    create_endpoint,
    delete_endpoint,
    endpoint,
    endpoint_deliveries,
    list_endpoints,
    parse_endpoint,
    resend_delivery,
    rotate_secret,
    update_endpoint,
)

from .base import APIHandler, scope


class WebhookHandler(APIHandler):
    def check_idempotency_key(self) -> None:
        """A POST that creates nothing still refuses a key no POST takes."""
        key = self.request.headers.get("Idempotency-Key")
        if key is not None:
            check_key(key)

    async def checked_body(self, creating: bool) -> EndpointChange:
        body = self.json_body()
        allow_private = self.settings["webhook_allow_private"]
        return await self.executor_run(partial(parse_endpoint, body, allow_private, creating))


class EndpointsHandler(WebhookHandler):
    @scope("admin")
    async def get(self) -> None:
        limit, cursor = parse_limit(self.get_query_argument("limit", None)), self.get_query_argument("cursor", None)

        def work() -> dict:
            rows, next_cursor = list_endpoints(limit, cursor)
            return {"data": [webhook_endpoint_json(e) for e in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))

    @scope("admin")
    async def post(self) -> None:
        change = await self.checked_body(creating=True)
        created = await self.create(lambda _body: create_endpoint(change), id_of=lambda made: made[0].id)
        if created.made is not None:
            made, secret = created.made
            self.send(webhook_endpoint_json(made, secret), 201)
        else:
            self.send(await self.run_db(lambda: webhook_endpoint_json(endpoint(created.id))), 200, replayed=True)


class EndpointHandler(WebhookHandler):
    @scope("admin")
    async def get(self, endpoint_id: str) -> None:
        self.send(await self.run_db(lambda: webhook_endpoint_json(endpoint(endpoint_id))))

    @scope("admin")
    async def patch(self, endpoint_id: str) -> None:
        change = await self.checked_body(creating=False)
        self.send(await self.run_transaction(lambda: webhook_endpoint_json(update_endpoint(endpoint_id, change))))

    @scope("admin")
    async def delete(self, endpoint_id: str) -> None:
        await self.run_transaction(lambda: delete_endpoint(endpoint_id))
        self.set_status(204)
        self.finish()


class RotateSecretHandler(WebhookHandler):
    @scope("admin")
    async def post(self, endpoint_id: str) -> None:
        self.check_idempotency_key()

        def work() -> dict:
            rotated, secret = rotate_secret(endpoint_id)
            return webhook_endpoint_json(rotated, secret)

        self.send(await self.run_transaction(work))


class DeliveriesHandler(WebhookHandler):
    @scope("admin")
    async def get(self, endpoint_id: str) -> None:
        limit, cursor = parse_limit(self.get_query_argument("limit", None)), self.get_query_argument("cursor", None)

        def work() -> dict:
            rows, next_cursor = endpoint_deliveries(endpoint_id, limit, cursor)
            return {"data": [webhook_attempt_json(a) for a in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))


class RetryHandler(WebhookHandler):
    @scope("admin")
    async def post(self, endpoint_id: str, delivery_id: str) -> None:
        self.check_idempotency_key()
        resend = await self.run_transaction(lambda: resend_delivery(endpoint_id, delivery_id))
        self.send({"endpoint": endpoint_id, "seq": resend.seq, "status": "queued"}, 202)


ENDPOINT = r"/api/v1/webhook-endpoints/([^/]+)"

default_handlers = [
    (r"/api/v1/webhook-endpoints", EndpointsHandler),
    (ENDPOINT, EndpointHandler),
    (ENDPOINT + "/rotate-secret", RotateSecretHandler),
    (ENDPOINT + "/deliveries", DeliveriesHandler),
    (ENDPOINT + r"/deliveries/([^/]+)/retry", RetryHandler),
]
