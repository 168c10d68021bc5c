"""The delivery client against real local servers (SPEC section 13, safety):
the destination rule applied again when connecting (a name that now
resolves to loopback is refused before any connection), no redirects
followed, a deadline on every attempt, at most 64 KiB of an answer read,
connections kept alive per endpoint and made again when the server closed
one, and answers without a body (204) that do not hang the client."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from models.destinations import check_url
from tests.support.environment import RECEIVER_CERTIFICATE
from tests.support.receiver import HANG, Receiver
from webhooks.http import DeliveryError, EndpointClient, tls_context

TRUSTING = tls_context(str(RECEIVER_CERTIFICATE[0]))


def post(receiver_or_url, times: int = 1, client: EndpointClient | None = None, **options):
    """POST `times` to the receiver with one client; the answers (or the error)."""
    url = receiver_or_url if isinstance(receiver_or_url, str) else receiver_or_url.url
    client = client or EndpointClient(
        options.pop("context", TRUSTING), options.pop("allow_private", True), options.pop("timeout", 2.0), **options
    )
    destination = check_url(url, allow_private=True, resolve=None)

    async def run():
        answers = []
        for _ in range(times):
            answers.append(await client.post(destination, {"webhook-id": "msg_1"}, b'{"seq":1}'))
        client.close()
        return answers

    return asyncio.run(run())


@pytest.fixture
def receiver():
    running = Receiver(RECEIVER_CERTIFICATE)
    yield running
    running.stop()


def test_a_connection_is_kept_alive_between_deliveries(receiver):
    answers = post(receiver, times=3)
    assert [a.status for a in answers] == [200, 200, 200]
    assert (receiver.requests, receiver.connections) == (3, 1)


def test_a_kept_connection_the_server_closed_is_made_again_and_the_request_sent_once_more(receiver):
    receiver.close_after_answer = True
    answers = post(receiver, times=3)
    assert [a.status for a in answers] == [200, 200, 200]
    assert (receiver.requests, receiver.connections) == (3, 3)


def test_a_204_without_content_length_is_an_answer_without_body(receiver):
    receiver.raw_answer = b"HTTP/1.1 204 No Content\r\n\r\n"
    answers = post(receiver, times=2)
    assert [(a.status, a.body) for a in answers] == [(204, b""), (204, b"")]
    assert receiver.connections == 1


def test_an_interim_1xx_answer_is_followed_by_the_real_one(receiver):
    receiver.raw_answer = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"
    )
    assert [(a.status, a.body) for a in post(receiver)] == [(202, b"ok")]


def test_a_redirect_is_not_followed(receiver):
    receiver.raw_answer = (
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: https://localhost:1/x\r\nContent-Length: 0\r\n\r\n"
    )
    assert [a.status for a in post(receiver)] == [307]
    assert receiver.requests == 1


def test_at_most_64_kib_of_an_answer_is_read(receiver):
    big = b"x" * 200_000
    receiver.raw_answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big
    answers = post(receiver, times=2)
    assert [len(a.body) for a in answers] == [65536, 65536]
    # The rest of the body was never read: that connection is not used again.
    assert receiver.connections == 2


def test_a_chunked_answer_is_read(receiver):
    receiver.raw_answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    answers = post(receiver, times=2)
    assert [a.body for a in answers] == [b"abcde", b"abcde"]
    assert receiver.connections == 1


def test_an_answer_without_length_runs_to_the_end_of_the_connection(receiver):
    receiver.raw_answer = b"HTTP/1.1 500 Oops\r\n\r\nbroken"
    receiver.close_after_answer = True
    assert [(a.status, a.body) for a in post(receiver)] == [(500, b"broken")]


def test_an_endpoint_that_hangs_is_given_up_at_the_deadline(receiver):
    receiver.mode = HANG
    with pytest.raises(DeliveryError, match="no answer within 0.5 s"):
        post(receiver, timeout=0.5)


def test_every_attempt_has_a_deadline_of_its_own(receiver):
    """Slow answers, each within the deadline, however long they take together."""
    receiver.delay = 0.3
    answers = post(receiver, times=4, timeout=0.5)
    assert [a.status for a in answers] == [200, 200, 200, 200]


def test_an_endpoint_that_hangs_after_answering_is_given_up_at_the_deadline(receiver):
    client = EndpointClient(TRUSTING, True, 0.5)
    assert [a.status for a in post(receiver, times=2, client=client)] == [200, 200]
    receiver.mode = HANG
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="no answer within 0.5 s"):
        post(receiver, client=client)
    assert 0.5 <= time.monotonic() - started < 1.5


def test_a_name_that_resolves_to_loopback_when_connecting_is_refused_without_connecting(receiver):
    """DNS rebinding: the endpoint's name was public when it was made, and
    resolves to 127.0.0.1 now."""
    url = f"https://hooks.example.com:{receiver.port}/hook"
    with pytest.raises(DeliveryError, match="address refused: hooks.example.com resolves to 127.0.0.1"):
        post(url, allow_private=False, resolve=lambda host, port: ["127.0.0.1"])
    with pytest.raises(DeliveryError, match="resolves to 169.254.169.254"):
        post(url, allow_private=False, resolve=lambda host, port: ["93.184.216.34", "169.254.169.254"])
    assert receiver.connections == 0


def test_a_certificate_nobody_trusts_is_refused(receiver):
    with pytest.raises(DeliveryError, match="TLS"):
        post(receiver, context=ssl.create_default_context())
    assert receiver.requests == 0


def test_a_closed_port_is_an_error_for_the_log():
    with pytest.raises(DeliveryError, match="connection refused"):
        post("https://localhost:1/hook")
