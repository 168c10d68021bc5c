"""Identifiers: a prefix, then a ULID in Crockford base32 (models.ids)."""

import re
import time

from models.ids import new_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_an_id_is_its_prefix_and_26_crockford_characters():
    assert re.fullmatch(r"pay_[0-9A-HJKMNP-TV-Z]{26}", new_id("pay"))
    assert re.fullmatch(r"bal_[0-9A-HJKMNP-TV-Z]{26}", new_id("bal"))


def test_an_id_holds_the_millisecond_it_was_made_in_its_first_48_bits():
    before = time.time_ns() // 1_000_000
    value = decode(new_id("pay")[4:])
    after = time.time_ns() // 1_000_000
    assert value < 1 << 128
    assert before <= value >> 80 <= after


def test_ids_made_in_later_milliseconds_sort_after_earlier_ones():
    first = new_id("pay")
    time.sleep(0.002)
    assert new_id("pay") > first


def test_the_80_random_bits_differ_between_ids():
    made = [new_id("pay") for _ in range(10_000)]
    assert len(set(made)) == len(made)
    low_bits = {decode(i[4:]) & ((1 << 80) - 1) for i in made}
    assert len(low_bits) == len(made)


def test_an_id_spells_its_time_and_random_bits_exactly(monkeypatch):
    monkeypatch.setattr(time, "time_ns", lambda: 1_764_000_000_123_456_789)
    monkeypatch.setattr("os.urandom", lambda n: bytes(range(1, n + 1)))
    assert new_id("pay") == "pay_01KAV9FT3V041061050R3GG28A"
