"""Bad input of every kind (SPEC sections 3, 4 and 5): each gets its documented
4xx and error code, never a 500, and leaves nothing behind — the accounts'
balances, their payment lists and the head of the event log are exactly as
they were before the refused request."""

from __future__ import annotations

import base64
import json
import uuid
from contextlib import contextmanager

import pytest

from tests.support.bodies import cash, transfer
from tests.support.client import issue_token
from tests.support.ledger import open_account, unique
from tests.support.refusals import assert_error, leaves_nothing_behind, newest_seq
from tests.support.waiting import wait_until


def cursor_of(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def raw_body(body: dict, **raw_values: str) -> bytes:
    """`body` as JSON with some values spliced in verbatim (JSON numbers that
    Python's encoder cannot write)."""
    text = json.dumps({**body, **{name: f"@{name}@" for name in raw_values}})
    for name, value in raw_values.items():
        text = text.replace(f'"@{name}@"', value)
    return text.encode()


@pytest.fixture(scope="module")
def bob(writer, admin) -> str:
    return open_account(writer, admin, {"PHP": "100.00"})


@pytest.fixture(scope="module")
def alice(writer, admin) -> str:
    return open_account(writer, admin, currencies=["PHP"])


@pytest.fixture(scope="module")
def bob_balance(reader, bob) -> str:
    return reader.get(f"/api/v1/accounts/{bob}").body["balances"][0]["id"]


CASH_PATHS = ["/api/v1/deposits", "/api/v1/withdrawals"]


def deactivate_account(admin, account_id: str) -> None:
    assert admin.patch(f"/api/v1/accounts/{account_id}", {"active": False}).status == 200


def deactivate_balance(admin, account_id: str, currency: str) -> None:
    balances = admin.get(f"/api/v1/accounts/{account_id}").body["balances"]
    balance_id = next(b["id"] for b in balances if b["currency"] == currency)
    assert admin.patch(f"/api/v1/balances/{balance_id}", {"active": False}).status == 200


# --- payments: shape (400) -------------------------------------------------------------------------------------------

WRONG_TYPES = [
    ("amount", True),
    ("amount", ["1.00"]),
    ("amount", {"value": "1.00"}),
    ("from_account", 42),
    ("to_account", ["x"]),
    ("currency", 608),
    ("to_currency", {"code": "USD"}),
    ("description", 12),
]


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES, ids=[f"{f}={v!r}" for f, v in WRONG_TYPES])
def test_payment_field_of_wrong_json_type_is_400_invalid_request(writer, bob, alice, field, value):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, alice, **{field: value}))
        assert_error(response, 400, "invalid_request", field)


MALFORMED_JSON = [
    b'{"amount": ',
    b"{'amount': '1.00'}",
    b'{"amount": "1.00",}',
    b'{"from_account": "\xff\xfe"}',
    b"NaN",
    b'{"amount": NaN}',
    b'{"amount": Infinity}',
    b'{"amount": -Infinity}',
    b"undefined",
]


@pytest.mark.parametrize("raw", MALFORMED_JSON, ids=[r.decode("latin-1") for r in MALFORMED_JSON])
def test_malformed_json_is_400_malformed_json(writer, bob, alice, raw):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", raw=raw)
        assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize("raw", [b"[]", b'"transfer"', b"42", b"true", b"null"])
def test_body_that_is_not_a_json_object_is_400_invalid_request(writer, bob, alice, raw):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", raw=raw)
        assert_error(response, 400, "invalid_request", "body")


def test_empty_body_is_400(writer, bob, alice):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", raw=b"")
        assert_error(response, 400, ("invalid_request", "malformed_json"))


def test_json_nested_too_deep_to_read_is_400(writer, bob, alice):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", raw=b"[" * 30000 + b"]" * 30000)
        assert_error(response, 400, ("invalid_request", "malformed_json"))


@pytest.mark.parametrize("field", ["amount_cents", "fee", "from_balance", "status"])
def test_unknown_payment_field_is_400_invalid_request_naming_it(writer, bob, alice, field):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, alice, **{field: "x"}))
        assert_error(response, 400, "invalid_request", field)


@pytest.mark.parametrize("field", ["from_account", "to_account", "amount"])
def test_missing_required_payment_field_is_400_invalid_request(writer, bob, alice, field):
    body = transfer(bob, alice)
    del body[field]
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", body)
        assert_error(response, 400, "invalid_request", field)


# --- payments: amounts (422) -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yen_pair(writer, admin) -> tuple[str, str]:
    return open_account(writer, admin, {"JPY": "1000"}), open_account(writer, admin, currencies=["JPY"])


@pytest.mark.parametrize("raw_amount", ['"1.001"', "1.001", '"0.005"', '"99.999"'])
def test_amount_with_more_decimals_than_the_currency_is_422(writer, bob, alice, raw_amount):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", raw=raw_body(transfer(bob, alice), amount=raw_amount))
        assert_error(response, 422, "validation_error", "amount")


@pytest.mark.parametrize("raw_amount", ['"1.5"', "1.5", '"0.1"'])
def test_amount_with_decimals_in_a_currency_without_minor_units_is_422(writer, yen_pair, raw_amount):
    sender, receiver = yen_pair
    with leaves_nothing_behind(writer, sender, receiver):
        response = writer.post("/api/v1/payments", raw=raw_body(transfer(sender, receiver), amount=raw_amount))
        assert_error(response, 422, "validation_error", "amount")


