"""The tests' HTTP client of the API (one connection per call, safe from any thread) and the tokens it carries."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlparse


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    # The parsed JSON (what json.loads gives: Any), or None when the answer is not JSON.
    body: Any
    raw: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Api:
    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        parsed = urlparse(base_url)
        assert parsed.hostname is not None, f"no host in {base_url!r}"
        self.host, self.port = parsed.hostname, parsed.port
        self.token = token

    def with_token(self, token: str | None) -> Api:
        return Api(self.base_url, token)

    def at(self, base_url: str) -> Api:
        """The same caller, talking to another web process."""
        return Api(base_url, self.token)

    def request(
        self,
        method: str,
        path: str,
        body=None,
        *,
        params=None,
        headers=None,
        raw: bytes | None = None,
        wait: int | None = None,
    ) -> Response:
        if params:
            path = f"{path}?{urlencode(params)}"
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        if wait is not None:
            sent["Prefer"] = f"wait={wait}"
        payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if payload is not None:
            sent.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=payload, headers=sent)
            reply = conn.getresponse()
            data = reply.read()
            headers_ = {name.lower(): value for name, value in reply.getheaders()}
        finally:
            conn.close()
        parsed = None
        if data and headers_.get("content-type", "").startswith("application/json"):
            parsed = json.loads(data)
        return Response(reply.status, headers_, parsed, data)

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body=None, **kwargs) -> Response:
        return self.request("POST", path, body, **kwargs)

    def patch(self, path: str, body=None, **kwargs) -> Response:
        return self.request("PATCH", path, body, **kwargs)

    def put(self, path: str, body=None, **kwargs) -> Response:
        return self.request("PUT", path, body, **kwargs)


def issue_token(scope: str) -> str:
    """A new API token with `scope`, made directly in the database."""
    from models.auth import ApiToken
    from models.retry import retried_transaction

    return retried_transaction(lambda: ApiToken.issue(f"test {scope}", scope))[1]
