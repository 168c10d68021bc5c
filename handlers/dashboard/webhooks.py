"""Webhook endpoints: the list with each one's health, creating one (its
secret shown once, on the page that answers the form), and an endpoint's
page with its delivery log; admins rotate the secret, disable, enable,
delete and send a delivery again."""

from __future__ import annotations

from functools import partial

from models.errors import ApiError
from models.serialize import webhook_attempt_json, webhook_endpoint_json
from models.webhooks import (
    EndpointChange,
    create_endpoint,
    delete_endpoint,
    disabled_for_failures,
    endpoint,
    endpoint_deliveries,
    list_endpoints,
    parse_endpoint,
    resend_delivery,
    rotate_secret,
    update_endpoint,
)

from .base import PageHandler, admin_only, viewer
from .forms import Arguments, WebhookEndpointForm, show_refusal

PAGE_SIZE = 50


def endpoints_page(cursor: str | None) -> dict:
    rows, next_cursor = list_endpoints(PAGE_SIZE, cursor)
    endpoints = [webhook_endpoint_json(e) for e in rows]
    return {
        "endpoints": endpoints,
        "next_cursor": next_cursor,
        "disabled_by_failures": [webhook_endpoint_json(e) for e in disabled_for_failures()],
    }


def endpoint_page(endpoint_id: str, cursor: str | None) -> dict:
    rows, next_cursor = endpoint_deliveries(endpoint_id, PAGE_SIZE, cursor)
    return {
        "endpoint": webhook_endpoint_json(endpoint(endpoint_id)),
        "attempts": [webhook_attempt_json(a) for a in rows],
        "next_cursor": next_cursor,
    }


class WebhooksHandler(PageHandler):
    async def show(
        self, form: WebhookEndpointForm, status: int = 200, problem: str | None = None, created: dict | None = None
    ) -> None:
        cursor = self.get_query_argument("cursor", None)
        data = await self.run_db(lambda: endpoints_page(cursor))
        self.render_page("webhooks.html", status, form=form, problem=problem, created=created, **data)

    @viewer
    async def get(self) -> None:
        await self.show(WebhookEndpointForm())

    @admin_only
    async def post(self) -> None:
        form = WebhookEndpointForm(Arguments.posted(self))
        if not form.validate():
            await self.show(form, 422)
            return
        body, allow_private = form.body(), self.settings["webhook_allow_private"]
        try:
            # The host is resolved before any transaction opens.
            change: EndpointChange = await self._off_loop(partial(parse_endpoint, body, allow_private, True))
            made, secret = await self.create_at_most_once(lambda: create_endpoint(change))
        except ApiError as error:
            await self.show(form, error.status, show_refusal(form, error))
            return
        # Rendered here, not after a redirect: the secret must never sit in a
        # cookie or a URL.
        created = {"endpoint": webhook_endpoint_json(made), "secret": secret}
        await self.show(WebhookEndpointForm(), 201, created=created)


class WebhookHandler(PageHandler):
    async def show(self, endpoint_id: str, status: int = 200, secret: str | None = None) -> None:
        cursor = self.get_query_argument("cursor", None)
        data = await self.run_db(lambda: endpoint_page(endpoint_id, cursor))
        self.render_page("webhook.html", status, secret=secret, **data)

    @viewer
    async def get(self, endpoint_id: str) -> None:
        await self.show(endpoint_id)


class WebhookRotateHandler(WebhookHandler):
    @admin_only
    async def post(self, endpoint_id: str) -> None:
        _, secret = await self.run_transaction(lambda: rotate_secret(endpoint_id))
        await self.show(endpoint_id, secret=secret)


class WebhookStateHandler(PageHandler):
    @admin_only
    async def post(self, endpoint_id: str) -> None:
        active = self.get_body_argument("active", "") == "true"
        await self.run_transaction(lambda: update_endpoint(endpoint_id, EndpointChange({"active": active})))
        said = "enabled: it is sent the events from now on" if active else "disabled: it is sent nothing"
        self.done(f"/webhooks/{endpoint_id}", f"Endpoint {said}.")


class WebhookDeleteHandler(PageHandler):
    @admin_only
    async def post(self, endpoint_id: str) -> None:
        await self.run_transaction(lambda: delete_endpoint(endpoint_id))
        self.done("/webhooks", "Endpoint deleted, with its delivery log.")


class WebhookRetryHandler(PageHandler):
    @admin_only
    async def post(self, endpoint_id: str, attempt_id: str) -> None:
        resend = await self.run_transaction(lambda: resend_delivery(endpoint_id, attempt_id))
        self.done(f"/webhooks/{endpoint_id}", f"Event {resend.seq} will be sent again before the next one.")


ENDPOINT = r"/webhooks/(we_[0-9A-Z]{26})"

default_handlers = [
    (r"/webhooks", WebhooksHandler),
    (ENDPOINT, WebhookHandler),
    (ENDPOINT + "/rotate-secret", WebhookRotateHandler),
    (ENDPOINT + "/state", WebhookStateHandler),
    (ENDPOINT + "/delete", WebhookDeleteHandler),
    (ENDPOINT + r"/deliveries/([0-9]{1,18})/retry", WebhookRetryHandler),
]
