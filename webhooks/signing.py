"""Signing deliveries as the Standard Webhooks specification says, so that
its libraries (and every integrator's own check) verify them unchanged.

Headers: `webhook-id` (stable across retries of one event to one endpoint),
`webhook-timestamp` (Unix seconds) and `webhook-signature`: `v1,<base64 of
HMAC-SHA256 over "{id}.{timestamp}.{body}">`, one per secret in force,
separated by spaces (two while a rotated secret is still honoured).
Secrets are `whsec_` and the base64 of 24 random bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


class Signer:
    """Signs deliveries with the secrets in force, their keys decoded once
    rather than at every attempt."""

    def __init__(self, secrets_in_force: Iterable[str]) -> None:
        self._keys = [_key(secret) for secret in secrets_in_force]

    def header(self, webhook_id: str, timestamp: int, body: bytes) -> str:
        """The `webhook-signature` header: a `v1,<base64>` signature by each
        secret in force."""
        message = f"{webhook_id}.{timestamp}.".encode() + body
        return " ".join("v1," + base64.b64encode(hmac.digest(key, message, "sha256")).decode() for key in self._keys)


def webhook_id(endpoint_id: str, seq: int) -> str:
    """The id of one event's delivery to one endpoint: the same for every
    attempt, from any sender, so a receiver can drop what it already has."""
    digest = hashlib.sha256(f"{endpoint_id}:{seq}".encode()).hexdigest()[:24]
    return f"msg_{seq}_{digest}"
