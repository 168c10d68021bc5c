"""The dashboard's forms (WTForms): what each form asks for, how it is
labelled, and how its answers become the body the domain function takes.

Fields are named like the API's body fields, so a refusal from the domain
(`ApiError.fields`) lands beside the field it is about. The forms check only
what a browser can get wrong before the domain sees it (a field left empty,
a number that is not one); every rule lives in models/. Lists of currencies to choose from are filled in
for display only (`validate_choice=False`): the domain says whether a
currency can be used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

from tornado.web import RequestHandler
from wtforms import Form, SelectChoice
from wtforms.fields import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    SearchField,
    SelectField,
    StringField,
)
from wtforms.validators import InputRequired, Optional

from models.access import ACCESS_ACTIONS
from models.auth import SCOPES
from models.errors import ApiError
from models.event import EVENT_TYPES
from models.ledger import KINDS, STATUSES


class Arguments:
    """A request's arguments (decoded, stripped, control characters
    removed by Tornado) as the multi-dict WTForms reads."""

    def __init__(self, arguments: dict[str, list[str]]) -> None:
        self._arguments = arguments

    @classmethod
    def posted(cls, handler: RequestHandler) -> Arguments:
        return cls({name: handler.get_body_arguments(name) for name in handler.request.body_arguments})

    @classmethod
    def queried(cls, handler: RequestHandler) -> Arguments:
        return cls({name: handler.get_query_arguments(name) for name in handler.request.query_arguments})

    def __iter__(self) -> Iterator[str]:
        return iter(self._arguments)

    def __len__(self) -> int:
        return len(self._arguments)

    def __contains__(self, name: object) -> bool:
        return name in self._arguments

    def getlist(self, name: str) -> list[str]:
        return list(self._arguments.get(name, []))


def show_refusal(form: Form, error: ApiError) -> str:
    """Put each of the domain's field problems beside its field; returns the
    message for the top of the form: the error's message, with each field
    named by its label as the person sees it."""
    fields = error.fields or {}
    for name, problem in fields.items():
        if name in form:
            form[name].errors = [*form[name].errors, problem]
    if not fields:
        return error.message
    return "; ".join(
        f"{form[name].label.text if name in form else name}: {problem}" for name, problem in fields.items()
    )


def field_attributes(field: Field) -> dict[str, str]:
    """The ARIA attributes that tie a field to its hint and to its error, so
    a screen reader reads them with the field."""
    described = [f"{field.id}-hint"] if field.description else []
    attributes = {}
    if field.errors:
        described.append(f"{field.id}-error")
        attributes["aria-invalid"] = "true"
    if described:
        attributes["aria-describedby"] = " ".join(described)
    return attributes


def currency_choices(codes: list[str], blank: str | None = None) -> list[SelectChoice]:
    """Currency codes to choose from, after an empty choice labelled `blank`
    when the field may be left empty."""
    return ([SelectChoice("", blank)] if blank else []) + [SelectChoice(code) for code in codes]


def _text(value: str | None) -> str | None:
    return value or None


REQUIRED = [InputRequired()]
OPTIONAL = [Optional()]
AMOUNT = {"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"}


class LoginForm(Form):
    email = EmailField("Email", REQUIRED, render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", REQUIRED, render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class AccountForm(Form):
    owner = StringField("Owner", REQUIRED, render_kw={"autocomplete": "off"})
    email = EmailField("Email", OPTIONAL, description="Optional.")
    id = StringField("Account id", OPTIONAL, description="Optional: one is generated when left empty.")
    currencies = StringField(
        "Currencies",
        OPTIONAL,
        description="Codes separated by spaces, e.g. PHP USD.",
        render_kw={"autocomplete": "off"},
    )

    def body(self) -> dict:
        codes = [code.upper() for code in re.split(r"[\s,]+", self.currencies.data or "") if code]
        return {
            "id": _text(self.id.data),
            "owner": self.owner.data,
            "email": _text(self.email.data),
            "currencies": codes,
        }


class AccountFilterForm(Form):
    q = SearchField("Search", OPTIONAL, render_kw={"placeholder": "Id, owner or email"})
    active = SelectField(
        "State",
        OPTIONAL,
        choices=[SelectChoice("", "Any state"), SelectChoice("true", "Active"), SelectChoice("false", "Inactive")],
        default="",
    )
    currency = SelectField("Currency", OPTIONAL, choices=[], default="", validate_choice=False)

    def args(self) -> dict[str, str]:
        return {name: value for name, value in self.data.items() if value}


class BalanceForm(Form):
    currency = SelectField("Open a balance in", REQUIRED, choices=[], validate_choice=False)


class CashForm(Form):
    """A deposit or a withdrawal on one of the account's balances."""

    currency = SelectField("Currency", REQUIRED, choices=[], validate_choice=False)
    amount = StringField("Amount", REQUIRED, render_kw=AMOUNT)
    description = StringField("Description", OPTIONAL, render_kw={"placeholder": "Optional"})

    def body(self, account_id: str) -> dict:
        return {
            "account": account_id,
            "currency": self.currency.data,
            "amount": self.amount.data,
            "description": _text(self.description.data),
        }


