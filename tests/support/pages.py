"""Operators for the dashboard tests, made directly with the models, and dashboard sessions logged in as them."""

from __future__ import annotations

import uuid

from tools.dashboard import Session

PASSWORD = "correct horse battery"


def new_operator(role: str = "admin") -> str:
    """A new operator with PASSWORD; returns its email."""
    from models.auth import Operator
    from models.retry import retried_transaction

    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    retried_transaction(lambda: Operator.register(email, PASSWORD, role))
    return email


def logged_in(base_url: str, role: str = "admin") -> Session:
    """A dashboard session logged in as a new operator with `role`."""
    session = Session(base_url)
    page = session.login(new_operator(role), PASSWORD)
    assert page.status == 303 and page.location == "/", (page.status, page.text[:300])
    return session
