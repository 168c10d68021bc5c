"""Accounts and their balances, one balance per currency."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from peewee import (
    BooleanField,
    CharField,
    CompositeKey,
    DateTimeField,
    ForeignKeyField,
    IntegrityError,
    TextField,
)

from .connection import BaseModel, database, utcnow
from .currency import Currency, exponent_of, validate_new_currency
from .dialect import MinorUnitsField, among, lock_rows
from .errors import ApiError, invalid
from .event import record_event
from .funds import SYSTEM_ACCOUNT, available
from .ids import new_id
from .metadata import account_metadata_rows, check_metadata, metadata_of, metadata_text
from .money import AmountError, format_amount, parse_signed_amount
from .rows import instances
from .serialize import account_json, balance_json, currency_json
from .validation import AMOUNT, CODES, check_shape

ACCOUNT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
OWNER_MAX_LENGTH = 200
# An owner is refused when it holds nothing but spaces.
OWNER_PATTERN = re.compile(r"\S")
EMAIL_MAX_LENGTH = 254
# Printable ASCII, no spaces: the address as mail systems exchange it.
EMAIL_PATTERN = re.compile(r"^[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+$")
REFERENCE_MAX_LENGTH = 128


class Account(BaseModel):
    id = CharField(max_length=64, primary_key=True)
    owner = CharField(max_length=OWNER_MAX_LENGTH)
    email = CharField(max_length=EMAIL_MAX_LENGTH, null=True)
    active = BooleanField(default=True)
    # The caller's own id for it, and its metadata as JSON text (migration 0009).
    reference = CharField(max_length=REFERENCE_MAX_LENGTH, null=True)
    metadata = TextField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    updated_at = DateTimeField(default=utcnow)

    if TYPE_CHECKING:
        # The backref of Balance.account, as Peewee makes it: a query, or a
        # list once prefetched.
        balances: Iterable[Balance]

    @property
    def is_system(self) -> bool:
        return self.id == SYSTEM_ACCOUNT


class AccountMetadata(BaseModel):
    """One key of an account's metadata, found by (key, value) in list order."""

    account = ForeignKeyField(Account, column_name="account_id", index=False)
    key = CharField(max_length=40)
    value = CharField(max_length=500)
    account_created_at = DateTimeField()

    class Meta:
        primary_key = CompositeKey("account", "key")


class Balance(BaseModel):
    id = CharField(max_length=32, primary_key=True)
    account = ForeignKeyField(Account, backref="balances", on_delete="RESTRICT")
    currency = ForeignKeyField(Currency, backref="balances", on_delete="RESTRICT")
    # The sum of its entries, and of its open holds (`models.funds`).
    amount = MinorUnitsField(default=0)
    held = MinorUnitsField(default=0)
    min_balance = MinorUnitsField(default=0)
    max_balance = MinorUnitsField(null=True)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    if TYPE_CHECKING:
        # The foreign keys' ids, as Peewee's accessors (made with the class)
        # give them; its stubs cannot declare them.
        account_id: str
        currency_id: str

    class Meta:
        indexes = ((("account", "currency"), True),)

    @classmethod
    def lock_for_update(cls, balance_ids: Iterable[str]) -> dict[str, Balance]:
        """Lock the given balances, always in id order so that two settlements
        touching the same balances can never wait on each other in a cycle."""
        query = cls.select().where(among(cls.id, sorted(set(balance_ids)))).order_by(cls.id)
        return {balance.id: balance for balance in instances(lock_rows(query))}


ACCOUNT_FIELDS: dict[str, object] = {"owner": str, "email": str, "reference": str, "metadata": dict}


