"""The building blocks of the OpenAPI document: one operation with the
parameters, headers and refusals that follow from its method, scope and body,
and the usual success responses."""

from __future__ import annotations

from .components import ERRORS, ref

STATUS_TITLES = {
    400: "Malformed request",
    401: "Not authenticated",
    403: "Scope too small, or not this customer token's",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    422: "Refused by a rule; nothing was stored",
    429: "Rate limited",
    503: "A dependency is down",
}


def header(name: str) -> dict:
    return {"$ref": f"#/components/headers/{name}"}


def param(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def success(description: str, schema: str, *headers: str) -> dict:
    return {
        "description": description,
        "headers": {name: header(name) for name in ("X-Request-Id", *headers)},
        "content": {"application/json": {"schema": ref(schema)}},
    }


def refusals(codes: list[str]) -> dict:
    """Error responses grouped by status, each naming the codes it can carry."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(ERRORS[code][0], []).append(code)
    responses = {}
    for status, group in sorted(by_status.items()):
        lines = "\n".join(f"- `{code}`: {ERRORS[code][1]}" for code in group)
        headers = {"X-Request-Id": header("X-Request-Id")}
        if status == 401:
            headers["WWW-Authenticate"] = header("WWW-Authenticate")
        if status in (429, 503):
            headers["Retry-After"] = header("Retry-After")
        responses[str(status)] = {
            "description": f"{STATUS_TITLES[status]}.\n\n{lines}",
            "headers": headers,
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            ref("Error"),
                            {"properties": {"error": {"properties": {"code": {"enum": group}}}}},
                        ]
                    }
                }
            },
            "x-error-codes": {code: ERRORS[code][1] for code in group},
        }
    return responses


def operation(
    method: str,
    path: str,
    op_id: str,
    tag: str,
    summary: str,
    scope: str | None,
    responses: dict,
    *,
    description: str = "",
    parameters: tuple[str, ...] = (),
    body: str | None = None,
    errors: tuple[str, ...] = (),
    creates_payment: bool = False,
    body_required: bool = True,
    customers: str | None = None,
) -> tuple[str, str, dict]:
    """One operation, with the parameters, headers and refusals that follow
    from its method, scope and body. `customers`: what a customer token may
    do here (None: it is refused)."""
    codes: list[str] = []
    if scope is not None:
        # 403 for a scope too small, or for a customer token anywhere but its own account.
        codes += ["unauthorized", "forbidden"]
    if body is not None:
        codes += ["malformed_json", "invalid_request", "body_too_large"]
    if "Limit" in parameters:
        codes += ["invalid_request", "invalid_cursor"]
    if method == "post":
        codes += ["invalid_idempotency_key", "idempotency_conflict"]
        parameters = ("IdempotencyKey", *parameters)
    if creates_payment:
        parameters = (*parameters, "PreferWait")
    codes += [code for code in errors if code not in codes]
    if scope is not None:
        codes += ["rate_limited", "service_unavailable"]
    access = "Public: no token needed." if scope is None else f"Requires a bearer token with the `{scope}` scope."
    if customers is not None:
        access += f" A customer token may call it too: {customers}"
    body_of = {
        "summary": summary,
        "operationId": op_id,
        "tags": [tag],
        "description": f"{description}\n\n{access}".strip(),
        "x-scope": scope,
        "x-customer-tokens": customers is not None,
        "security": [] if scope is None else [{"bearer": [scope]}],
        "parameters": [param(name) for name in (*parameters, "RequestId")],
        "responses": {**responses, **refusals(list(dict.fromkeys(codes)))},
    }
    if body is not None:
        body_of["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": ref(body)}},
        }
    return path, method, body_of


def created(schema: str, what: str) -> dict:
    return {
        "201": success(f"{what} created.", schema),
        "200": success("Replay of an earlier request with the same Idempotency-Key.", schema, "Idempotent-Replayed"),
    }


def payment_accepted() -> dict:
    return {
        "202": success("Accepted and queued: status `pending`.", "PaymentWithEntries", "Preference-Applied"),
        "201": success(
            "Settled within `Prefer: wait`: status `completed` or `failed`.", "PaymentWithEntries", "Preference-Applied"
        ),
        "200": success(
            "Replay of an earlier request with the same Idempotency-Key, in its current state.",
            "PaymentWithEntries",
            "Idempotent-Replayed",
            "Preference-Applied",
        ),
    }
