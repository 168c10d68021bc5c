"""Identifiers that sort by creation time and say what they name.

`pay_01JD3...`: a prefix for the kind of object, then a ULID (48 bits of
milliseconds and 80 random bits in Crockford base32), so ids are unique across
processes without coordination and newest-first order is order by id.
"""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return f"{prefix}_{''.join(reversed(chars))}"