@pytest.mark.parametrize("raw_amount", ['"0"', '"0.00"', '"-0.00"', '"-1"', '"-0.01"', "0", "-5", "0.0"])
def test_amount_must_be_greater_than_zero(writer, bob, alice, raw_amount):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", raw=raw_body(transfer(bob, alice), amount=raw_amount))
        assert_error(response, 422, "validation_error", "amount")


HUGE_AMOUNTS = [
    '"1000000000000000.01"',
    '"1000000000000001"',
    '"' + "9" * 40 + '"',
    str(10**16),
    "1e400",
    "1" + "0" * 5000,
]


@pytest.mark.parametrize("raw_amount", HUGE_AMOUNTS, ids=[a[:24] for a in HUGE_AMOUNTS])
def test_amount_over_10_to_the_15_major_units_is_422(writer, bob, alice, raw_amount):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", raw=raw_body(transfer(bob, alice), amount=raw_amount))
        assert_error(response, 422, "validation_error", "amount")


def test_amount_of_exactly_10_to_the_15_major_units_is_valid(writer, bob, alice):
    response = writer.post("/api/v1/payments", transfer(bob, alice, amount="1000000000000000.00"), wait=20)
    assert response.status == 201, response.body
    assert response.body["amount"] == "1000000000000000.00"
    assert response.body["failure_code"] == "insufficient_funds"


NOT_PLAIN_DECIMALS = [
    "NaN", "nan", "Infinity", "-Infinity", "1e5", "1E5", "abc", " 1", "1 ", "1\n", "\t1", "",
    "1.", ".5", "+1", "1,00", "0x10", "1_000", "1.0.0", "\u0661", "\uff11", "1/2"
]  # fmt: skip


@pytest.mark.parametrize("amount", NOT_PLAIN_DECIMALS, ids=[repr(a) for a in NOT_PLAIN_DECIMALS])
def test_amount_that_is_not_a_plain_decimal_string_is_422(writer, bob, alice, amount):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, alice, amount=amount))
        assert_error(response, 422, "validation_error", "amount")


@pytest.mark.parametrize("raw_amount", ["1e-2000000", "1e-1000000", '"0.000000001"', "1E-70"])
def test_amount_smaller_than_one_minor_unit_is_422(writer, bob, alice, raw_amount):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", raw=raw_body(transfer(bob, alice), amount=raw_amount))
        assert_error(response, 422, "validation_error", "amount")


def test_description_over_500_characters_is_422(writer, bob, alice):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, alice, description="x" * 501))
        assert_error(response, 422, "validation_error", "description")


# --- payments: rules (422) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["from_account", "to_account"])
def test_unknown_account_on_either_side_is_422_naming_the_field(writer, bob, alice, field):
    body = transfer(bob, alice, **{field: unique("nobody")})
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", body)
        assert_error(response, 422, "validation_error", field)


@pytest.mark.parametrize("field", ["from_account", "to_account"])
def test_system_account_cannot_be_a_transfer_party(writer, bob, alice, field):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, alice, **{field: "@system"}))
        assert_error(response, 422, "validation_error", field)


@pytest.mark.parametrize(
    ("field", "code"), [("currency", "XYZ"), ("currency", "php"), ("currency", ""), ("to_currency", "XYZ")]
)
def test_unknown_currency_is_422_unknown_currency(writer, bob, alice, field, code):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, alice, **{field: code}))
        assert_error(response, 422, "unknown_currency")


def test_payment_from_a_balance_to_itself_is_422_same_balance(writer, bob, alice):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, bob, currency="PHP"))
        assert_error(response, 422, "same_balance")


def test_receiver_without_a_balance_in_the_currency_is_422_currency_mismatch(writer, admin, bob):
    dollars_only = open_account(writer, admin, currencies=["USD"])
    with leaves_nothing_behind(writer, bob, dollars_only):
        response = writer.post("/api/v1/payments", transfer(bob, dollars_only))
        assert_error(response, 422, "currency_mismatch")


def test_sender_without_a_balance_in_the_named_currency_is_422_currency_mismatch(writer, admin, bob):
    both = open_account(writer, admin, currencies=["PHP", "USD"])
    with leaves_nothing_behind(writer, bob, both):
        response = writer.post("/api/v1/payments", transfer(bob, both, currency="USD"))
        assert_error(response, 422, "currency_mismatch")


def test_sender_with_two_balances_and_no_currency_is_422_currency_required(writer, admin, alice):
    sender = open_account(writer, admin, {"PHP": "5.00", "USD": "5.00"})
    with leaves_nothing_behind(writer, sender, alice):
        response = writer.post("/api/v1/payments", transfer(sender, alice))
        assert_error(response, 422, "currency_required")


@pytest.mark.parametrize("side", ["from_account", "to_account"])
def test_inactive_account_is_422_account_inactive(writer, admin, side):
    sender, receiver = open_account(writer, admin, {"PHP": "5.00"}), open_account(writer, admin, currencies=["PHP"])
    deactivate_account(admin, sender if side == "from_account" else receiver)
    with leaves_nothing_behind(writer, sender, receiver):
        response = writer.post("/api/v1/payments", transfer(sender, receiver))
        assert_error(response, 422, "account_inactive")


