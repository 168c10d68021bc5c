"""What a sender writes down, gathered and written in the background: the
attempts (the delivery log), each endpoint's place in the log, since when
it fails, and the resends done. A lane never waits for a write to send its
next event; the writes of many deliveries go in one transaction.

Losing what was not written yet (a sender killed) loses log lines and
sends a few events again (at least once), never an event: an endpoint's
place only moves forward after its event was sent. Places are written only
while this sender still holds the endpoint, so a sender that lost one to
another cannot move it.
"""

from __future__ import annotations

from datetime import datetime

from models.bulk import insert_rows
from models.connection import utcnow
from models.dialect import among
from models.retry import retried_transaction
from models.webhooks import WebhookAttempt, WebhookEndpoint, WebhookResend

_UNCHANGED = object()


class Recorder:
    def __init__(self) -> None:
        self._attempts: list[dict] = []
        self._places: dict[str, tuple[int, int]] = {}
        self._failing: dict[str, datetime | None] = {}
        self._resends: list[int] = []

    def attempt(self, row: dict) -> None:
        self._attempts.append(row)

    def place(self, endpoint_id: str, delivered_seq: int, cursor_seq: int) -> None:
        self._places[endpoint_id] = (delivered_seq, cursor_seq)

    def failing(self, endpoint_id: str, since: datetime | None) -> None:
        self._failing[endpoint_id] = since

    def resend_done(self, resend_id: int) -> None:
        self._resends.append(resend_id)

    @property
    def empty(self) -> bool:
        return not (self._attempts or self._places or self._failing or self._resends)

    def flush(self, sender_id: int) -> None:
        """Write everything gathered, in one transaction (blocking). What
        cannot be written is kept for the next flush."""
        attempts, places, failing, resends = self._attempts, self._places, self._failing, self._resends
        self._attempts, self._places, self._failing, self._resends = [], {}, {}, []
        try:
            retried_transaction(lambda: _write(sender_id, attempts, places, failing, resends))
        except Exception:
            self._attempts[:0] = attempts
            self._places = {**places, **self._places}
            self._failing = {**failing, **self._failing}
            self._resends[:0] = resends
            raise


def _write(
    sender_id: int,
    attempts: list[dict],
    places: dict[str, tuple[int, int]],
    failing: dict[str, datetime | None],
    resends: list[int],
) -> None:
    if attempts:
        # An endpoint deleted meanwhile takes its log with it.
        named = list({a["endpoint"] for a in attempts})
        live = {row.id for row in WebhookEndpoint.select(WebhookEndpoint.id).where(among(WebhookEndpoint.id, named))}
        kept = [a for a in attempts if a["endpoint"] in live]
        if kept:
            insert_rows((WebhookAttempt, kept))
    for endpoint_id in sorted(set(places) | set(failing)):
        changes: dict = {}
        if endpoint_id in places:
            changes["delivered_seq"], changes["cursor_seq"] = places[endpoint_id]
        if endpoint_id in failing:
            changes["failing_since"] = failing[endpoint_id]
        WebhookEndpoint.update(**changes).where(
            (WebhookEndpoint.id == endpoint_id) & (WebhookEndpoint.held_by == sender_id)
        ).execute()
    if resends:
        WebhookResend.update(done_at=utcnow()).where(among(WebhookResend.id, resends)).execute()
