"""Where webhooks may be sent: public `https://` addresses only.

A webhook URL is chosen by whoever holds an admin token, and the gateway
then makes requests to it from inside the operator's network. Without a
rule it could be pointed at the database, the cloud's metadata service
(169.254.169.254) or anything else only reachable from inside (SSRF).

So a URL must be `https://`, carry no user name or password, and its host
must resolve only to public unicast addresses. The same address rule is
applied again at every connection (`address_allowed`), to the address the
connection is then made to: a name that resolved to a public address when
the endpoint was made may resolve to 127.0.0.1 later (DNS rebinding).

`allow_private` (WEBHOOK_ALLOW_PRIVATE=1) lifts the address rule and allows
`http://`, for tests and local set-ups.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

from .errors import invalid

MAX_URL_LENGTH = 2048

# A host name -> the addresses it resolves to (`resolve_host`, or a test's table).
Resolver = Callable[[str, int], list[str]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Prefixes that carry an IPv4 address inside an IPv6 one, each checked as
# the IPv4 address it carries: NAT64 (64:ff9b::/96) and IPv4-compatible (::/96).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")


class Destination(NamedTuple):
    """A checked URL, taken apart for the connection."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent on the request line


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to now (a literal address resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_allowed(address: str) -> bool:
    """Whether a webhook may connect to this IP address: a public unicast
    one. Refused: loopback, private, shared (carrier NAT), link-local (the
    cloud's metadata service among them), multicast, unspecified, reserved,
    documentation ranges, and IPv6 forms that carry one of those IPv4
    addresses (IPv4-mapped, 6to4, Teredo, NAT64)."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_allowed(str(inner))
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def check_url(
    url: object, allow_private: bool = False, resolve: Resolver | None = resolve_host, field: str = "url"
) -> Destination:
    """A webhook URL taken apart, or 422 `validation_error` on `field` saying
    why it is refused. With `resolve` (a resolver), the host is resolved and
    every address it has must be allowed; None checks the URL's form alone
    (and a literal address), without asking DNS."""
    if not isinstance(url, str) or not url:
        raise invalid({field: "must be an https:// URL"})
    if len(url) > MAX_URL_LENGTH:
        raise invalid({field: f"must be at most {MAX_URL_LENGTH} characters"})
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise invalid({field: "must not contain spaces or control characters"})
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise invalid({field: "is not a valid URL"}) from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in schemes:
        raise invalid({field: "must be an https:// URL"})
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise invalid({field: "must not carry a user name or password"})
    if parts.fragment:
        raise invalid({field: "must not have a #fragment"})
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise invalid({field: "must name a host"})
    scheme = parts.scheme.lower()
    if port == 0:
        raise invalid({field: "must not use port 0"})
    port = port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    destination = Destination(url, scheme, host, port, target)
    if allow_private:
        return destination
    literal = _literal_address(host)
    if literal is not None:
        addresses = [literal]
    elif resolve is None:
        return destination
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            raise invalid({field: f"its host {host} does not resolve"}) from None
        if not addresses:
            raise invalid({field: f"its host {host} does not resolve"})
    for address in addresses:
        if not address_allowed(address):
            raise invalid(
                {field: f"must not point at a private, loopback, link-local or multicast address ({address})"}
            )
    return destination


def _literal_address(host: str) -> str | None:
    """The address a host written as one stands for, in any form the
    system's resolver would take it in (`127.1`, `0x7f.0.0.1`, `2130706433`),
    or None for a name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None