@pytest.mark.parametrize("side", ["from_account", "to_account"])
def test_inactive_balance_is_422_balance_inactive(writer, admin, side):
    sender, receiver = open_account(writer, admin, {"PHP": "5.00"}), open_account(writer, admin, currencies=["PHP"])
    deactivate_balance(admin, sender if side == "from_account" else receiver, "PHP")
    with leaves_nothing_behind(writer, sender, receiver):
        response = writer.post("/api/v1/payments", transfer(sender, receiver, currency="PHP"))
        assert_error(response, 422, "balance_inactive")


def test_exchange_without_a_rate_is_422_rate_unavailable(writer, admin, bob):
    # Nobody ever sets a PHP -> MNT rate in the tests.
    receiver = open_account(writer, admin, currencies=["MNT"])
    with leaves_nothing_behind(writer, bob, receiver):
        response = writer.post("/api/v1/payments", transfer(bob, receiver, currency="PHP", to_currency="MNT"))
        assert_error(response, 422, "rate_unavailable")


# A NUL character is refused as a bad value (422) or a bad shape (400), but
# never reaches a database that cannot store it (PostgreSQL text).
def test_nul_character_in_an_account_reference_is_refused_not_500(writer, bob, alice):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, "alice\u0000"))
        assert response.status in (400, 422), (response.status, response.body)
        assert_error(response, response.status, ("invalid_request", "validation_error"), "to_account")


def test_nul_character_in_a_currency_is_refused_not_500(writer, bob, alice):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, alice, currency="PH\u0000"))
        assert response.status in (400, 422), (response.status, response.body)
        assert_error(response, response.status, ("invalid_request", "unknown_currency"))


@pytest.mark.parametrize("codes", [["\u0000\u00fb"], ["PHP", "US\u0000D"]])
def test_nul_character_in_a_list_of_currencies_is_400_naming_the_list(writer, codes):
    response = writer.post("/api/v1/accounts", {"owner": "Nul", "currencies": codes})
    assert_error(response, 400, "invalid_request", "currencies")


# --- bodies over 64 KiB (413) ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/payments", "/api/v1/deposits", "/api/v1/accounts", "/api/v1/currencies"])
def test_body_over_64_kib_is_413_body_too_large(admin, bob, alice, path):
    with leaves_nothing_behind(admin, bob, alice):
        response = admin.post(path, transfer(bob, alice, description="x" * (64 * 1024)))
        assert_error(response, 413, "body_too_large")


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 4 * 1024 * 1024])
def test_body_of_megabytes_is_413_body_too_large(admin, bob, alice, size):
    with leaves_nothing_behind(admin, bob, alice):
        try:
            response = admin.post("/api/v1/payments", raw=b'{"description": "' + b"x" * size + b'"}')
        except ConnectionError as problem:
            pytest.fail(f"the server dropped the connection instead of answering 413: {problem!r}")
        assert_error(response, 413, "body_too_large")


# --- deposits and withdrawals ----------------------------------------------------------------------------------------

CASH_WRONG_TYPES = [("account", 7), ("currency", ["PHP"]), ("amount", False), ("amount", {"v": 1}), ("description", [])]


@pytest.mark.parametrize("path", CASH_PATHS)
@pytest.mark.parametrize(("field", "value"), CASH_WRONG_TYPES, ids=[f"{f}={v!r}" for f, v in CASH_WRONG_TYPES])
def test_cash_field_of_wrong_json_type_is_400_invalid_request(admin, bob, path, field, value):
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, cash(bob, **{field: value}))
        assert_error(response, 400, "invalid_request", field)


@pytest.mark.parametrize("path", CASH_PATHS)
def test_cash_malformed_json_is_400_malformed_json(admin, bob, path):
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, raw=b'{"account": "x", ')
        assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize("path", CASH_PATHS)
def test_cash_body_that_is_not_an_object_is_400_invalid_request(admin, bob, path):
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, [cash(bob)])
        assert_error(response, 400, "invalid_request", "body")


@pytest.mark.parametrize("path", CASH_PATHS)
def test_cash_unknown_field_is_400_invalid_request_naming_it(admin, bob, path):
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, cash(bob, to_account=bob))
        assert_error(response, 400, "invalid_request", "to_account")


@pytest.mark.parametrize("path", CASH_PATHS)
@pytest.mark.parametrize("field", ["account", "currency", "amount"])
def test_cash_missing_required_field_is_400_invalid_request(admin, bob, path, field):
    body = cash(bob)
    del body[field]
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, body)
        assert_error(response, 400, "invalid_request", field)


CASH_BAD_AMOUNTS = [
    '"1.001"',
    "1.001",
    '"0"',
    '"-1.00"',
    '"1000000000000000.01"',
    "1e16",
    '"NaN"',
    '"1e5"',
    '" 1"',
    '""',
]


@pytest.mark.parametrize("path", CASH_PATHS)
@pytest.mark.parametrize("raw_amount", CASH_BAD_AMOUNTS)
def test_cash_invalid_amount_is_422_validation_error(admin, bob, path, raw_amount):
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, raw=raw_body(cash(bob), amount=raw_amount))
        assert_error(response, 422, "validation_error", "amount")


@pytest.mark.parametrize("path", CASH_PATHS)
@pytest.mark.parametrize("account", ["@system", "nobody-at-all", ""])
def test_cash_for_an_account_that_is_no_customer_is_422_naming_it(admin, bob, path, account):
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, cash(account))
        assert_error(response, 422, "validation_error", "account")