def _account_fields(data: dict, creating: bool, metadata_now: dict[str, str] | None = None) -> dict:
    """The owner/email/reference/metadata/active values of a create or update
    request, checked; an update's metadata merged into `metadata_now`."""
    problems, clean = {}, {}
    if data.get("owner") is not None or creating:
        owner = data.get("owner") or ""
        if not OWNER_PATTERN.search(owner) or len(owner) > OWNER_MAX_LENGTH:
            problems["owner"] = f"must be a non-empty string of at most {OWNER_MAX_LENGTH} characters"
        clean["owner"] = owner.strip()
    if "email" in data:
        email = data["email"]
        if email is not None and (len(email) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.fullmatch(email)):
            problems["email"] = "must be an email address"
        clean["email"] = email
    if "reference" in data:
        reference = data["reference"]
        if reference is not None and not 1 <= len(reference) <= REFERENCE_MAX_LENGTH:
            problems["reference"] = f"must be 1 to {REFERENCE_MAX_LENGTH} characters"
        clean["reference"] = reference
    if data.get("metadata") is not None:
        try:
            clean["metadata"] = metadata_text(check_metadata(data["metadata"], None if creating else metadata_now))
        except ApiError as refusal:
            problems.update(refusal.fields or {})
    if data.get("active") is not None:
        clean["active"] = data["active"]
    if creating:
        account_id, currencies = data.get("id"), data.get("currencies") or []
        if account_id is not None and not ACCOUNT_ID_PATTERN.fullmatch(account_id):
            problems["id"] = "must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
        if len(set(currencies)) != len(currencies):
            problems["currencies"] = "must not name a currency twice"
    if problems:
        raise invalid(problems)
    return clean


def create_account(body: object) -> Account:
    """Open an account, with a zero balance in each currency asked for.
    Call inside a transaction."""
    data = check_shape(body, {"id": str, **ACCOUNT_FIELDS, "currencies": CODES}, required=("owner",))
    fields = _account_fields(data, creating=True)
    currencies = [_usable_currency(code) for code in data.get("currencies") or []]
    account_id = data.get("id") or new_id("acc")
    try:
        with database.atomic():
            account = Account.create(id=account_id, **fields)
    except IntegrityError:
        raise ApiError(409, "account_exists", f"account {account_id} already exists") from None
    _index_metadata(account)
    for currency in currencies:
        Balance.create(id=new_id("bal"), account=account, currency=currency)
    record_event("account.created", account_json(account, with_balances=True))
    return account


def update_account(account: Account, body: object) -> Account:
    """Change an account's owner, email, reference, metadata (merged: a key
    given null is removed) or active state."""
    data = check_shape(body, {**ACCOUNT_FIELDS, "active": bool})
    fields = _account_fields(data, creating=False, metadata_now=metadata_of(account.metadata))
    if account.is_system:
        raise ApiError(409, "system_account", "the @system account cannot be changed")
    changed = {name: value for name, value in fields.items() if getattr(account, name) != value}
    if "active" in changed:
        # Settlement locks the balances it moves and then reads whether their
        # accounts are active. Holding this account's balances too makes the
        # two take turns: a settlement in progress finishes first, and any
        # later one sees the new state. So once this commits, no payment of
        # the account completes after it.
        Balance.lock_for_update(b.id for b in Balance.select(Balance.id).where(Balance.account == account.id))
    if changed:
        for name, value in changed.items():
            setattr(account, name, value)
        account.updated_at = utcnow()
        account.save()
        if "metadata" in changed:
            AccountMetadata.delete().where(AccountMetadata.account == account.id).execute()
            _index_metadata(account)
        record_event("account.updated", account_json(account, with_balances=True))
    return account


def _index_metadata(account: Account) -> None:
    """The rows lists find the account by its metadata through."""
    rows = account_metadata_rows(account.id, account.created_at, metadata_of(account.metadata))
    if rows:
        AccountMetadata.insert_many(rows).execute()


def add_balance(account: Account, body: object) -> Balance:
    """Open a zero balance in a currency the account does not hold yet."""
    code = check_shape(body, {"currency": str}, required=("currency",))["currency"]
    currency = _usable_currency(code)
    if account.is_system:
        raise ApiError(409, "system_account", "the @system account cannot be changed")
    try:
        with database.atomic():
            balance = Balance.create(id=new_id("bal"), account=account, currency=currency)
    except IntegrityError:
        raise ApiError(409, "balance_exists", f"{account.id} already has a {code} balance") from None
    record_event("balance.created", balance_json(balance))
    return balance


BALANCE_CHANGES = {"active": bool, "min_balance": AMOUNT, "max_balance": AMOUNT}


