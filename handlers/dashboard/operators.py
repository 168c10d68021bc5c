"""Operator accounts: admins list, add, promote or demote, disable and
enable operators and reset their passwords; every operator changes their
own password."""

from __future__ import annotations

from collections.abc import Callable

from models.auth import Operator
from models.errors import ApiError
from models.operators import (
    change_own_password,
    change_role,
    new_password_hash,
    operators_page,
    reset_password,
    set_active,
)

from .base import PageHandler, admin_only, viewer
from .forms import Arguments, OperatorForm, OwnPasswordForm, PasswordResetForm, show_refusal


class OperatorsHandler(PageHandler):
    async def show(self, form: OperatorForm, status: int = 200, problem: str | None = None) -> None:
        operators = await self.run_db(operators_page)
        self.render_page("operators.html", status, form=form, operators=operators, problem=problem)

    @admin_only
    async def get(self) -> None:
        await self.show(OperatorForm())

    @admin_only
    async def post(self) -> None:
        form = OperatorForm(Arguments.posted(self))
        if not form.validate():
            await self.show(form, 422)
            return
        email, password, role = form.email.data, form.password.data, form.role.data
        try:
            operator = await self.run_transaction(lambda: Operator.register(email, password, role))
        except ApiError as error:
            form.password.data = ""
            await self.show(form, error.status, show_refusal(form, error))
            return
        self.done("/operators", f"{operator.email} can log in now, as {operator.role}.")


class OperatorChange(PageHandler):
    """A change to one operator from the list's inline forms; a refusal
    (the last admin) comes back as the list's notice."""

    async def change(self, work: Callable[[], Operator], said: Callable[[Operator], str]) -> None:
        try:
            operator = await self.run_transaction(work)
        except ApiError as refusal:
            if refusal.status == 404:
                raise
            self.done("/operators", refusal.message)
            return
        self.done("/operators", said(operator))


class OperatorRoleHandler(OperatorChange):
    @admin_only
    async def post(self, operator_id: str) -> None:
        role = self.get_body_argument("role", "")
        await self.change(lambda: change_role(int(operator_id), role), lambda o: f"{o.email} is now {o.role}.")


class OperatorStateHandler(OperatorChange):
    @admin_only
    async def post(self, operator_id: str) -> None:
        active = self.get_body_argument("active", "") == "true"
        await self.change(
            lambda: set_active(int(operator_id), active),
            lambda o: f"{o.email} {'can log in again' if o.active else 'is disabled: their sessions have ended'}.",
        )


class OperatorPasswordHandler(OperatorChange):
    @admin_only
    async def post(self, operator_id: str) -> None:
        form = PasswordResetForm(Arguments.posted(self))
        try:
            new_hash = await self.run_db(lambda: new_password_hash(form.password.data or ""))
        except ApiError as refusal:
            self.done("/operators", f"Password not reset: it {refusal.fields and refusal.fields['password']}.")
            return
        await self.change(
            lambda: reset_password(int(operator_id), new_hash), lambda o: f"{o.email} has a new password."
        )


class OwnPasswordHandler(PageHandler):
    @viewer
    async def get(self) -> None:
        self.render_page("password.html", form=OwnPasswordForm(), problem=None)

    @viewer
    async def post(self) -> None:
        form = OwnPasswordForm(Arguments.posted(self))
        operator = self.operator
        assert operator is not None  # @viewer: logged in
        if form.validate() and form.password.data != form.confirm.data:
            form.confirm.errors = ["does not match the new password"]
        elif form.validate():
            current, new = form.current_password.data, form.password.data
            try:
                new_hash = await self.run_db(lambda: new_password_hash(new))
                await self.run_transaction(lambda: change_own_password(operator, current, new_hash))
            except ApiError as refusal:
                self.render_page("password.html", 422, form=_blank(form), problem=show_refusal(form, refusal))
                return
            self.done("/", "Your password is changed.")
            return
        self.render_page("password.html", 422, form=_blank(form), problem=None)


def _blank(form: OwnPasswordForm) -> OwnPasswordForm:
    """The form shown again, without any password in it."""
    for field in (form.current_password, form.password, form.confirm):
        field.data = ""
    return form


OPERATOR = r"/operators/([0-9]{1,18})"

default_handlers = [
    (r"/operators", OperatorsHandler),
    (OPERATOR + "/role", OperatorRoleHandler),
    (OPERATOR + "/state", OperatorStateHandler),
    (OPERATOR + "/password", OperatorPasswordHandler),
    (r"/password", OwnPasswordHandler),
]
