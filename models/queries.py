"""The read side: filtered, paginated lists, each in a bounded number of
queries however long the page (no N+1)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from peewee import fn, prefetch

from .account import SYSTEM_ACCOUNT, Account, AccountMetadata, Balance
from .connection import database
from .currency import CODE_PATTERN, Currency
from .dialect import equal_in_order
from .errors import ApiError, invalid, not_found
from .event import Event
from .ids import first_id_at
from .ledger import KINDS, STATUSES, Entry, Payment, PaymentMetadata
from .metadata import metadata_filters
from .pagination import MAX_SEQ, SEQ, TEXT, TIME, decode_cursor, page, parse_count
from .rates import ExchangeRate, RateChange
from .rows import instances


def account_with_balances(account_id: str) -> tuple[Account, list[Balance]] | None:
    """One account and its balances (by currency), or None: what reading an
    account shows. Raw SQL made once, as this is the API's most frequent
    read and Peewee would build two queries' SQL for it every time."""
    mark = database.param
    account = next(iter(Account.raw(f"SELECT * FROM account WHERE id = {mark}", account_id)), None)
    if account is None:
        return None
    balances = Balance.raw(f"SELECT * FROM balance WHERE account_id = {mark} ORDER BY currency_id", account_id)
    return account, list(balances)


def find_balance(balance_id: str) -> Balance:
    """The balance, or 404 `not_found`."""
    balance = Balance.get_or_none(Balance.id == balance_id)
    if balance is None:
        raise not_found(f"balance {balance_id}")
    return balance


def _bad(name: str, problem: str) -> ApiError:
    return invalid({name: problem}, code="invalid_request", status=400)


def parse_bool(name: str, raw: str | None) -> bool | None:
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise _bad(name, "must be true or false")
    return raw == "true"


