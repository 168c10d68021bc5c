"""Identifiers that sort by creation time and say what they name.

`pay_01JD3...`: a prefix for the kind of object, then a ULID (48 bits of
milliseconds and 80 random bits in Crockford base32), so ids are unique across
processes without coordination and newest-first order is order by id.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two characters at a time: each of the 1,024 values of 10 bits.
_PAIRS = [high + low for high in _CROCKFORD for low in _CROCKFORD]
# 26 characters hold the 128-bit value (the top 2 of their 130 bits are zero).
_SHIFTS = range(120, -1, -10)


def new_id(prefix: str) -> str:
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return prefix + "_" + "".join([_PAIRS[value >> shift & 1023] for shift in _SHIFTS])


_LAST_MS = 2**48 - 1


def first_id_at(prefix: str, moment: datetime) -> str:
    """The smallest id `new_id(prefix)` could give at `moment` (naive UTC):
    every id made earlier sorts below it, every id made later above it."""
    ms = int(moment.replace(tzinfo=UTC).timestamp() * 1000)
    value = min(max(ms, 0), _LAST_MS) << 80
    return prefix + "_" + "".join([_PAIRS[value >> shift & 1023] for shift in _SHIFTS])
