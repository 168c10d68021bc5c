"""What the HTTP API promises about every request, whatever it asks for:
how large a body may be, what a request id looks like, how long a caller
may wait for a payment's outcome. The handlers enforce these and the
OpenAPI document states them, both from here."""

from __future__ import annotations

import re

# The API keeps no more than this of a request body and answers 413 past it.
MAX_BODY_BYTES = 64 * 1024
# A payment group's body may hold a thousand payments.
MAX_GROUP_BODY_BYTES = 1024 * 1024
# What a connection may stream in before Tornado cuts it off: far above
# MAX_BODY_BYTES, so that an oversized body is read to its end and its
# sender gets the 413 rather than a reset connection.
MAX_STREAMED_BYTES = 64 * 1024 * 1024

REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)

# `Prefer: wait=N` holds a payment's answer at most this long.
MAX_WAIT_SECONDS = 30
PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait=(\d+)")
