"""The ledger: tables, and the domain rules as plain functions beside them.

Handlers (API and dashboard) and tasks only translate between the outside
world and these functions; no rule is written anywhere else.
"""

from .account import SYSTEM_ACCOUNT, Account, Balance
from .auth import ApiToken, Operator
from .connection import database
from .currency import Currency
from .errors import ApiError
from .event import Event
from .idempotency import IdempotencyRecord
from .ledger import Entry, Payment

ALL_MODELS = [Currency, Account, Balance, Payment, Entry, Event, ApiToken, IdempotencyRecord, Operator]

__all__ = [
    "ALL_MODELS",
    "SYSTEM_ACCOUNT",
    "Account",
    "ApiError",
    "ApiToken",
    "Balance",
    "Currency",
    "Entry",
    "Event",
    "IdempotencyRecord",
    "Operator",
    "Payment",
    "database",
]
