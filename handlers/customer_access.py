"""The routes a customer token may use, each kept to the token's own account
by a rule of `models.customer_tokens` (given to `@scope(..., customers=)`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.customer_tokens import own_account, own_balance, own_payer, own_payment

if TYPE_CHECKING:
    from .base import APIHandler


def account_in_path(handler: APIHandler, account: str, args: tuple[str, ...]) -> None:
    own_account(account, args[0])


def balance_in_path(handler: APIHandler, account: str, args: tuple[str, ...]) -> None:
    own_balance(account, args[0])


def payment_in_path(handler: APIHandler, account: str, args: tuple[str, ...]) -> None:
    own_payment(account, args[0])


def payer_in_body(handler: APIHandler, account: str, args: tuple[str, ...]) -> None:
    own_payer(account, handler.json_body())