class PaymentForm(Form):
    from_account = StringField("From account", REQUIRED, render_kw={"autocomplete": "off", "spellcheck": "false"})
    to_account = StringField("To account", REQUIRED, render_kw={"autocomplete": "off", "spellcheck": "false"})
    currency = SelectField("Currency", OPTIONAL, choices=[], default="", validate_choice=False)
    to_currency = SelectField(
        "Pay out in",
        OPTIONAL,
        choices=[],
        default="",
        validate_choice=False,
        description="Another currency makes it an exchange.",
    )
    amount = StringField("Amount", REQUIRED, render_kw=AMOUNT)
    description = StringField("Description", OPTIONAL, render_kw={"placeholder": "Optional"})
    hold = BooleanField(
        "Hold only", description="Reserve the amount now; capture or void it later from the payment's page."
    )

    def body(self) -> dict:
        return {
            "from_account": self.from_account.data,
            "to_account": self.to_account.data,
            "currency": _text(self.currency.data),
            "to_currency": _text(self.to_currency.data),
            "amount": self.amount.data,
            "description": _text(self.description.data),
            "capture": "manual" if self.hold.data else None,
        }


def days(first: DateField, last: DateField, names: tuple[str, str] = ("created_after", "created_before")) -> dict:
    """A range of whole days as query arguments: from the start of `first`
    to the end of `last` (each left out when not given)."""
    args = {}
    if first.data:
        args[names[0]] = first.data.isoformat()
    if last.data:
        args[names[1]] = (last.data + timedelta(days=1)).isoformat()
    return args


class PaymentFilterForm(Form):
    status = SelectField(
        "Status", OPTIONAL, choices=[SelectChoice("", "Any status")] + [SelectChoice(s, s.title()) for s in STATUSES]
    )
    kind = SelectField(
        "Kind", OPTIONAL, choices=[SelectChoice("", "Any kind")] + [SelectChoice(k, k.title()) for k in KINDS]
    )
    account = SearchField("Account", OPTIONAL, render_kw={"placeholder": "Account id", "spellcheck": "false"})
    currency = SelectField("Currency", OPTIONAL, choices=[], default="", validate_choice=False)
    created_after = DateField("From", OPTIONAL)
    created_before = DateField("Until", OPTIONAL)

    def args(self) -> dict[str, str]:
        """The filters as `list_payments` takes them; "until" a day means up
        to the end of that day."""
        args = {name: self.data[name] for name in ("status", "kind", "account", "currency") if self.data[name]}
        return {**args, **days(self.created_after, self.created_before)}


class ActivityFilterForm(Form):
    actor = SearchField(
        "Actor", OPTIONAL, render_kw={"placeholder": "operator:3, token:12, system", "spellcheck": "false"}
    )
    type = SelectField(
        "What",
        OPTIONAL,
        choices=[SelectChoice("", "Anything")] + [SelectChoice(t, t) for t in (*ACCESS_ACTIONS, *EVENT_TYPES)],
    )
    created_after = DateField("From", OPTIONAL)
    created_before = DateField("Until", OPTIONAL)

    def args(self) -> dict[str, str]:
        """The filters as `list_activity` takes them; "until" a day means up
        to the end of that day."""
        args = {name: self.data[name].strip() for name in ("actor", "type") if self.data[name]}
        return {**args, **days(self.created_after, self.created_before)}


class OperatorForm(Form):
    email = EmailField("Email", REQUIRED, render_kw={"autocomplete": "off"})
    password = PasswordField(
        "Password", REQUIRED, description="At least 8 characters.", render_kw={"autocomplete": "new-password"}
    )
    role = SelectField(
        "Role", REQUIRED, choices=[SelectChoice("viewer", "Viewer"), SelectChoice("admin", "Admin")], default="viewer"
    )


