"""The OpenAPI operations of webhook endpoints, and the deliveries the
gateway sends (OpenAPI 3.1's top-level `webhooks`)."""

from __future__ import annotations

from models.account import ACCOUNT_ID_PATTERN
from models.destinations import MAX_URL_LENGTH
from models.event import EVENT_TYPES
from models.webhooks import ALL_TYPES, DESCRIPTION_MAX_LENGTH, DISABLED_BY_ADMIN, DISABLED_BY_FAILURES
from webhooks.signing import SECRET_PREFIX

from .builders import header, operation, success
from .components import TIME, closed, nullable, page_of, ref, text

ENDPOINTS = "/api/v1/webhook-endpoints"
ENDPOINT = ENDPOINTS + "/{endpoint}"
TAG = "Webhooks"
# The parameters of a list of pages.
PAGED = ("Limit", "Cursor")


def webhook_operations() -> list[tuple[str, str, dict]]:
    endpoint_errors = ("not_found",)
    return [
        operation(
            "get",
            ENDPOINTS,
            "listWebhookEndpoints",
            TAG,
            "List webhook endpoints",
            "admin",
            {"200": success("Endpoints, oldest first.", "WebhookEndpointList")},
            parameters=PAGED,
        ),
        operation(
            "post",
            ENDPOINTS,
            "createWebhookEndpoint",
            TAG,
            "Create a webhook endpoint",
            "admin",
            {
                "201": success("Created; `secret` is shown this once.", "WebhookEndpointWithSecret"),
                "200": success(
                    "Replay of an earlier request with the same Idempotency-Key (without the secret).",
                    "WebhookEndpoint",
                    "Idempotent-Replayed",
                ),
            },
            description=(
                "The endpoint is sent every event numbered from now on that its `event_types` and `account` "
                "select, in `seq` order, signed per Standard Webhooks (see the `webhooks` section). The URL must "
                "be `https://` and its host must resolve only to public addresses."
            ),
            body="NewWebhookEndpoint",
            errors=("validation_error",),
        ),
        operation(
            "get",
            ENDPOINT,
            "getWebhookEndpoint",
            TAG,
            "Get a webhook endpoint",
            "admin",
            {"200": success("The endpoint (never its secret).", "WebhookEndpoint")},
            parameters=("WebhookEndpointPath",),
            errors=endpoint_errors,
        ),
        operation(
            "patch",
            ENDPOINT,
            "updateWebhookEndpoint",
            TAG,
            "Change, disable or enable a webhook endpoint",
            "admin",
            {"200": success("The endpoint as changed.", "WebhookEndpoint")},
            description=(
                "`active: false` stops deliveries; `active: true` starts them again from the newest event, so "
                "the next delivery's `prev_seq` shows what was missed meanwhile. Changes reach the senders "
                "within a second."
            ),
            parameters=("WebhookEndpointPath",),
            body="WebhookEndpointChange",
            errors=("not_found", "validation_error"),
        ),
        operation(
            "delete",
            ENDPOINT,
            "deleteWebhookEndpoint",
            TAG,
            "Delete a webhook endpoint",
            "admin",
            {
                "204": {
                    "description": "Deleted, with its delivery log.",
                    "headers": {"X-Request-Id": header("X-Request-Id")},
                }
            },
            parameters=("WebhookEndpointPath",),
            errors=endpoint_errors,
        ),
        operation(
            "post",
            ENDPOINT + "/rotate-secret",
            "rotateWebhookSecret",
            TAG,
            "Rotate an endpoint's secret",
            "admin",
            {"200": success("The endpoint with its new `secret`, shown this once.", "WebhookEndpointWithSecret")},
            description="For 24 hours deliveries carry two signatures, by the new secret and by the old one.",
            parameters=("WebhookEndpointPath",),
            errors=endpoint_errors,
        ),
        operation(
            "get",
            ENDPOINT + "/deliveries",
            "listWebhookDeliveries",
            TAG,
            "An endpoint's delivery log",
            "admin",
            {"200": success("Every attempt, newest first.", "WebhookAttemptList")},
            parameters=("WebhookEndpointPath", *PAGED),
            errors=endpoint_errors,
        ),
        operation(
            "post",
            ENDPOINT + "/deliveries/{delivery}/retry",
            "retryWebhookDelivery",
            TAG,
            "Send a delivery again",
            "admin",
            {"202": success("Queued: sent once, before the endpoint's next event.", "WebhookRetry")},
            description=(
                "Sends the attempt's event again exactly as it was (same `webhook-id`, same `prev_seq`), "
                "typically one that was given up. The attempt shows in the log with `manual: true`. An event the "
                "endpoint is waiting to retry is tried again right after it."
            ),
            parameters=("WebhookEndpointPath", "WebhookDeliveryPath"),
            errors=("not_found", "endpoint_disabled"),
        ),
    ]


