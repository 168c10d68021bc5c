"""Accounts: the list, with search and filters, and opening an account; an
account's page with its balances, deposits and withdrawals, activation, and
its payment history, updating live."""

from __future__ import annotations

from wtforms import Form

from models.account import Account, Balance, add_balance, create_account, update_account, update_balance
from models.customer_tokens import customer_tokens
from models.errors import ApiError, not_found
from models.intake import submit_deposit, submit_withdrawal
from models.queries import find_balance, list_accounts, list_currencies, list_payments
from models.reports import currencies_in_use
from models.serialize import account_json, account_payment_json, customer_token_json

from .base import PageHandler, admin_only, viewer
from .forms import (
    AccountFilterForm,
    AccountForm,
    Arguments,
    BalanceForm,
    CashForm,
    LimitsForm,
    currency_choices,
    show_refusal,
)

PAGE_SIZE = 50
HISTORY_SIZE = 25
TOKENS_SHOWN = 20
CASH = {"deposit": ("Deposit", submit_deposit), "withdraw": ("Withdrawal", submit_withdrawal)}


def _account(account_id: str) -> Account:
    account = Account.get_or_none(Account.id == account_id)
    if account is None:
        raise not_found(f"account {account_id}")
    return account


def accounts_page(args: dict, cursor: str | None) -> dict:
    """One page of accounts with their balances, and the currencies to
    filter by (three queries)."""
    rows, next_cursor = list_accounts(args, PAGE_SIZE, cursor)
    return {
        "accounts": [account_json(a, balances=a.balances) for a in rows],
        "next_cursor": next_cursor,
        "currencies": currencies_in_use(),
    }


def account_page(account_id: str, cursor: str | None) -> dict:
    """An account with its balances, one page of its history, the currencies
    it could open a balance in, and its newest customer tokens (five queries)."""
    account = account_json(_account(account_id), with_balances=True)
    rows, next_cursor = list_payments({}, HISTORY_SIZE, cursor, account=account_id)
    active, _ = list_currencies({"active": "true"}, 10_000, None)
    held = {balance["currency"] for balance in account["balances"]}
    tokens, _ = customer_tokens(account_id, TOKENS_SHOWN, None)
    return {
        "account": account,
        "customer_tokens": [
            {**customer_token_json(token), "live": token.revoked_at is None and not token.expired} for token in tokens
        ],
        "history": [account_payment_json(p, account_id) for p in rows],
        "next_cursor": next_cursor,
        "openable": [c.code for c in active if c.code not in held],
    }


class AccountsHandler(PageHandler):
    async def show(self, create: AccountForm, status: int = 200, problem: str | None = None) -> None:
        filters = AccountFilterForm(Arguments.queried(self))
        args = filters.args() if filters.validate() else {}
        cursor = self.get_query_argument("cursor", None)
        data = await self.run_db(lambda: accounts_page(args, cursor))
        filters.currency.choices = currency_choices(data["currencies"], "Any currency")
        self.render_page("accounts.html", status, filters=filters, create=create, problem=problem, **data)

    @viewer
    async def get(self) -> None:
        await self.show(AccountForm())

    @admin_only
    async def post(self) -> None:
        form = AccountForm(Arguments.posted(self))
        if not form.validate():
            await self.show(form, 422)
            return
        body = form.body()
        try:
            account_id = await self.run_transaction(lambda: create_account(body).id)
        except ApiError as error:
            await self.show(form, error.status, show_refusal(form, error))
            return
        self.done(f"/accounts/{account_id}", f"Account {account_id} opened.")


class AccountPageHandler(PageHandler):
    """Shows an account's page, with any form that was refused filled in as
    it was sent and its problems beside its fields."""

    async def show(
        self, account_id: str, status: int = 200, refused: dict[str, tuple[Form, str]] | None = None
    ) -> None:
        cursor = self.get_query_argument("cursor", None)
        data = await self.run_db(lambda: account_page(account_id, cursor))
        refused = refused or {}
        forms: dict[str, Form] = {
            "deposit": CashForm(prefix="deposit"),
            "withdraw": CashForm(prefix="withdraw"),
            "balance": BalanceForm(prefix="balance"),
            "limits": LimitsForm(prefix="limits"),
        }
        forms.update({name: form for name, (form, _) in refused.items()})
        usable = currency_choices([b["currency"] for b in data["account"]["balances"] if b["active"]])
        forms["deposit"].currency.choices = forms["withdraw"].currency.choices = usable
        forms["balance"].currency.choices = currency_choices(data["openable"])
        forms["limits"].currency.choices = currency_choices([b["currency"] for b in data["account"]["balances"]])
        problems = {name: problem for name, (_, problem) in refused.items()}
        # New payments belong at the top of the history's first page only.
        self.render_page("account.html", status, forms=forms, problems=problems, live=cursor is None, **data)


