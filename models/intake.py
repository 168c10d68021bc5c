"""Payment intake (SPEC section 4, step 1): refuse what can be refused now,
else commit the payment as `pending` with its `payment.created` event.

Transfers, exchanges (a transfer into another currency), deposits,
withdrawals and reversals all enter here.

Funds are not checked here but at settlement, under the balances' locks.
What a batch of requests names is read in one query, and the payments it
accepts are stored with their events by one statement: `accept_payments`
needs no transaction of its own (the API's batches run without one), and
works as well inside the caller's (an Idempotency-Key's, the dashboard's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from .account import SYSTEM_ACCOUNT, Account, Balance
from .actors import Acting, acting_as, current
from .connection import database, utcnow
from .currency import Currency
from .errors import ApiError, invalid
from .event import Encoded, record_event, record_events
from .ids import new_id
from .ledger import DESCRIPTION_MAX_LENGTH, PENDING, Payment, PaymentMetadata
from .metadata import check_metadata, metadata_text, payment_metadata_rows
from .money import AmountError, parse_amount
from .peewee_internals import instance_of_row, row_values
from .rates import quote_exchange
from .retry import OutcomeUnknown, store_at_most_once
from .serialize import compact_json, payment_json
from .terms import TERMS_FIELDS, read_terms
from .validation import AMOUNT, check_shape

# Asks a worker to settle what is pending; called once the payments it is
# about are committed (cheap: `events.signals.Coalesced`).
RequestSettlement = Callable[[], None]


class Accepted(NamedTuple):
    """A payment intake has just stored, pending, with its payment.created
    event's data and JSON text, and the JSON text of its detail (the answer
    to the request that made it): each encoded once."""

    payment: Payment
    created: Encoded
    detail_text: str

    @property
    def id(self) -> str:
        return self.payment.id

    @classmethod
    def of(cls, payment: Payment) -> Accepted:
        data = payment_json(payment)
        return cls(payment, Encoded.of(data), compact_json({**data, "reversals": [], "entries": []}))


TRANSFER_FIELDS = {
    "from_account": str,
    "to_account": str,
    "amount": AMOUNT,
    "currency": str,
    "to_currency": str,
    "description": str,
    "metadata": dict,
    **TERMS_FIELDS,
}
CASH_FIELDS = {
    "account": str,
    "currency": str,
    "amount": AMOUNT,
    "description": str,
    "metadata": dict,
    **TERMS_FIELDS,
}


def accept_payments(
    requests: list[tuple[str, object]],
    request_settlement: RequestSettlement,
    actings: Sequence[Acting] | None = None,
) -> list[Accepted | ApiError]:
    """Intake of many transfers, deposits and withdrawals (`(kind, body)`) in
    the caller's transaction: what the API does with the requests that
    arrive together. Each is judged on its own, by exactly the rules it would
    meet alone, against the accounts and balances as the transaction finds
    them (intake changes neither); the ones accepted are stored together,
    with their events, and settlement is asked for once. Returns, in order,
    each request's payment or the ApiError refusing it. `actings`: who sent
    each request, when they differ; else whoever is acting now."""
    shaped: list[dict | ApiError] = []
    for kind, body in requests:
        try:
            shaped.append(_shape(kind, body))
        except ApiError as refusal:
            shaped.append(refusal)
    lookups = Lookups([data for data in shaped if isinstance(data, dict)])
    # Accepted together, at one moment: the payments' and their events' time.
    now = utcnow()
    senders = actings or [current()] * len(requests)
    outcomes: list[Accepted | ApiError] = []
    for (kind, _), data, sender in zip(requests, shaped, senders, strict=True):
        if isinstance(data, ApiError):
            outcomes.append(data)
            continue
        try:
            with acting_as(sender):
                outcomes.append(Accepted.of(_RULES[kind](data, lookups, now)))
        except ApiError as refusal:
            outcomes.append(refusal)
    accepted = [outcome for outcome in outcomes if isinstance(outcome, Accepted)]
    if accepted:
        events: list[tuple[str, dict | Encoded]] = [("payment.created", made.created) for made in accepted]
        made_by = [sender for sender, outcome in zip(senders, outcomes, strict=True) if isinstance(outcome, Accepted)]
        values = [row_values(made.payment) for made in accepted]
        rows = (Payment, values), (PaymentMetadata, payment_metadata_rows(values))
        if database.in_transaction():
            record_events(events, *rows, at=now, actings=made_by)
        else:
            # One statement stores them all or none: one of them tells which.
            try:
                store_at_most_once(
                    lambda: record_events(events, *rows, at=now, actings=made_by), lambda: stored(accepted[0].id)
                )
            except OutcomeUnknown:
                request_settlement()  # perhaps stored: if so, settled without waiting for the sweeper
                raise
        database.after_commit(request_settlement)
    return outcomes


def stored(payment_id: str) -> bool:
    """Whether the payment is in the database."""
    return Payment.select().where(Payment.id == payment_id).exists()


def submit_transfer(body: object, request_settlement: RequestSettlement) -> Accepted:
    """Accept one transfer (or exchange); see `judge_transfer`."""
    return _one("transfer", body, request_settlement)


def submit_deposit(body: object, request_settlement: RequestSettlement) -> Accepted:
    """Accept one deposit; see `_deposit`."""
    return _one("deposit", body, request_settlement)


def submit_withdrawal(body: object, request_settlement: RequestSettlement) -> Accepted:
    """Accept one withdrawal; see `_withdrawal`."""
    return _one("withdrawal", body, request_settlement)


def _one(kind: str, body: object, request_settlement: RequestSettlement) -> Accepted:
    (outcome,) = accept_payments([(kind, body)], request_settlement)
    if isinstance(outcome, ApiError):
        raise outcome
    return outcome


def _shape(kind: str, body: object) -> dict:
    if kind == "transfer":
        data = check_shape(body, TRANSFER_FIELDS, required=("from_account", "to_account", "amount"))
    else:
        data = check_shape(body, CASH_FIELDS, required=("account", "currency", "amount"))
    check_description(data)
    check_payment_metadata(data)
    return data


class Customer(NamedTuple):
    id: str
    active: bool


class Held(NamedTuple):
    """What judging a request needs of a balance."""

    id: str
    account_id: str
    currency_id: str
    active: bool


class Lookups:
    """The accounts and balances a batch of requests names, read up front in
    one query, so that judging each request reads nothing more."""

    def __init__(self, requests: list[dict]) -> None:
        ids = {data[f] for data in requests for f in ("from_account", "to_account", "account") if f in data}
        ids.discard(SYSTEM_ACCOUNT)
        cash = {data["currency"] for data in requests if "account" in data}
        self.accounts: dict[str, Customer] = {}
        self.balances: dict[tuple[str, str], Held] = {}
        self.active_balances: dict[str, list[Held]] = {}
        if not ids and not cash:
            return
        mark = database.param
        accounts = sorted(ids) + ([SYSTEM_ACCOUNT] if cash else [])
        # Every balance of each customer named, and @system's only in the
        # currencies deposits and withdrawals name.
        sql = (
            "SELECT a.id, a.active, b.id, b.currency_id, b.active FROM account a"
            " LEFT JOIN balance b ON b.account_id = a.id"
            f" AND (a.id <> {mark} OR b.currency_id IN ({', '.join([mark] * len(cash)) or 'NULL'}))"
            f" WHERE a.id IN ({', '.join([mark] * len(accounts))})"
        )
        rows = database.execute_sql(sql, [SYSTEM_ACCOUNT, *sorted(cash), *accounts]).fetchall()
        for account_id, active, balance_id, currency, balance_active in rows:
            if account_id != SYSTEM_ACCOUNT:
                self.accounts[account_id] = Customer(account_id, bool(active))
            if balance_id is not None:
                held = Held(balance_id, account_id, currency, bool(balance_active))
                self.balances[(account_id, currency)] = held
                if held.active:
                    self.active_balances.setdefault(account_id, []).append(held)

    def customers(self, *named: tuple[str, str]) -> list[Customer]:
        """The accounts named in the request's fields, each existing and
        active; refused in the order the fields are named."""
        for field, account_id in named:
            account = self.accounts.get(account_id)
            if account is None:
                raise invalid({field: f"no such account: {account_id}"})
            if not account.active:
                raise ApiError(422, "account_inactive", f"account {account_id} is inactive")
        return [self.accounts[account_id] for _, account_id in named]

    def usable(self, *wanted: tuple[Customer | None, Currency]) -> list[Held]:
        """The balance of each (account, currency); None for the account
        means `@system`'s. A customer's must exist and be active."""
        keys = [(account.id if account else SYSTEM_ACCOUNT, currency.code) for account, currency in wanted]
        for account_id, code in keys:
            balance = self.balances.get((account_id, code))
            if balance is None:
                raise ApiError(422, "currency_mismatch", f"{account_id} has no {code} balance")
            if not balance.active:
                raise ApiError(422, "balance_inactive", f"{account_id}'s {code} balance is inactive")
        return [self.balances[key] for key in keys]

    def transfer_currency(self, sender: Customer, code: str | None) -> Currency:
        """The named currency, or the sender's only active one."""
        if code is not None:
            return Currency.known(code)
        active = self.active_balances.get(sender.id, [])
        if len(active) != 1:
            raise ApiError(
                422, "currency_required", f"{sender.id} holds {len(active)} active balances: say which currency"
            )
        return Currency.known(active[0].currency_id)