@pytest.mark.parametrize("path", CASH_PATHS)
@pytest.mark.parametrize("code", ["XYZ", "php", ""])
def test_cash_in_an_unknown_currency_is_422_unknown_currency(admin, bob, path, code):
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, cash(bob, currency=code))
        assert_error(response, 422, "unknown_currency")


@pytest.mark.parametrize("path", CASH_PATHS)
def test_cash_in_a_currency_the_account_does_not_hold_is_422_currency_mismatch(admin, bob, path):
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, cash(bob, currency="USD"))
        assert_error(response, 422, "currency_mismatch")


@pytest.mark.parametrize("path", CASH_PATHS)
def test_cash_for_an_inactive_account_is_422_account_inactive(writer, admin, path):
    account = open_account(writer, admin, {"PHP": "5.00"})
    deactivate_account(admin, account)
    with leaves_nothing_behind(admin, account):
        response = admin.post(path, cash(account))
        assert_error(response, 422, "account_inactive")


@pytest.mark.parametrize("path", CASH_PATHS)
def test_cash_for_an_inactive_balance_is_422_balance_inactive(writer, admin, path):
    account = open_account(writer, admin, {"PHP": "5.00"})
    deactivate_balance(admin, account, "PHP")
    with leaves_nothing_behind(admin, account):
        response = admin.post(path, cash(account))
        assert_error(response, 422, "balance_inactive")


@pytest.mark.parametrize("path", CASH_PATHS)
def test_cash_body_over_64_kib_is_413_body_too_large(admin, bob, path):
    with leaves_nothing_behind(admin, bob):
        response = admin.post(path, cash(bob, description="x" * (64 * 1024)))
        assert_error(response, 413, "body_too_large")


# --- accounts --------------------------------------------------------------------------------------------------------


@contextmanager
def no_account_created(api, account_id: str):
    with leaves_nothing_behind(api, account_id):
        yield
    assert api.get(f"/api/v1/accounts/{account_id}").status == 404


BAD_ACCOUNT_IDS = ["", "-leading-dash", "_x", ".x", "a" * 65, "has space", "sl/ash", "@system", "\u00fcber"]


@pytest.mark.parametrize("account_id", BAD_ACCOUNT_IDS, ids=[repr(a[:12]) for a in BAD_ACCOUNT_IDS])
def test_account_id_must_match_the_pattern(writer, account_id):
    before = newest_seq(writer)
    response = writer.post("/api/v1/accounts", {"id": account_id, "owner": "Owner"})
    assert_error(response, 422, "validation_error", "id")
    assert newest_seq(writer) == before


def test_account_id_with_a_nul_character_is_refused_as_a_malformed_string(writer):
    before = newest_seq(writer)
    response = writer.post("/api/v1/accounts", {"id": "a\u0000b", "owner": "Owner"})
    assert_error(response, 400, "invalid_request", "id")
    assert newest_seq(writer) == before


def test_account_id_of_64_characters_is_valid(writer):
    account_id = ("a.-_" + uuid.uuid4().hex + "b" * 64)[:64]
    response = writer.post("/api/v1/accounts", {"id": account_id, "owner": "Owner"})
    assert response.status == 201 and response.body["id"] == account_id


def test_duplicate_account_id_is_409_account_exists(writer, bob):
    with leaves_nothing_behind(writer, bob):
        response = writer.post("/api/v1/accounts", {"id": bob, "owner": "Someone Else", "currencies": ["USD"]})
        assert_error(response, 409, "account_exists")


@pytest.mark.parametrize("owner", ["", "   ", "x" * 201])
def test_account_owner_must_be_a_non_empty_name(writer, owner):
    account_id = unique()
    with no_account_created(writer, account_id):
        response = writer.post("/api/v1/accounts", {"id": account_id, "owner": owner})
        assert_error(response, 422, "validation_error", "owner")


def test_account_without_owner_is_400_invalid_request(writer):
    account_id = unique()
    with no_account_created(writer, account_id):
        response = writer.post("/api/v1/accounts", {"id": account_id, "email": "a@example.com"})
        assert_error(response, 400, "invalid_request", "owner")


@pytest.mark.parametrize("email", ["nope", "a@b", "@example.com", "a b@example.com", "", "a@" + "x" * 260 + ".com"])
def test_account_email_must_be_an_address(writer, email):
    account_id = unique()
    with no_account_created(writer, account_id):
        response = writer.post("/api/v1/accounts", {"id": account_id, "owner": "Owner", "email": email})
        assert_error(response, 422, "validation_error", "email")


@pytest.mark.parametrize("currencies", [["XYZ"], ["PHP", "XYZ"], ["php"]])
def test_account_with_unknown_currency_is_422_unknown_currency(writer, currencies):
    account_id = unique()
    with no_account_created(writer, account_id):
        response = writer.post("/api/v1/accounts", {"id": account_id, "owner": "Owner", "currencies": currencies})
        assert_error(response, 422, "unknown_currency")


def test_account_with_a_currency_twice_is_422_validation_error(writer):
    account_id = unique()
    with no_account_created(writer, account_id):
        response = writer.post("/api/v1/accounts", {"id": account_id, "owner": "Owner", "currencies": ["PHP", "PHP"]})
        assert_error(response, 422, "validation_error", "currencies")


ACCOUNT_WRONG_TYPES = [("id", 5), ("owner", ["Bob"]), ("email", True), ("currencies", "PHP"), ("currencies", [1])]