class AccountHandler(AccountPageHandler):
    @viewer
    async def get(self, account_id: str) -> None:
        await self.show(account_id)


class AccountCashHandler(AccountPageHandler):
    """Deposit to or withdraw from one of the account's balances."""

    @admin_only
    async def post(self, account_id: str, action: str) -> None:
        label, submit = CASH[action]
        form = CashForm(Arguments.posted(self), prefix=action)
        if not form.validate():
            await self.show(account_id, 422, {action: (form, "")})
            return
        body = form.body(account_id)
        try:
            accepted = await self.create_at_most_once(lambda: submit(body, self.request_settlement))
        except ApiError as error:
            await self.show(account_id, error.status, {action: (form, show_refusal(form, error))})
            return
        payment = accepted.created.data
        amount = self.money(payment["amount"], payment["currency"])
        self.done(f"/accounts/{account_id}", f"{label} of {amount} accepted ({payment['id']}).")


class AccountStateHandler(PageHandler):
    """Activate or deactivate an account."""

    @admin_only
    async def post(self, account_id: str) -> None:
        active = self.get_body_argument("active", "") == "true"
        await self.run_transaction(lambda: update_account(_account(account_id), {"active": active}))
        self.done(f"/accounts/{account_id}", f"Account {account_id} {'activated' if active else 'deactivated'}.")


class AccountBalancesHandler(AccountPageHandler):
    """Open a zero balance in another currency."""

    @admin_only
    async def post(self, account_id: str) -> None:
        form = BalanceForm(Arguments.posted(self), prefix="balance")
        currency = form.currency.data
        try:
            await self.run_transaction(lambda: add_balance(_account(account_id), {"currency": currency}))
        except ApiError as error:
            await self.show(account_id, error.status, {"balance": (form, show_refusal(form, error))})
            return
        self.done(f"/accounts/{account_id}", f"{currency} balance opened.")


class AccountLimitsHandler(AccountPageHandler):
    """Set one balance's floor (a credit line when negative) and cap."""

    @admin_only
    async def post(self, account_id: str) -> None:
        form = LimitsForm(Arguments.posted(self), prefix="limits")
        if not form.validate():
            await self.show(account_id, 422, {"limits": (form, "")})
            return
        currency, body = form.currency.data, form.body()

        def change() -> Balance:
            balance = Balance.get_or_none((Balance.account == account_id) & (Balance.currency == currency))
            if balance is None:
                raise not_found(f"{account_id}'s {currency} balance")
            return update_balance(balance, body)

        try:
            await self.run_transaction(change)
        except ApiError as error:
            if error.status == 404:
                raise
            await self.show(account_id, error.status, {"limits": (form, show_refusal(form, error))})
            return
        self.done(f"/accounts/{account_id}", f"{currency} balance limits set.")


class BalanceStateHandler(PageHandler):
    """Activate or deactivate one balance of an account."""

    @admin_only
    async def post(self, balance_id: str) -> None:
        active = self.get_body_argument("active", "") == "true"

        def change() -> Balance:
            return update_balance(find_balance(balance_id), {"active": active})

        balance = await self.run_transaction(change)
        state = "activated" if active else "deactivated"
        self.done(f"/accounts/{balance.account_id}", f"{balance.currency_id} balance {state}.")


ACCOUNT = r"/accounts/([^/]+)"

default_handlers = [
    (r"/accounts", AccountsHandler),
    (ACCOUNT, AccountHandler),
    (ACCOUNT + r"/(deposit|withdraw)", AccountCashHandler),
    (ACCOUNT + r"/state", AccountStateHandler),
    (ACCOUNT + r"/balances", AccountBalancesHandler),
    (ACCOUNT + r"/limits", AccountLimitsHandler),
    (r"/balances/([^/]+)/state", BalanceStateHandler),
]