def judge_transfer(data: dict, lookups: Lookups, now: datetime) -> Payment:
    """A transfer between two customers' balances of one currency, or an
    exchange when `to_currency` differs from `currency`: the receiver's
    `to_currency` balance gets the amount converted at the rate in force at
    settlement. The sender and the receiver may be one account exchanging
    between its own two balances."""
    sender, receiver = lookups.customers(("from_account", data["from_account"]), ("to_account", data["to_account"]))
    currency = lookups.transfer_currency(sender, data.get("currency"))
    to_currency = currency
    if data.get("to_currency") not in (None, currency.code):
        to_currency = Currency.known(data["to_currency"])
    amount = read_amount(data["amount"], currency.exponent)
    source, target = lookups.usable((sender, currency), (receiver, to_currency))
    if source.id == target.id:
        raise ApiError(422, "same_balance", "a payment cannot go from a balance to itself")
    if to_currency.code == currency.code:
        return new_payment("transfer", source, target, amount, now, data)
    # Quoted now so that an exchange that cannot happen is refused now; the
    # amounts are set again at settlement, at the rate in force then.
    target_amount, rate = quote_exchange(currency, to_currency, amount)
    exchange = dict(target_amount=target_amount, target_currency=to_currency.code, rate=rate)
    return new_payment("exchange", source, target, amount, now, data, **exchange)