_TYPES = {
    "type": "array",
    "minItems": 1,
    "uniqueItems": True,
    "items": {"type": "string", "enum": [ALL_TYPES, *EVENT_TYPES]},
    "description": 'The event types to send, or `["*"]` (alone) for all of them.',
}
_URL = text(
    "An `https://` URL whose host resolves only to public addresses, without user name or password.",
    maxLength=MAX_URL_LENGTH,
    examples=["https://hooks.example.com/gateway"],
)
_ACCOUNT = text(
    "Only events about this account (a payment it pays or receives, its balances, itself).",
    pattern=ACCOUNT_ID_PATTERN.pattern,
)


def webhook_schemas() -> dict:
    endpoint_fields = {
        "id": text("The endpoint's id.", examples=["we_01JD3Q4Z8X9YB2C3D4E5F6G7H8"]),
        "url": _URL,
        "description": text("Free text.", maxLength=DESCRIPTION_MAX_LENGTH),
        "event_types": _TYPES,
        "account": nullable(_ACCOUNT),
        "active": {"type": "boolean", "description": "Whether events are sent to it."},
        "state": {"type": "string", "enum": ["active", "disabled"]},
        "disabled_reason": nullable(
            {
                "type": "string",
                "enum": [DISABLED_BY_FAILURES, DISABLED_BY_ADMIN],
                "description": "Failing for 3 days (with a `webhook_endpoint.disabled` event), or an admin's choice.",
            }
        ),
        "disabled_at": nullable(TIME),
        "failing_since": nullable({**TIME, "description": "Since when its attempts fail; null while it is healthy."}),
        "last_sent_seq": {
            "type": "integer",
            "minimum": 0,
            "description": "The last event sent to it (delivered or given up): the next delivery's `prev_seq`.",
        },
        "previous_secret_expires_at": nullable(
            {**TIME, "description": "Until then the secret before the last rotation signs too."}
        ),
        "created_at": TIME,
        "updated_at": TIME,
    }
    secret = text(
        f"`{SECRET_PREFIX}` and base64: the key deliveries are signed with. Shown only here.",
        pattern=f"^{SECRET_PREFIX}[A-Za-z0-9+/=]+$",
    )
    optional_body = ("event_types", "account", "description", "active")
    return {
        "WebhookEndpoint": closed(endpoint_fields, description="Where events are sent."),
        "WebhookEndpointWithSecret": closed(
            {**endpoint_fields, "secret": secret}, description="An endpoint with its secret, shown once."
        ),
        "WebhookEndpointList": page_of("WebhookEndpoint"),
        "NewWebhookEndpoint": closed(
            {
                "url": _URL,
                "event_types": {**_TYPES, "default": [ALL_TYPES]},
                "account": nullable(_ACCOUNT),
                "description": nullable(text("Free text.", maxLength=DESCRIPTION_MAX_LENGTH)),
                "active": nullable({"type": "boolean", "default": True}),
            },
            optional=optional_body,
        ),
        "WebhookEndpointChange": closed(
            {
                "url": _URL,
                "event_types": nullable(_TYPES),
                "account": nullable(_ACCOUNT),
                "description": nullable(text("Free text.", maxLength=DESCRIPTION_MAX_LENGTH)),
                "active": nullable({"type": "boolean"}),
            },
            optional=("url", *optional_body),
        ),
        "WebhookAttempt": closed(
            {
                "id": text("The attempt's id (for a retry)."),
                "endpoint": text("The endpoint it was sent to."),
                "seq": {"type": "integer", "description": "The event sent."},
                "prev_seq": {"type": "integer", "description": "The `prev_seq` it was sent with."},
                "webhook_id": text("The `webhook-id` header: the same for every attempt of one event."),
                "attempt": {"type": "integer", "minimum": 1, "description": "1 for the first attempt of the event."},
                "manual": {"type": "boolean", "description": "Sent again by hand."},
                "outcome": {
                    "type": "string",
                    "enum": ["delivered", "failed", "given_up"],
                    "description": "`given_up`: the last attempt, after 3 days of failures.",
                },
                "status_code": nullable({"type": "integer", "description": "The answer's status, if one came."}),
                "error": nullable(text("Why no answer came (timeout, refused address, TLS, connection).")),
                "response": nullable(text("The first 1 KiB of the answer.")),
                "latency_ms": {"type": "integer", "minimum": 0},
                "at": TIME,
            },
            description="One attempt to deliver one event.",
        ),
        "WebhookAttemptList": page_of("WebhookAttempt"),
        "WebhookRetry": closed(
            {
                "endpoint": text("The endpoint."),
                "seq": {"type": "integer", "description": "The event to be sent again."},
                "status": {"type": "string", "enum": ["queued"]},
            }
        ),
        "WebhookDelivery": closed(
            {
                "seq": {"type": "integer", "description": "The event's number in the log."},
                "prev_seq": {
                    "type": "integer",
                    "minimum": 0,
                    "description": (
                        "The `seq` of the previous event sent to this endpoint (0 for its first). If it is not the "
                        "last `seq` you received, fetch `GET /api/v1/events?after=<your last seq>` up to `seq`."
                    ),
                },
                "type": {"type": "string", "enum": list(EVENT_TYPES)},
                "created_at": TIME,
                "actor": ref("Actor"),
                "data": {"type": "object", "description": "As in the event log."},
            },
            description="An event as the feed frames it, with `prev_seq`.",
        ),
    }


