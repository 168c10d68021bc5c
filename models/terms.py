"""What a payment request may ask beyond moving an amount: to be held
(`capture: manual`, for `hold_expires_in` seconds), to settle by a
deadline (`settle_by`), and the caller's own `reference`. Checked here for
every kind of payment request, and turned into the payment's columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .errors import invalid
from .ledger import AUTOMATIC, CAPTURES, HOLD_KINDS, MANUAL, REFERENCE_MAX_LENGTH

TERMS_FIELDS: dict[str, object] = {"capture": str, "hold_expires_in": int, "settle_by": str, "reference": str}
# A hold lasts a week unless asked otherwise, and at most thirty days.
HOLD_EXPIRES_IN_DEFAULT = 7 * 24 * 3600
HOLD_EXPIRES_IN_MAX = 30 * 24 * 3600


def read_terms(kind: str, data: dict, now: datetime) -> dict:
    """The payment columns `data`'s terms set, for a payment of `kind`
    accepted `now`; 422 `validation_error` naming each field that is wrong."""
    problems: dict[str, str] = {}
    capture = data.get("capture") or AUTOMATIC
    if capture not in CAPTURES:
        problems["capture"] = "must be automatic or manual"
    elif capture == MANUAL and kind not in HOLD_KINDS:
        problems["capture"] = f"a {kind} cannot be held: only transfers, exchanges and withdrawals can"
    expires_in = data.get("hold_expires_in")
    if expires_in is not None:
        if capture != MANUAL:
            problems["hold_expires_in"] = "applies only to a hold (capture: manual)"
        elif not 1 <= expires_in <= HOLD_EXPIRES_IN_MAX:
            problems["hold_expires_in"] = f"must be from 1 to {HOLD_EXPIRES_IN_MAX} seconds"
    settle_by = None
    if data.get("settle_by") is not None:
        settle_by = parse_moment(data["settle_by"])
        if settle_by is None:
            problems["settle_by"] = "must be an RFC 3339 time with its offset, such as 2030-01-31T09:30:00Z"
        elif settle_by <= now:
            problems["settle_by"] = "must be in the future"
    reference = data.get("reference")
    if reference is not None and not 1 <= len(reference) <= REFERENCE_MAX_LENGTH:
        problems["reference"] = f"must be 1 to {REFERENCE_MAX_LENGTH} characters"
    if problems:
        raise invalid(problems)
    held_for = timedelta(seconds=expires_in or HOLD_EXPIRES_IN_DEFAULT)
    return {
        "capture": capture,
        "hold_expires_at": now + held_for if capture == MANUAL else None,
        "settle_by": settle_by,
        "reference": reference,
    }


def parse_moment(text: str) -> datetime | None:
    """An RFC 3339 time (its offset required) as naive UTC, the clock every
    stored time uses; None if `text` is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or "T" not in text.upper():
        return None
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return None