@pytest.mark.parametrize(("field", "value"), ACCOUNT_WRONG_TYPES, ids=[f"{f}={v!r}" for f, v in ACCOUNT_WRONG_TYPES])
def test_account_field_of_wrong_json_type_is_400_invalid_request(writer, field, value):
    account_id = unique()
    body = {"id": account_id, "owner": "Owner", field: value}
    with no_account_created(writer, account_id):
        response = writer.post("/api/v1/accounts", body)
        assert_error(response, 400, "invalid_request", field)


def test_account_unknown_field_is_400_invalid_request_naming_it(writer):
    account_id = unique()
    with no_account_created(writer, account_id):
        response = writer.post("/api/v1/accounts", {"id": account_id, "owner": "Owner", "active": False, "tier": 1})
        assert_error(response, 400, "invalid_request", "active", "tier")


def test_nul_character_in_an_owner_is_never_a_500(writer):
    response = writer.post("/api/v1/accounts", {"id": unique(), "owner": "Nul\u0000Owner"})
    assert response.status in (201, 400, 422), (response.status, response.body)


# --- balances --------------------------------------------------------------------------------------------------------


def test_duplicate_balance_is_409_balance_exists(writer, bob):
    with leaves_nothing_behind(writer, bob):
        response = writer.post(f"/api/v1/accounts/{bob}/balances", {"currency": "PHP"})
        assert_error(response, 409, "balance_exists")


@pytest.mark.parametrize("code", ["XYZ", "php", ""])
def test_balance_in_an_unknown_currency_is_422_unknown_currency(writer, bob, code):
    with leaves_nothing_behind(writer, bob):
        response = writer.post(f"/api/v1/accounts/{bob}/balances", {"currency": code})
        assert_error(response, 422, "unknown_currency")


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "currency"), ({"currency": 978}, "currency"), ({"currency": "EUR", "amount": "5"}, "amount")],
)
def test_balance_request_of_wrong_shape_is_400_invalid_request(writer, bob, body, field):
    with leaves_nothing_behind(writer, bob):
        response = writer.post(f"/api/v1/accounts/{bob}/balances", body)
        assert_error(response, 400, "invalid_request", field)


def test_balance_for_the_system_account_is_refused(admin, bob):
    with leaves_nothing_behind(admin, bob):
        response = admin.post("/api/v1/accounts/@system/balances", {"currency": "PHP"})
    assert 400 <= response.status < 500 and response.status != 201


# --- currencies ------------------------------------------------------------------------------------------------------


def currency_codes(api) -> set[str]:
    return {c["code"] for c in api.get("/api/v1/currencies", params={"limit": 500}).body["data"]}


BAD_CODES = ["btc", "AB", "ABCDEFGHIJK", "BT-C", "", "B\u00c9C"]


@pytest.mark.parametrize("code", BAD_CODES)
def test_currency_code_must_be_3_to_10_upper_case_letters_or_digits(admin, code):
    before = newest_seq(admin)
    response = admin.post("/api/v1/currencies", {"code": code, "name": "Coin", "exponent": 8})
    assert_error(response, 422, "validation_error", "code")
    assert newest_seq(admin) == before and code not in currency_codes(admin)


@pytest.mark.parametrize("exponent", [-1, 19, 100])
def test_currency_exponent_must_be_0_to_18(admin, exponent):
    code = "T" + uuid.uuid4().hex[:8].upper()
    before = newest_seq(admin)
    response = admin.post("/api/v1/currencies", {"code": code, "name": "Coin", "exponent": exponent})
    assert_error(response, 422, "validation_error", "exponent")
    assert newest_seq(admin) == before and code not in currency_codes(admin)


@pytest.mark.parametrize("name", ["", "   ", "n" * 101])
def test_currency_name_must_be_non_empty(admin, name):
    code = "T" + uuid.uuid4().hex[:8].upper()
    response = admin.post("/api/v1/currencies", {"code": code, "name": name, "exponent": 2})
    assert_error(response, 422, "validation_error", "name")
    assert code not in currency_codes(admin)


def test_duplicate_currency_is_409_currency_exists(admin):
    before = newest_seq(admin)
    response = admin.post("/api/v1/currencies", {"code": "PHP", "name": "Another Peso", "exponent": 2})
    assert_error(response, 409, "currency_exists")
    assert newest_seq(admin) == before
    php = next(c for c in admin.get("/api/v1/currencies", params={"limit": 500}).body["data"] if c["code"] == "PHP")
    assert php["name"] != "Another Peso" and php["custom"] is False


CURRENCY_BAD_SHAPES = [
    ({"code": "TOKA", "name": "Coin", "exponent": "8"}, "exponent"),
    ({"code": "TOKA", "name": "Coin", "exponent": 8.5}, "exponent"),
    ({"code": "TOKA", "name": "Coin", "exponent": True}, "exponent"),
    ({"code": 1234, "name": "Coin", "exponent": 8}, "code"),
    ({"code": "TOKA", "exponent": 8}, "name"),
    ({"code": "TOKA", "name": "Coin", "exponent": 8, "symbol": "T"}, "symbol"),
]


@pytest.mark.parametrize(("body", "field"), CURRENCY_BAD_SHAPES, ids=[f for _, f in CURRENCY_BAD_SHAPES])
def test_currency_request_of_wrong_shape_is_400_invalid_request(admin, body, field):
    response = admin.post("/api/v1/currencies", body)
    assert_error(response, 400, "invalid_request", field)
    assert "TOKA" not in currency_codes(admin)