def webhook_parameters() -> dict:
    def path(name: str, description: str) -> dict:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}

    def signed(name: str, description: str, example: str) -> dict:
        return {
            "name": name,
            "in": "header",
            "required": True,
            "schema": {"type": "string", "examples": [example]},
            "description": description,
        }

    return {
        "WebhookEndpointPath": path("endpoint", "The endpoint's id."),
        "WebhookDeliveryPath": path("delivery", "An attempt's `id` from the delivery log."),
        "WebhookId": signed(
            "webhook-id", "Stable across retries of one event to one endpoint: drop what you have seen.", "msg_42_ab12"
        ),
        "WebhookTimestamp": signed("webhook-timestamp", "Unix seconds when this attempt was signed.", "1767225600"),
        "WebhookSignature": signed(
            "webhook-signature",
            'Space-separated `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, one per secret '
            "in force (two for a day after a rotation).",
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        ),
    }


def webhook_deliveries() -> dict:
    """OpenAPI 3.1's top-level `webhooks`: the request each endpoint gets."""
    return {
        "event": {
            "post": {
                "summary": "An event, delivered to a webhook endpoint",
                "operationId": "receiveEvent",
                "tags": [TAG],
                "description": (
                    "Sent per Standard Webhooks: verify it with any `standardwebhooks` library and your endpoint's "
                    "secret. Events come in `seq` order, the next after the previous got a 2xx or was given up; a "
                    "failed one is retried with the same `webhook-id`, backing off exponentially for up to 3 days. "
                    "Redirects are not followed; answer within 10 seconds."
                ),
                "security": [],
                "parameters": [
                    {"$ref": f"#/components/parameters/{name}"}
                    for name in ("WebhookId", "WebhookTimestamp", "WebhookSignature")
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookDelivery"}}},
                },
                "responses": {
                    "2XX": {"description": "Received: the next event follows."},
                    "default": {"description": "Not received: sent again later."},
                },
            }
        }
    }
