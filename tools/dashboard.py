"""A client of the operator dashboard over plain HTTP.

`Session` keeps one browser's worth of cookies, logs in and posts forms with
their CSRF token as a browser would; each answer is a `Page`, with helpers
for finding things in its HTML. No JavaScript runs: the tests that need a
real browser drive Chromium instead.
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from html import unescape
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlparse


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    html: str
    set_cookies: list[str]

    @property
    def location(self) -> str | None:
        return self.headers.get("location")

    @property
    def text(self) -> str:
        """What a person reads: the HTML without tags, whitespace folded."""
        body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", self.html, flags=re.S)
        return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body))).strip()

    def field_error(self, name: str) -> str | None:
        """The error shown beside the form field `name`, if any."""
        match = re.search(rf'id="{re.escape(name)}-error"[^>]*>(.*?)</', self.html, flags=re.S)
        return unescape(match.group(1)).strip() if match else None

    def rows(self) -> list[tuple[str, str]]:
        """(payment id, status) of every payment row on the page."""
        return re.findall(r'data-payment-id="([^"]+)"\s+data-status="([^"]+)"', self.html)


class Session:
    """One browser's worth of cookies, talking to the dashboard at `base_url`."""

    def __init__(self, base_url: str) -> None:
        parsed = urlparse(base_url)
        assert parsed.hostname is not None, f"no host in {base_url!r}"
        self.host, self.port = parsed.hostname, parsed.port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None) -> Page:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=sent)
            reply = conn.getresponse()
            data = reply.read()
            set_cookies = reply.headers.get_all("Set-Cookie") or []
            headers_ = {name.lower(): value for name, value in reply.getheaders()}
        finally:
            conn.close()
        for line in set_cookies:
            for name, morsel in SimpleCookie(line).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:  # cleared
                    self.cookies.pop(name, None)
        return Page(reply.status, headers_, data.decode("utf-8", "replace"), set_cookies)

    def get(self, path: str, **kwargs) -> Page:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict | None = None, csrf: bool = True, headers: dict | None = None) -> Page:
        """Post a form as the browser would, with the CSRF token from the
        cookie (fetching a page first if there is none yet)."""
        form = dict(form or {})
        if csrf:
            for page in ("/login", "/"):  # whichever shows a form to this session
                if "_xsrf" not in self.cookies:
                    self.get(page)
            form["_xsrf"] = self.cookies["_xsrf"]
        return self.request("POST", path, form, headers=headers)

    def login(self, email: str, password: str) -> Page:
        return self.post("/login", {"email": email, "password": password})