# --- PATCH accounts and balances -------------------------------------------------------------------------------------

ACCOUNT_PATCH_BAD_SHAPES = [
    ({"active": "false"}, "active"),
    ({"active": 0}, "active"),
    ({"owner": 5}, "owner"),
    ({"email": ["a@example.com"]}, "email"),
    ({"id": "renamed"}, "id"),
    ({"balances": []}, "balances"),
]


@pytest.mark.parametrize(("body", "field"), ACCOUNT_PATCH_BAD_SHAPES, ids=[f"{b}" for b, _ in ACCOUNT_PATCH_BAD_SHAPES])
def test_account_patch_of_wrong_shape_is_400_invalid_request(admin, bob, body, field):
    with leaves_nothing_behind(admin, bob):
        response = admin.patch(f"/api/v1/accounts/{bob}", body)
        assert_error(response, 400, "invalid_request", field)


@pytest.mark.parametrize(("body", "field"), [({"owner": ""}, "owner"), ({"email": "nope"}, "email")])
def test_account_patch_breaking_a_rule_is_422(admin, bob, body, field):
    with leaves_nothing_behind(admin, bob):
        response = admin.patch(f"/api/v1/accounts/{bob}", body)
        assert_error(response, 422, "validation_error", field)


@pytest.mark.parametrize("raw", [b"[]", b"{", b""])
def test_account_patch_without_an_object_is_400(admin, bob, raw):
    with leaves_nothing_behind(admin, bob):
        response = admin.patch(f"/api/v1/accounts/{bob}", raw=raw)
        assert_error(response, 400, ("invalid_request", "malformed_json"))


BALANCE_PATCH_BAD_SHAPES = [
    ({}, "active"),
    ({"active": "no"}, "active"),
    ({"active": 1}, "active"),
    ({"active": False, "amount": "1000.00"}, "amount"),
    ({"currency": "USD"}, "currency"),
]


@pytest.mark.parametrize(("body", "field"), BALANCE_PATCH_BAD_SHAPES, ids=[f"{b}" for b, _ in BALANCE_PATCH_BAD_SHAPES])
def test_balance_patch_of_wrong_shape_is_400_invalid_request(admin, bob, bob_balance, body, field):
    with leaves_nothing_behind(admin, bob):
        response = admin.patch(f"/api/v1/balances/{bob_balance}", body)
        assert_error(response, 400, "invalid_request", field)


# --- lists -----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def list_paths(bob, bob_balance) -> dict[str, str]:
    return {
        "accounts": "/api/v1/accounts",
        "payments": "/api/v1/payments",
        "account_payments": f"/api/v1/accounts/{bob}/payments",
        "balance_entries": f"/api/v1/balances/{bob_balance}/entries",
        "events": "/api/v1/events",
        "currencies": "/api/v1/currencies",
    }


LISTS = ["accounts", "payments", "account_payments", "balance_entries", "events", "currencies"]
PAGINATED = [name for name in LISTS if name != "currencies"]


@pytest.mark.parametrize("limit", ["0", "501", "x", "-1", "1.5", "", "\u00b2", "1e2"])
@pytest.mark.parametrize("name", LISTS)
def test_list_limit_outside_1_to_500_is_400(reader, list_paths, name, limit):
    response = reader.get(list_paths[name], params={"limit": limit})
    assert_error(response, 400, "invalid_request", "limit")


MALFORMED_CURSORS = [
    "!!!",
    "",
    "not base64 at all",
    cursor_of({}),
    cursor_of([]),
    cursor_of([1, 2, 3]),
    cursor_of([None]),
]


@pytest.mark.parametrize("cursor", MALFORMED_CURSORS)
@pytest.mark.parametrize("name", PAGINATED)
def test_list_with_a_malformed_cursor_is_400_invalid_cursor(reader, list_paths, name, cursor):
    response = reader.get(list_paths[name], params={"cursor": cursor})
    assert_error(response, 400, "invalid_cursor")


FORGED_CURSORS = [
    cursor_of(["x"]),
    cursor_of([1]),
    cursor_of(["not a date", "x"]),
    cursor_of([1, 2]),
    cursor_of([10**30]),
    cursor_of(["2024-01-01T00:00:00", 5]),
]


@pytest.mark.parametrize("cursor", FORGED_CURSORS)
@pytest.mark.parametrize("name", PAGINATED)
def test_list_with_a_cursor_it_never_gave_out_is_never_a_500(reader, list_paths, name, cursor):
    response = reader.get(list_paths[name], params={"cursor": cursor})
    if response.status != 200:
        assert_error(response, 400, "invalid_cursor")


@pytest.mark.parametrize(
    ("name", "param"),
    [
        ("payments", "status"),
        ("payments", "kind"),
        ("payments", "order"),
        ("account_payments", "status"),
        ("account_payments", "kind"),
        ("events", "order"),
    ],
)
@pytest.mark.parametrize("value", ["bogus", "PENDING", ""])
def test_list_filter_outside_its_choices_is_400(reader, list_paths, name, param, value):
    response = reader.get(list_paths[name], params={param: value})
    assert_error(response, 400, "invalid_request", param)