class PasswordResetForm(Form):
    password = PasswordField("New password", REQUIRED, render_kw={"autocomplete": "new-password"})


class OwnPasswordForm(Form):
    current_password = PasswordField("Current password", REQUIRED, render_kw={"autocomplete": "current-password"})
    password = PasswordField(
        "New password", REQUIRED, description="At least 8 characters.", render_kw={"autocomplete": "new-password"}
    )
    confirm = PasswordField("New password again", REQUIRED, render_kw={"autocomplete": "new-password"})


class StatementForm(Form):
    """A statement's period, in whole days: from the start of one to the end
    of another (both optional: from the first entry, until now)."""

    start = DateField("From", OPTIONAL)
    end = DateField("Until", OPTIONAL)

    def args(self) -> dict[str, str]:
        """The period as the statement's `from` and `to` take it."""
        return days(self.start, self.end, names=("from", "to"))


class ReverseForm(Form):
    amount = StringField("Amount", OPTIONAL, render_kw={**AMOUNT, "placeholder": "All that is left"})
    description = StringField("Reason", OPTIONAL, render_kw={"placeholder": "Optional"})

    def body(self) -> dict:
        return {"amount": _text(self.amount.data), "description": _text(self.description.data)}


class CaptureForm(Form):
    amount = StringField("Amount to capture", OPTIONAL, render_kw={**AMOUNT, "placeholder": "All of it"})

    def body(self) -> dict:
        return {"amount": _text(self.amount.data)}


class LimitsForm(Form):
    """A balance's floor (0, or negative: a credit line) and cap (none when empty)."""

    currency = SelectField("Balance", REQUIRED, choices=[], validate_choice=False)
    min_balance = StringField(
        "Floor", REQUIRED, description="0, or negative for a credit line.", render_kw={**AMOUNT, "placeholder": "0.00"}
    )
    max_balance = StringField(
        "Cap", OPTIONAL, description="Empty for none.", render_kw={**AMOUNT, "placeholder": "None"}
    )

    def body(self) -> dict:
        return {"min_balance": self.min_balance.data, "max_balance": _text(self.max_balance.data)}


class CurrencyFilterForm(Form):
    q = SearchField(
        "Find a currency", OPTIONAL, render_kw={"placeholder": "code or name: peso, EUR", "spellcheck": "false"}
    )

    def args(self) -> dict[str, str]:
        return {"q": self.q.data.strip()} if self.q.data and self.q.data.strip() else {}


class CurrencyForm(Form):
    code = StringField("Code", REQUIRED, render_kw={"autocomplete": "off", "placeholder": "BTC"})
    name = StringField("Name", REQUIRED, render_kw={"autocomplete": "off", "placeholder": "Bitcoin"})
    exponent = IntegerField(
        "Decimals", REQUIRED, description="Digits after the point: 2 for cents, 8 for satoshis.", render_kw={"min": 0}
    )

    def body(self) -> dict:
        return {"code": (self.code.data or "").upper(), "name": self.name.data, "exponent": self.exponent.data}


class RateForm(Form):
    base = SelectField("From", REQUIRED, choices=[], validate_choice=False)
    quote = SelectField("To", REQUIRED, choices=[], validate_choice=False)
    rate = StringField(
        "Rate", REQUIRED, description="What 1 unit of From buys in To.", render_kw={"inputmode": "decimal"}
    )

    def body(self) -> dict:
        return {"rate": self.rate.data}


class TokenForm(Form):
    name = StringField("Name", REQUIRED, render_kw={"autocomplete": "off", "placeholder": "e.g. checkout service"})
    scope = SelectField("Scope", REQUIRED, choices=list(SCOPES), default="read")


class WebhookEndpointForm(Form):
    url = StringField(
        "URL",
        REQUIRED,
        description="https:// only; its host must resolve to public addresses.",
        render_kw={"autocomplete": "off", "placeholder": "https://hooks.example.com/gateway", "inputmode": "url"},
    )
    event_types = StringField(
        "Event types",
        description="Comma-separated, e.g. payment.completed, payment.failed; * for every type.",
        default="*",
        render_kw={"autocomplete": "off"},
    )
    account = StringField("Account", [Optional()], description="Only events about this account (optional).")
    description = StringField("Description", [Optional()], render_kw={"autocomplete": "off"})

    def body(self) -> dict:
        types = [t.strip() for t in (self.event_types.data or "*").split(",") if t.strip()]
        return {
            "url": self.url.data,
            "event_types": types,
            "account": _text(self.account.data),
            "description": _text(self.description.data),
        }
