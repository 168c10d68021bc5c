"""Operator accounts, managed by admins: roles, disabling, passwords.

The dashboard always keeps an active admin: the last one can be neither
disabled nor made a viewer. That is checked with every active admin's row
locked, so two admins demoting each other at once cannot both succeed.
A disabled operator cannot log in, and every page checks the operator it
serves, so their sessions end with their next request on any web process.
"""

from __future__ import annotations

from .access import record_access
from .auth import ROLES, Operator, hash_password
from .dialect import lock_rows
from .errors import ApiError, invalid, not_found

MIN_PASSWORD_LENGTH = 8


def new_password_hash(password: str, field: str = "password") -> str:
    """The hash of a new password (at least MIN_PASSWORD_LENGTH
    characters): slow on purpose, so made before any transaction."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid({field: f"must be at least {MIN_PASSWORD_LENGTH} characters"})
    return hash_password(password)


def _operator(operator_id: int) -> Operator:
    found = list(lock_rows(Operator.select().where(Operator.id == operator_id)))
    if not found:
        raise not_found(f"operator {operator_id}")
    return found[0]


def _keep_an_admin(operator: Operator) -> None:
    """Refuse to take away the last active admin (409 `last_admin`)."""
    admins = lock_rows(Operator.select(Operator.id).where(Operator.role == "admin", Operator.active == True))  # noqa: E712
    if {admin.id for admin in admins} == {operator.id}:
        raise ApiError(409, "last_admin", f"{operator.email} is the last active admin: make another admin first.")


def change_role(operator_id: int, role: str) -> Operator:
    """Make an operator an admin or a viewer. In a transaction."""
    if role not in ROLES:
        raise invalid({"role": "must be admin or viewer"})
    operator = _operator(operator_id)
    if operator.role != role:
        if operator.role == "admin" and operator.active:
            _keep_an_admin(operator)
        operator.role = role
        operator.save()
        record_access("operator.changed", f"{operator.email}: role {role}")
    return operator


def set_active(operator_id: int, active: bool) -> Operator:
    """Disable an operator (they can no longer log in, and their sessions
    end) or enable them again. In a transaction."""
    operator = _operator(operator_id)
    if operator.active != active:
        if not active and operator.role == "admin":
            _keep_an_admin(operator)
        operator.active = active
        operator.save()
        record_access("operator.changed", f"{operator.email}: {'enabled' if active else 'disabled'}")
    return operator


def reset_password(operator_id: int, password_hash: str) -> Operator:
    """Give an operator a new password (from `new_password_hash`). In a transaction."""
    operator = _operator(operator_id)
    operator.password_hash = password_hash
    operator.save()
    record_access("operator.changed", f"{operator.email}: password reset")
    return operator


def change_own_password(operator: Operator, current: str, password_hash: str) -> None:
    """An operator's own new password, given their current one (422 naming
    `current_password` when it is wrong). In a transaction."""
    if not operator.check_password(current):
        raise invalid({"current_password": "is not your current password"})
    Operator.update(password_hash=password_hash).where(Operator.id == operator.id).execute()
    record_access("operator.changed", f"{operator.email}: own password changed")


def operators_page() -> list[Operator]:
    """Every operator, admins first, then by email (an operator team is
    small: dozens, not thousands)."""
    return list(Operator.select().order_by(Operator.role, Operator.email).limit(1000))