@pytest.mark.parametrize("param", ["created_after", "created_before"])
@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-01-01T25:00:00", "1700000000x", "01/02/2024"])
def test_payment_list_date_that_is_not_iso_8601_is_400(reader, list_paths, param, value):
    response = reader.get(list_paths["payments"], params={param: value})
    assert_error(response, 400, "invalid_request", param)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_payment_list_date_at_the_edge_of_the_calendar_is_never_a_500(reader, list_paths, value):
    response = reader.get(list_paths["payments"], params={"created_after": value})
    if response.status != 200:
        assert_error(response, 400, "invalid_request", "created_after")


@pytest.mark.parametrize("name", ["accounts", "currencies"])
@pytest.mark.parametrize("value", ["yes", "1", "TRUE", ""])
def test_list_active_filter_that_is_not_true_or_false_is_400(reader, list_paths, name, value):
    response = reader.get(list_paths[name], params={"active": value})
    assert_error(response, 400, "invalid_request", "active")


@pytest.mark.parametrize("after", ["x", "-1", "1.5", "", "\u00b2"])
def test_events_after_that_is_not_a_sequence_number_is_400(reader, after):
    response = reader.get("/api/v1/events", params={"after": after})
    assert_error(response, 400, "invalid_request", "after")


def test_events_after_beyond_any_sequence_number_is_never_a_500(reader):
    response = reader.get("/api/v1/events", params={"after": str(10**30)})
    if response.status == 200:
        assert response.body["data"] == []
    else:
        assert_error(response, 400, "invalid_request", "after")


# --- not found and wrong methods -------------------------------------------------------------------------------------

UNKNOWN_IDS = [
    ("get", "/api/v1/accounts/nobody-here", None),
    ("get", "/api/v1/accounts/nobody-here/payments", None),
    ("post", "/api/v1/accounts/nobody-here/balances", {"currency": "PHP"}),
    ("patch", "/api/v1/accounts/nobody-here", {"owner": "X"}),
    ("get", "/api/v1/balances/bal_nothing", None),
    ("get", "/api/v1/balances/bal_nothing/entries", None),
    ("patch", "/api/v1/balances/bal_nothing", {"active": False}),
    ("get", "/api/v1/payments/pay_nothing", None),
    ("get", "/api/v1/accounts/a%00b", None),
    ("get", "/api/v1/balances/b%00", None),
    ("get", "/api/v1/payments/p%00", None),
]


@pytest.mark.parametrize(("method", "path", "body"), UNKNOWN_IDS, ids=[f"{m} {p}" for m, p, _ in UNKNOWN_IDS])
def test_unknown_id_is_404_not_found(admin, method, path, body):
    before = newest_seq(admin)
    response = getattr(admin, method)(path, body) if body is not None else getattr(admin, method)(path)
    assert_error(response, 404, "not_found")
    assert newest_seq(admin) == before


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing", "/api/v1/accounts/x/nothing", "/api/v2/accounts", "/api/v1/payments/x/y/z"]
)
def test_unknown_path_is_404_with_the_json_error_shape(reader, path):
    assert_error(reader.get(path), 404, "not_found")


def test_undecodable_path_is_a_json_4xx(reader):
    response = reader.get("/api/v1/accounts/%ff%fe")
    assert response.status in (400, 404), (response.status, response.raw[:200])
    assert_error(response, response.status, ("bad_request", "invalid_request", "not_found"))


WRONG_METHODS = [
    ("DELETE", "/api/v1/accounts"),
    ("PUT", "/api/v1/accounts/x"),
    ("PUT", "/api/v1/payments"),
    ("PATCH", "/api/v1/payments"),
    ("DELETE", "/api/v1/payments/x"),
    ("POST", "/api/v1/events"),
    ("GET", "/api/v1/deposits"),
    ("DELETE", "/api/v1/currencies"),
    ("POST", "/api/v1/audit"),
]


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS, ids=[f"{m} {p}" for m, p in WRONG_METHODS])
def test_method_a_path_does_not_have_is_405_with_the_json_error_shape(admin, method, path):
    before = newest_seq(admin)
    response = admin.request(method, path, None if method in ("GET", "DELETE") else {})
    assert_error(response, 405, "method_not_allowed")
    assert newest_seq(admin) == before


# --- idempotency -----------------------------------------------------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_payment_in_its_current_state(writer, admin):
    sender, receiver = open_account(writer, admin, {"PHP": "10.00"}), open_account(writer, admin, currencies=["PHP"])
    body, key = transfer(sender, receiver, amount="2.50"), {"Idempotency-Key": unique("key")}
    first = writer.post("/api/v1/payments", body, headers=key)
    assert first.status in (201, 202), first.body
    assert first.header("idempotent-replayed") is None
    path = f"/api/v1/payments/{first.body['id']}"
    assert wait_until(lambda: writer.get(path).body["status"] == "completed")
    with leaves_nothing_behind(writer, sender, receiver):
        again = writer.post("/api/v1/payments", dict(reversed(list(body.items()))), headers=key)
    assert again.status == 200, again.body
    assert again.header("idempotent-replayed") == "true"
    assert again.body["id"] == first.body["id"] and again.body["status"] == "completed"
    assert [p["payment_id"] for p in writer.get(f"/api/v1/accounts/{receiver}/payments").body["data"]] == [
        first.body["id"]
    ]


