"""Sharing endpoints between sender processes, one sender per endpoint.

An endpoint's events must reach it in order, so only one process may send
to it at a time. Every sender registers a row in `webhook_sender` and beats
its heart there every second; each holds a fair share of the active
endpoints (their number over the number of live senders, rounded up),
claiming unheld ones and handing back what is over its share.

A sender whose heart has not beaten for DEAD_AFTER_SECONDS is dead: the
first live sender to notice hands its endpoints back, and they are taken
over from the place last recorded for each (the event after `cursor_seq`,
sent again if it was under way: at least once, with the same webhook-id).

For that to keep order, a sender that cannot beat (its database gone, its
process stalled) must stop sending long before the others call it dead: it
stops all its lanes once LEASE_SECONDS pass without a beat recorded
(`Lease`), and an attempt is never longer than the webhook timeout, so
DEAD_AFTER_SECONDS leaves a margin past both. A sender restarted by its
worker after a crash knows its predecessor is dead (the worker saw it
exit): it hands back that one's endpoints at once (`register`).
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

from models.connection import utcnow
from models.dialect import among, claim_rows
from models.webhooks import ACTIVE, WebhookEndpoint, WebhookSender

HEARTBEAT_SECONDS = 1.0
LEASE_SECONDS = 4.0


def dead_after(timeout: float) -> float:
    """How long without a heartbeat before a sender is taken for dead: past
    its lease and one whole attempt of `timeout` seconds, with a margin."""
    return LEASE_SECONDS + timeout + 2.0


class Share(NamedTuple):
    """What a heartbeat found: the endpoints this sender holds, and how many
    of them it should hand back (more senders are alive than when it took them)."""

    endpoints: list[WebhookEndpoint]
    excess: int


def register(owner: str) -> int:
    """A new sender's id. Senders of the same `owner` (an earlier run of the
    same worker's sender, which that worker saw exit) are gone: their
    endpoints are free at once. Call inside a transaction."""
    earlier = [sender.id for sender in WebhookSender.select(WebhookSender.id).where(WebhookSender.owner == owner)]
    if earlier:
        _forget(earlier)
    now = utcnow()
    return WebhookSender.create(owner=owner[:200], started_at=now, heartbeat_at=now).id


def _forget(sender_ids: list[int]) -> None:
    WebhookEndpoint.update(held_by=None).where(among(WebhookEndpoint.held_by, sender_ids)).execute()
    WebhookSender.delete().where(among(WebhookSender.id, sender_ids)).execute()


def beat(sender_id: int, dead_after_seconds: float) -> Share | None:
    """Record this sender alive, free the endpoints of dead ones, and claim
    this sender's share; None when this sender was itself taken for dead
    (it must stop every lane and register again). Call inside a transaction."""
    now = utcnow()
    if not WebhookSender.update(heartbeat_at=now).where(WebhookSender.id == sender_id).execute():
        return None
    cutoff = now.timestamp() - dead_after_seconds
    senders = list(WebhookSender.select(WebhookSender.id, WebhookSender.heartbeat_at))
    dead = [s.id for s in senders if s.heartbeat_at.timestamp() < cutoff and s.id != sender_id]
    if dead:
        _forget(dead)
    live = len(senders) - len(dead)
    # Disabled endpoints are let go at once.
    WebhookEndpoint.update(held_by=None).where(
        (WebhookEndpoint.held_by == sender_id) & (WebhookEndpoint.state != ACTIVE)
    ).execute()
    active = WebhookEndpoint.select().where(WebhookEndpoint.state == ACTIVE).count()
    share = math.ceil(active / live) if live else active
    held = list(
        WebhookEndpoint.select()
        .where((WebhookEndpoint.held_by == sender_id) & (WebhookEndpoint.state == ACTIVE))
        .order_by(WebhookEndpoint.id)
    )
    if len(held) < share:
        free = claim_rows(
            WebhookEndpoint.select(WebhookEndpoint.id)
            .where(WebhookEndpoint.held_by.is_null() & (WebhookEndpoint.state == ACTIVE))
            .order_by(WebhookEndpoint.id)
            .limit(share - len(held))
        )
        claimed = [row.id for row in free]
        if claimed:
            WebhookEndpoint.update(held_by=sender_id).where(among(WebhookEndpoint.id, claimed)).execute()
            held = list(
                WebhookEndpoint.select()
                .where((WebhookEndpoint.held_by == sender_id) & (WebhookEndpoint.state == ACTIVE))
                .order_by(WebhookEndpoint.id)
            )
    return Share(held, max(0, len(held) - share))


def release(sender_id: int, endpoint_ids: list[str]) -> None:
    """Hand endpoints back, once their lanes have stopped and their places
    are recorded. Call inside a transaction."""
    if endpoint_ids:
        WebhookEndpoint.update(held_by=None).where(
            (WebhookEndpoint.held_by == sender_id) & among(WebhookEndpoint.id, endpoint_ids)
        ).execute()


def retire(sender_id: int) -> None:
    """A sender stopping: its endpoints are free for the others at once."""
    _forget([sender_id])


class Lease:
    """How long this sender may go on sending without a recorded heartbeat."""

    def __init__(self) -> None:
        self._renewed = time.monotonic()

    def renew(self) -> None:
        self._renewed = time.monotonic()

    @property
    def valid(self) -> bool:
        return time.monotonic() - self._renewed < LEASE_SECONDS
