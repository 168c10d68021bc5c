"""The one error type clients see.

Domain functions raise `ApiError`; the API renders it as
`{"error": {"code", "message", "fields"?}}` and the dashboard as a form or
page error. The status code travels with it so that each rule decides its own
answer once.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        status_now: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}
        # For a conflict with a payment's state: the status it is in now.
        self.status_now = status_now

    def to_json(self) -> dict:
        body: dict = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        if self.status_now is not None:
            body["status"] = self.status_now
        return {"error": body}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def invalid(fields: dict[str, str], code: str = "validation_error", status: int = 422) -> ApiError:
    """A request whose named fields break a rule (422) or have the wrong type (400)."""
    message = "; ".join(f"{name}: {problem}" for name, problem in fields.items())
    return ApiError(status, code, message, fields)