def test_same_idempotency_key_with_another_body_is_409_idempotency_conflict(writer, admin):
    sender, receiver = open_account(writer, admin, {"PHP": "10.00"}), open_account(writer, admin, currencies=["PHP"])
    key = {"Idempotency-Key": unique("key")}
    first = writer.post("/api/v1/payments", transfer(sender, receiver, amount="1.00"), headers=key, wait=20)
    assert first.status == 201, first.body
    with leaves_nothing_behind(writer, sender, receiver):
        response = writer.post("/api/v1/payments", transfer(sender, receiver, amount="2.00"), headers=key)
        assert_error(response, 409, "idempotency_conflict")


def test_idempotency_key_over_255_characters_is_400(writer, bob, alice):
    with leaves_nothing_behind(writer, bob, alice):
        response = writer.post("/api/v1/payments", transfer(bob, alice), headers={"Idempotency-Key": "k" * 256})
        assert_error(response, 400, "invalid_idempotency_key")


def test_idempotency_key_of_255_characters_is_accepted(writer, admin):
    sender, receiver = open_account(writer, admin, {"PHP": "10.00"}), open_account(writer, admin, currencies=["PHP"])
    key = {"Idempotency-Key": uuid.uuid4().hex + "k" * 223}
    response = writer.post("/api/v1/payments", transfer(sender, receiver), headers=key, wait=20)
    assert response.status == 201 and response.body["status"] == "completed", response.body


def test_idempotency_keys_are_kept_per_token(writer, admin):
    sender, receiver = open_account(writer, admin, {"PHP": "10.00"}), open_account(writer, admin, currencies=["PHP"])
    other_writer = writer.with_token(issue_token("write"))
    body, key = transfer(sender, receiver), {"Idempotency-Key": unique("shared-key")}
    first = writer.post("/api/v1/payments", body, headers=key, wait=20)
    second = other_writer.post("/api/v1/payments", body, headers=key, wait=20)
    assert (first.status, second.status) == (201, 201), (first.body, second.body)
    assert second.header("idempotent-replayed") is None
    assert first.body["id"] != second.body["id"]
    history = writer.get(f"/api/v1/accounts/{receiver}/payments").body["data"]
    assert sorted(p["payment_id"] for p in history) == sorted([first.body["id"], second.body["id"]])


def test_refused_request_does_not_use_up_its_idempotency_key(writer, admin):
    sender, receiver = open_account(writer, admin, {"PHP": "10.00"}), open_account(writer, admin, currencies=["PHP"])
    key = {"Idempotency-Key": unique("key")}
    with leaves_nothing_behind(writer, sender, receiver):
        refused = writer.post("/api/v1/payments", transfer(sender, receiver, amount="0"), headers=key)
    assert_error(refused, 422, "validation_error", "amount")
    accepted = writer.post("/api/v1/payments", transfer(sender, receiver, amount="3.00"), headers=key, wait=20)
    assert accepted.status == 201 and accepted.header("idempotent-replayed") is None, accepted.body


# --- every response: the error shape and X-Request-Id ----------------------------------------------------------------

# (caller, method, path, body or query, status, error code)
EVERY_KIND_OF_ERROR: list[tuple[str, str, str, object, int, str]] = [
    ("anonymous", "GET", "/api/v1/accounts", None, 401, "unauthorized"),
    ("reader", "POST", "/api/v1/payments", {}, 403, "forbidden"),
    ("reader", "GET", "/api/v1/payments/pay_nothing", None, 404, "not_found"),
    ("reader", "GET", "/api/v1/nothing", None, 404, "not_found"),
    ("reader", "DELETE", "/api/v1/accounts", None, 405, "method_not_allowed"),
    ("writer", "POST", "/api/v1/accounts", {"owner": ""}, 422, "validation_error"),
    ("writer", "POST", "/api/v1/payments", [], 400, "invalid_request"),
    ("writer", "GET", "/api/v1/payments", {"limit": "0"}, 400, "invalid_request"),
    ("admin", "POST", "/api/v1/currencies", {"code": "PHP", "name": "Peso", "exponent": 2}, 409, "currency_exists"),
    ("writer", "POST", "/api/v1/payments", {"description": "x" * 70000}, 413, "body_too_large"),
]


@pytest.mark.usefixtures("gateway")  # the callers are fixtures found by name below
@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status", "code"),
    EVERY_KIND_OF_ERROR,
    ids=[f"{s} {m} {p}" for _, m, p, _, s, _ in EVERY_KIND_OF_ERROR],
)
def test_every_error_has_the_one_error_shape_and_echoes_the_request_id(request, who, method, path, body, status, code):
    api = request.getfixturevalue(who)
    request_id = f"test-{uuid.uuid4().hex}"
    if method == "GET":
        response = api.request(method, path, params=body, headers={"X-Request-Id": request_id})
    else:
        response = api.request(method, path, body, headers={"X-Request-Id": request_id})
    assert_error(response, status, code)
    assert response.header("x-request-id") == request_id


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api", "/api/v1", "/api/v1/accounts", "/api/v1/events"])
def test_every_response_carries_a_request_id_echoed_when_sent(reader, path):
    fresh = reader.get(path)
    assert fresh.status == 200 and fresh.header("x-request-id")
    assert reader.get(path).header("x-request-id") != fresh.header("x-request-id")
    request_id = f"test-{uuid.uuid4().hex}"
    assert reader.get(path, headers={"X-Request-Id": request_id}).header("x-request-id") == request_id