def parse_time(name: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise _bad(name, "must be an ISO 8601 date or time") from None
    return moment


def parse_choice(name: str, raw: str | None, choices: Sequence[str]) -> str | None:
    if raw is not None and raw not in choices:
        raise _bad(name, "must be one of " + ", ".join(choices))
    return raw


def list_accounts(args: dict, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """Accounts oldest first, each with its balances (two queries).

    `active=true` lists what can send and receive: active accounts with only
    their active balances. `active=false` lists inactive accounts. With
    `metadata[key]=value` the page is read in list order from the metadata
    index (the first such pair; any other is checked on each row)."""
    balances = Balance.select().order_by(Balance.currency)
    if parse_bool("active", args.get("active")):
        balances = balances.where(Balance.active == True)  # noqa: E712
    accounts = prefetch(accounts_query(args, cursor).limit(limit + 1), balances)
    return page(accounts, limit, lambda a: [a.created_at.isoformat(), a.id])


def accounts_query(args: dict, cursor: str | None) -> Any:
    """The query of `list_accounts`, in its order, without its limit."""
    query = Account.select().where(Account.id != SYSTEM_ACCOUNT)
    order = (Account.created_at, Account.id)
    pairs = metadata_filters(args)
    if pairs:
        found = AccountMetadata.alias()
        (name, value), others = pairs[0], pairs[1:]
        query = query.join(found, on=found.account == Account.id).where(found.key == name, found.value == value)
        order = (found.account_created_at, found.account)
        for name, value in others:
            has = AccountMetadata.select(AccountMetadata.account).where(
                AccountMetadata.account == Account.id, AccountMetadata.key == name, AccountMetadata.value == value
            )
            query = query.where(fn.EXISTS(has))
    if args.get("reference"):
        query = query.where(Account.reference == args["reference"])
    active = parse_bool("active", args.get("active"))
    if active is not None:
        # As `NOT active`, the condition of the index of inactive accounts.
        query = query.where(Account.active if active else ~Account.active)
    if args.get("owner"):
        query = query.where(Account.owner.contains(args["owner"]))
    if args.get("email"):
        # Found through the index of lower-cased emails, then matched exactly.
        query = query.where(fn.lower(Account.email) == args["email"].lower(), Account.email == args["email"])
    if args.get("currency"):
        holders = Balance.select(Balance.account).where(Balance.currency == args["currency"])
        if active:
            holders = holders.where(Balance.active == True)  # noqa: E712
        query = query.where(Account.id.in_(holders))
    if args.get("q"):
        term = args["q"]
        query = query.where(Account.id.contains(term) | Account.owner.contains(term) | Account.email.contains(term))
    key = decode_cursor(cursor, TIME, TEXT)
    if key:
        after, last_id = key
        query = query.where((order[0] > after) | ((order[0] == after) & (order[1] > last_id)))
    return query.order_by(*order)


def list_payments(args: dict, limit: int, cursor: str | None, account: str | None = None) -> tuple[list, str | None]:
    """Payments newest first (or `order=asc`), by id, which sorts by time."""
    return page(read_payments(args, cursor, limit + 1, account), limit, lambda p: [p.id])


def read_payments(args: dict, cursor: str | None, size: int, account: str | None = None) -> list[Payment]:
    """Up to `size` payments of the list after `cursor`, in its order: each
    of `payment_queries` read to `size` and merged."""
    ascending = parse_choice("order", args.get("order"), ("asc", "desc")) == "asc"
    found = [instances(query.limit(size)) for query in payment_queries(args, cursor, account)]
    if len(found) == 1:
        return found[0]
    return list(islice(heapq.merge(*found, key=lambda p: p.id, reverse=not ascending), size))


ID_MARGIN = timedelta(minutes=1)


def payment_queries(args: dict, cursor: str | None, account: str | None = None) -> list[Any]:
    """The queries of the payment list, each in its order, without its
    limit. One account's payments are two lists, those it pays and those it
    receives (not from itself), each read in order from its own index
    (`payment_from_account_id`, `payment_to_account_id`): a page of an
    account with millions of payments costs what one of an account with ten
    does."""
    ascending = parse_choice("order", args.get("order"), ("asc", "desc")) == "asc"
    account = account or args.get("account")
    sides: list[tuple[Any, Any]] = [(Payment.select(), None)]
    if account:
        sides = [
            (Payment.select().where(equal_in_order(Payment.from_account, account)), Payment.from_account),
            (
                Payment.select().where(equal_in_order(Payment.to_account, account) & (Payment.from_account != account)),
                Payment.to_account,
            ),
        ]
    queries = []
    for side, column in sides:
        query, by = _filtered_payments(side, args, cursor, ascending)
        # Ordered by the account column too (one value here, so the order is
        # the same): only the account's index gives that order, so the
        # planner reads it, not the whole list's, where an account's oldest
        # payments come after every newer one.
        order = [by] if column is None or by is not Payment.id else [column, by]
        queries.append(query.order_by(*(o.asc() if ascending else o.desc() for o in order)))
    return queries


def _filtered_payments(query: Any, args: dict, cursor: str | None, ascending: bool) -> tuple[Any, Any]:
    """`query` with the list's filters and its cursor, and the column it is
    in order by (the payment's id, or the metadata index's)."""
    status = parse_choice("status", args.get("status"), STATUSES)
    kind = parse_choice("kind", args.get("kind"), KINDS)
    after, before = (
        parse_time("created_after", args.get("created_after")),
        parse_time("created_before", args.get("created_before")),
    )
    if status:
        query = query.where(Payment.status == status)
    if kind:
        query = query.where(Payment.kind == kind)
    if args.get("currency"):
        query = query.where((Payment.currency == args["currency"]) | (Payment.target_currency == args["currency"]))
    # A payment's id is made when it is (`models.ids`), so ids bound the
    # times too: the list is read from where its time range starts, not
    # along every newer (or older) payment. A minute's margin covers the
    # moments between making a payment's id and stamping its time.
    if after:
        query = query.where(Payment.created_at >= after, Payment.id >= first_id_at("pay", after - ID_MARGIN))
    if before:
        query = query.where(Payment.created_at < before, Payment.id < first_id_at("pay", before + ID_MARGIN))
    if args.get("reference"):
        query = query.where(Payment.reference == args["reference"])
    # Read in id order from the metadata index when filtering by metadata.
    by = Payment.id
    pairs = metadata_filters(args)
    if pairs:
        found = PaymentMetadata.alias()
        (name, value), others = pairs[0], pairs[1:]
        query = query.join(found, on=found.payment == Payment.id).where(found.key == name, found.value == value)
        by = found.payment
        for name, value in others:
            has = PaymentMetadata.select(PaymentMetadata.payment).where(
                PaymentMetadata.payment == Payment.id, PaymentMetadata.key == name, PaymentMetadata.value == value
            )
            query = query.where(fn.EXISTS(has))
    key = decode_cursor(cursor, TEXT)
    if key:
        query = query.where(by > key[0] if ascending else by < key[0])
    return query, by


def balance_entries(balance: Balance, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """A balance's statement, oldest first, each line with `balance_after`."""
    query = Entry.select(Entry, Balance).join(Balance).where(Entry.balance == balance.id)
    key = decode_cursor(cursor, SEQ)
    if key:
        query = query.where(Entry.id > key[0])
    rows = list(query.order_by(Entry.id).limit(limit + 1))
    return page(rows, limit, lambda e: [e.id])


def payment_entries(payment: Payment) -> list:
    return list(Entry.select(Entry, Balance).join(Balance).where(Entry.payment == payment.id).order_by(Entry.id))


def list_events(args: dict, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """Events after `after` by ascending `seq`, or newest first with `order=desc`."""
    descending = parse_choice("order", args.get("order"), ("asc", "desc")) == "desc"
    after = parse_count("after", args["after"], 0, MAX_SEQ) if args.get("after") is not None else 0
    query = Event.select().where(Event.seq > after)
    key = decode_cursor(cursor, SEQ)
    if key:
        query = query.where(Event.seq < key[0] if descending else Event.seq > key[0])
    rows = list(query.order_by(Event.seq.desc() if descending else Event.seq).limit(limit + 1))
    return page(rows, limit, lambda e: [e.seq])


def list_currencies(args: dict, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """Currencies by code; `q`: the code or name contains it (any case)."""
    query = Currency.select()
    active = parse_bool("active", args.get("active"))
    if active is not None:
        query = query.where(Currency.active == active)
    if args.get("q"):
        # A few hundred rows at most: matched as they are read.
        query = query.where(Currency.code.contains(args["q"]) | Currency.name.contains(args["q"]))
    key = decode_cursor(cursor, TEXT)
    if key:
        query = query.where(Currency.code > key[0])
    rows = list(query.order_by(Currency.code).limit(limit + 1))
    return page(rows, limit, lambda c: [c.code])


def list_rates(args: dict, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """The rates in force, by base then quote; `base`/`quote` filter (a
    value that is no currency code is 400 `invalid_request`)."""
    wrong = {name: "must be a currency code" for name in ("base", "quote") if name in args}
    wrong = {name: problem for name, problem in wrong.items() if not CODE_PATTERN.fullmatch(args[name])}
    if wrong:
        raise invalid(wrong, code="invalid_request", status=400)
    query = ExchangeRate.select()
    if args.get("base"):
        query = query.where(ExchangeRate.base == args["base"])
    if args.get("quote"):
        query = query.where(ExchangeRate.quote == args["quote"])
    key = decode_cursor(cursor, TEXT, TEXT)
    if key:
        base, quote = key
        query = query.where((ExchangeRate.base > base) | ((ExchangeRate.base == base) & (ExchangeRate.quote > quote)))
    rows = list(query.order_by(ExchangeRate.base, ExchangeRate.quote).limit(limit + 1))
    return page(rows, limit, lambda r: [r.base_id, r.quote_id])


def rate_history(base: str, quote: str, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """Every change of one pair's rate, newest first: who set what, when.
    404 when either side is no currency code (a pair never set has an empty
    history)."""
    if not (CODE_PATTERN.fullmatch(base) and CODE_PATTERN.fullmatch(quote)):
        raise not_found(f"currency pair {base}/{quote}")
    query = RateChange.select().where((RateChange.base == base) & (RateChange.quote == quote))
    key = decode_cursor(cursor, SEQ)
    if key:
        query = query.where(RateChange.id < key[0])
    rows = list(query.order_by(RateChange.id.desc()).limit(limit + 1))
    return page(rows, limit, lambda r: [r.id])
