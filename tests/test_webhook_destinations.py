"""Where webhooks may be sent (SPEC section 13, safety): `https://` only, and
never to loopback, private, link-local, multicast or otherwise non-public
addresses, whether the URL names them or a host name resolves to them.
Every refused case is here; the same rule is applied at each connection
(tests/test_webhook_client.py)."""

from __future__ import annotations

import pytest

from models.destinations import address_allowed, check_url
from models.errors import ApiError

# A DNS of the test's own: names that resolve where an attacker would like.
DNS = {
    "hooks.example.com": ["93.184.216.34"],
    "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
    "localhost.attacker.test": ["127.0.0.1"],
    "metadata.attacker.test": ["169.254.169.254"],
    "intranet.attacker.test": ["10.0.0.5"],
    "mixed.attacker.test": ["93.184.216.34", "192.168.1.1"],
    "v6-loopback.attacker.test": ["::1"],
    "mapped.attacker.test": ["::ffff:127.0.0.1"],
    "multicast.attacker.test": ["224.0.0.251"],
}


def fake_resolve(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError("no such host")
    return DNS[host]


def refusal(url: object, **options) -> str:
    with pytest.raises(ApiError) as refused:
        check_url(url, resolve=fake_resolve, **options)
    assert refused.value.status == 422
    assert refused.value.code == "validation_error"
    assert refused.value.fields is not None
    return refused.value.fields["url"]


REFUSED_ADDRESSES = [
    # IPv4 loopback, also as the resolver reads shortened, hex, octal and decimal forms
    "127.0.0.1",
    "127.1.2.3",
    "127.1",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "2130706433",
    # unspecified
    "0.0.0.0",
    "0",
    # private
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    # carrier-grade NAT (shared address space)
    "100.64.0.1",
    # link-local, the cloud metadata service among them
    "169.254.169.254",
    "169.254.0.1",
    # multicast and broadcast
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    # reserved, benchmarking and documentation ranges
    "240.0.0.1",
    "198.18.0.1",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "192.0.0.1",
    # IPv6 loopback, unspecified, unique local, link-local, multicast, documentation
    "[::1]",
    "[::]",
    "[fc00::1]",
    "[fd12:3456:789a::1]",
    "[fe80::1]",
    "[ff02::1]",
    "[ff05::2]",
    "[2001:db8::1]",
    # IPv6 forms that carry a refused IPv4 address
    "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[::ffff:10.0.0.1]",
    "[::127.0.0.1]",
    "[2002:7f00:1::1]",
    "[64:ff9b::a9fe:a9fe]",
]


@pytest.mark.parametrize("host", REFUSED_ADDRESSES)
def test_a_url_naming_a_non_public_address_is_refused(host):
    assert "private, loopback, link-local or multicast" in refusal(f"https://{host}/hook")


@pytest.mark.parametrize(
    "host",
    ["localhost.attacker.test", "metadata.attacker.test", "intranet.attacker.test", "mixed.attacker.test"]
    + ["v6-loopback.attacker.test", "mapped.attacker.test", "multicast.attacker.test"],
)
def test_a_name_that_resolves_to_a_non_public_address_is_refused(host):
    assert "private, loopback, link-local or multicast" in refusal(f"https://{host}/hook")


def test_localhost_is_refused_as_it_resolves_to_loopback():
    with pytest.raises(ApiError) as refused:
        check_url("https://localhost/hook")
    assert refused.value.fields is not None
    assert "loopback" in refused.value.fields["url"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/hook", "must be an https:// URL"),
        ("ftp://hooks.example.com/hook", "must be an https:// URL"),
        ("hooks.example.com/hook", "must be an https:// URL"),
        ("", "must be an https:// URL"),
        (42, "must be an https:// URL"),
        ("https://user:pass@hooks.example.com/hook", "must not carry a user name or password"),
        ("https://user@hooks.example.com/hook", "must not carry a user name or password"),
        ("https:///hook", "must name a host"),
        ("https://hooks.example.com:99999/hook", "is not a valid URL"),
        ("https://hooks.example.com:0/hook", "must not use port 0"),
        ("https://hooks.example.com/hook#part", "must not have a #fragment"),
        ("https://hooks.example.com/a b", "must not contain spaces or control characters"),
        ("https://hooks.example.com/\x00", "must not contain spaces or control characters"),
        ("https://nowhere.invalid/hook", "its host nowhere.invalid does not resolve"),
        ("https://hooks.example.com/" + "a" * 2048, "must be at most 2048 characters"),
    ],
)
def test_a_url_of_the_wrong_form_is_refused_saying_why(url, problem):
    assert refusal(url) == problem


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/hook", "https://v6.example.com:8443/in?x=1", "https://93.184.216.34/hook"]
    + ["https://[2606:2800:220:1:248:1893:25c8:1946]/hook"],
)
def test_a_public_https_url_is_accepted(url):
    destination = check_url(url, resolve=fake_resolve)
    assert destination.scheme == "https"
    assert destination.target.startswith("/")


def test_private_addresses_and_http_are_allowed_when_the_operator_says_so():
    destination = check_url("http://127.0.0.1:8080/hook?a=1", allow_private=True, resolve=fake_resolve)
    assert (destination.host, destination.port, destination.target) == ("127.0.0.1", 8080, "/hook?a=1")
    # The URL's form is still checked.
    assert refusal("https://u:p@127.0.0.1/", allow_private=True) == "must not carry a user name or password"


def test_without_resolving_only_the_form_and_literal_addresses_are_checked():
    assert check_url("https://localhost.attacker.test/x", resolve=None).host == "localhost.attacker.test"
    with pytest.raises(ApiError):
        check_url("https://169.254.169.254/latest/meta-data", resolve=None)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("::ffff:169.254.169.254", False),
        ("fe80::1%eth0", False),
        ("not an address", False),
    ],
)
def test_the_connection_rule_allows_only_public_unicast_addresses(address, allowed):
    assert address_allowed(address) is allowed