def update_balance(balance: Balance, body: object) -> Balance:
    """Activate or deactivate a balance, or change its limits: `min_balance`
    (0, or negative: a credit line) and `max_balance` (a cap, null for none).

    A floor is refused above what the balance has available now, as the
    ledger would break its own rule at once; a cap may be set below what it
    holds, which stops further income and takes nothing away."""
    data = check_shape(body, BALANCE_CHANGES)
    if data.get("active") is None and data.get("min_balance") is None and "max_balance" not in data:
        raise invalid({"active": "is required unless min_balance or max_balance is given"}, "invalid_request", 400)
    if balance.account_id == SYSTEM_ACCOUNT:
        raise ApiError(409, "system_account", "the @system account cannot be changed")
    # Lock it: a settlement holding this balance finishes first, and any
    # settlement after this commit sees the new state.
    balance = Balance.lock_for_update([balance.id])[balance.id]
    changed = _limits(balance, data)
    if data.get("active") is not None and balance.active != data["active"]:
        changed["active"] = data["active"]
    changed = {name: value for name, value in changed.items() if getattr(balance, name) != value}
    if changed:
        for name, value in changed.items():
            setattr(balance, name, value)
        balance.updated_at = utcnow()
        balance.save()
        record_event("balance.updated", balance_json(balance))
    return balance


def _limits(balance: Balance, data: dict) -> dict:
    """The limits `data` sets on `balance`, checked against each other and
    against what the balance has available."""
    exponent = exponent_of(balance.currency_id)
    problems: dict[str, str] = {}
    limits: dict[str, int | None] = {}
    for name in ("min_balance", "max_balance"):
        if data.get(name) is not None:
            try:
                limits[name] = parse_signed_amount(data[name], exponent)
            except AmountError as problem:
                problems[name] = str(problem)
        elif name == "max_balance" and name in data:
            limits[name] = None
    if problems:
        raise invalid(problems)
    floor = limits.get("min_balance")
    floor = balance.min_balance if floor is None else floor
    cap = limits.get("max_balance", balance.max_balance)
    if "min_balance" in limits and floor > available(balance):
        now = format_amount(available(balance), exponent)
        raise invalid({"min_balance": f"must be at most what the balance has available now, {now}"})
    if cap is not None and cap < max(floor, 0):
        raise invalid({"max_balance": "must be at least 0 and at least min_balance"})
    return limits


def open_system_balance(currency: Currency) -> None:
    """Every currency has one `@system` balance, which may go negative."""
    Balance.insert(id=new_id("bal"), account=SYSTEM_ACCOUNT, currency=currency).on_conflict_ignore().execute()


def _usable_currency(code: str) -> Currency:
    currency = Currency.known(code)
    if not currency.active:
        raise ApiError(422, "unknown_currency", f"currency {code} is not active")
    return currency


def add_currency(body: object) -> Currency:
    """An operator's custom currency (e.g. BTC with 8 decimals), with its
    `@system` balance. Call inside a transaction."""
    code, name, exponent = validate_new_currency(
        check_shape(body, {"code": str, "name": str, "exponent": int}, required=("code", "name", "exponent"))
    )
    try:
        with database.atomic():
            currency = Currency.create(code=code, name=name, exponent=exponent, custom=True)
    except IntegrityError:
        raise ApiError(409, "currency_exists", f"currency {code} already exists") from None
    open_system_balance(currency)
    record_event("currency.created", currency_json(currency))
    return currency


def inactive_accounts(balances: Iterable[Balance]) -> set[str]:
    """The customers among the balances' accounts that are inactive.

    Settlement reads them after locking the balances: a deactivation locks its account's
    balances before it commits (`models.account.update_account`), so one
    committed before this batch took its locks is seen here, and one not yet
    committed waits for this batch to end. Once a deactivation is committed,
    no payment of that account completes after it.
    """
    customers = sorted({b.account_id for b in balances if b.account_id != SYSTEM_ACCOUNT})
    if not customers:
        return set()
    query = Account.select(Account.id).where(among(Account.id, customers) & (Account.active == False))  # noqa: E712
    return {account.id for account in query}
