"""Idempotency keys: a retried POST returns what the first one created.

The key is claimed by inserting its row *first* in the same transaction that
creates the resource. A concurrent request with the same key blocks on the
unique index until the first commits, then fails its insert and replays the
stored result; if the first rolls back (a refused request stores nothing), the
second proceeds as if it were first. So two concurrent requests with one key
create exactly one resource.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from peewee import AutoField, CharField, DateTimeField, ForeignKeyField, IntegrityError

from .auth import ApiToken
from .connection import BaseModel, database, utcnow
from .errors import ApiError
from .retry import read_only, retried_transaction

T = TypeVar("T")

MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)


class IdempotencyRecord(BaseModel):
    id = AutoField()
    token = ForeignKeyField(ApiToken, on_delete="CASCADE")
    key = CharField(max_length=MAX_KEY_LENGTH)
    fingerprint = CharField(max_length=64)
    resource_id = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow, index=True)

    if TYPE_CHECKING:
        # The foreign keys' ids, as Peewee's accessors (made with the class)
        # give them; its stubs cannot declare them.
        token_id: int

    class Meta:
        indexes = ((("token", "key"), True),)


def fingerprint(method: str, path: str, body: object) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# What a key may be: printable characters of Latin-1 (all an HTTP header
# carries), not starting or ending with a space (which HTTP strips).
_KEY_END = r"!-~\xa1-\xac\xae-\xff"
KEY_PATTERN = rf"^[{_KEY_END}](?:[ {_KEY_END}]{{0,{MAX_KEY_LENGTH - 2}}}[{_KEY_END}])?$"
_KEY = re.compile(KEY_PATTERN)


def check_key(key: str) -> None:
    if not _KEY.fullmatch(key):
        raise ApiError(
            400, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters"
        )


def create_once(
    token_id: int, key: str, print_: str, create: Callable[[], T], id_of: Callable[[T], str]
) -> tuple[str, T | None]:
    """Run `create` at most once per (token, key). Returns the resource's id
    (`id_of` what `create` returned), and what `create` returned when it ran
    now, or None when this is a replay of an earlier request. Opens its own
    transactions: call it outside any."""
    check_key(key)

    def claim_and_create() -> tuple[str, T | None]:
        with database.atomic():
            record = IdempotencyRecord.create(token=token_id, key=key, fingerprint=print_)
        made = create()
        record.resource_id = id_of(made)
        record.save()
        return record.resource_id, made

    try:
        return retried_transaction(claim_and_create)
    except IntegrityError:
        pass
    record = read_only(
        lambda: IdempotencyRecord.get((IdempotencyRecord.token == token_id) & (IdempotencyRecord.key == key))
    )
    if record.fingerprint != print_:
        raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with a different request")
    assert record.resource_id is not None  # set in the transaction that stored the record
    return record.resource_id, None


def forget_expired() -> int:
    """Drop keys older than the retention window; returns how many."""
    cutoff = utcnow() - RETENTION
    return IdempotencyRecord.delete().where(IdempotencyRecord.created_at < cutoff).execute()