def _deposit(data: dict, lookups: Lookups, now: datetime) -> Payment:
    """Money arriving from outside: `@system` pays the customer."""
    account, currency, amount = _cash(data, lookups)
    customer, system = lookups.usable((account, currency), (None, currency))
    return new_payment("deposit", system, customer, amount, now, data)


def _withdrawal(data: dict, lookups: Lookups, now: datetime) -> Payment:
    """Money leaving to outside: the customer pays `@system`."""
    account, currency, amount = _cash(data, lookups)
    customer, system = lookups.usable((account, currency), (None, currency))
    return new_payment("withdrawal", customer, system, amount, now, data)


_RULES = {"transfer": judge_transfer, "deposit": _deposit, "withdrawal": _withdrawal}


def accept_one(
    kind: str,
    source: Balance,
    target: Balance,
    amount: int,
    data: dict,
    request_settlement: RequestSettlement,
    **extra: object,
) -> Accepted:
    """Store one payment with its event, in the caller's transaction; ask
    for settlement once committed. `data`: the request's checked body."""
    accepted = Accepted.of(new_payment(kind, source, target, amount, utcnow(), data, **extra))
    accepted.payment.save(force_insert=True)
    metadata_rows = payment_metadata_rows([row_values(accepted.payment)])
    if metadata_rows:
        PaymentMetadata.insert_many(metadata_rows).execute()
    record_event("payment.created", accepted.created)
    database.after_commit(request_settlement)
    return accepted


def new_payment(
    kind: str,
    source: Balance | Held,
    target: Balance | Held,
    amount: int,
    at: datetime,
    data: dict,
    **extra: object,
) -> Payment:
    """A pending payment from `source` to `target`, accepted `at`, not stored
    yet, with the description and terms of `data` (the request's checked
    body). Built from its row's values (foreign keys as ids, the fields not
    given null): every field with a default is given, and setting each field
    through its descriptor cost a quarter of judging a transfer."""
    acting = current()
    return instance_of_row(
        Payment,
        {
            "id": new_id("pay"),
            "kind": kind,
            "status": PENDING,
            "from_account": source.account_id,
            "to_account": target.account_id,
            "from_balance": source.id,
            "to_balance": target.id,
            "amount": amount,
            "currency": source.currency_id,
            "description": data.get("description"),
            "metadata": metadata_text(data.get("metadata")),
            "created_by": acting.actor.text(),
            "request_id": acting.request_id,
            "created_at": at,
            "reversed_amount": 0,
            "in_atomic_group": False,
            **read_terms(kind, data, at),
            **extra,
        },
    )


def _cash(data: dict, lookups: Lookups) -> tuple[Customer, Currency, int]:
    (account,) = lookups.customers(("account", data["account"]))
    currency = Currency.known(data["currency"])
    return account, currency, read_amount(data["amount"], currency.exponent)


def check_description(data: dict) -> None:
    if len(data.get("description") or "") > DESCRIPTION_MAX_LENGTH:
        raise invalid({"description": f"must be at most {DESCRIPTION_MAX_LENGTH} characters"})


def check_payment_metadata(data: dict) -> None:
    """A new payment's metadata follows the rules of `models.metadata`."""
    if data.get("metadata") is not None:
        check_metadata(data["metadata"])


def read_amount(value: object, exponent: int, field: str = "amount") -> int:
    """An amount of a request, in minor units; 422 naming `field` if invalid."""
    try:
        return parse_amount(value, exponent)
    except AmountError as problem:
        raise invalid({field: str(problem)}) from None


def check_usable(balance: Balance) -> None:
    """The balance and its account can send and receive now."""
    if not Account.get_by_id(balance.account_id).active:
        raise ApiError(422, "account_inactive", f"account {balance.account_id} is inactive")
    if not balance.active:
        raise ApiError(422, "balance_inactive", f"{balance.account_id}'s {balance.currency_id} balance is inactive")
