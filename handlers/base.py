"""What every API handler shares: auth, JSON in and out, errors, request ids,
idempotency and running blocking database work off the IOLoop.

Every HTTP method of every handler carries `@scope(...)` or `@public`;
`check_every_method_is_guarded` refuses to start an app where one does not.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, NamedTuple, NoReturn, ParamSpec, Protocol, TypeVar, cast

from peewee import InterfaceError, OperationalError
from tornado.httputil import HTTPServerRequest
from tornado.web import HTTPError, RequestHandler, stream_request_body

from models.actors import SYSTEM, Acting, Actor, acting_as
from models.auth import ApiToken
from models.customer_tokens import customer_may
from models.errors import ApiError, invalid
from models.idempotency import create_once, fingerprint
from models.retry import (
    OutcomeUnknown,
    is_connection_lost,
    read_only,
    retried_transaction,
    retried_without_transaction,
    transaction_at_most_once,
)
from models.serialize import compact_json
from web.inflight import Counted
from web.protocol import MAX_BODY_BYTES, REQUEST_ID
from web.routing import ReadRouting

if TYPE_CHECKING:
    from web.hub import EventHub

    from .dashboard.base import PageHandler
    from .stream import StreamHandler

log = logging.getLogger(__name__)

T = TypeVar("T")
# For the guards: a handler method (M), its handler (H), its other
# parameters (P) and what it returns (R).
M = TypeVar("M", bound=Callable[..., Any])
H = TypeVar("H", bound="APIHandler")
P = ParamSpec("P")
R = TypeVar("R")
ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Request ids need to be unique, not secret: 128 bits from a generator seeded
# once from the system's randomness, rather than a system call per request.
_request_ids = random.Random()


class Created(NamedTuple, Generic[T]):
    """What a create request made: the resource's id, and the object made
    now, or None when the request replays an earlier one (same
    Idempotency-Key), whose resource is then read afresh by its id."""

    id: str
    made: T | None

    @property
    def replayed(self) -> bool:
        return self.made is None


class _Guarded(Protocol):
    """A handler method marked with the scope it needs (None: open to anyone),
    and whether customer tokens may call it."""

    required_scope: str | None
    open_to_customers: bool


# How a route keeps a customer token to its own account: called with the
# handler, the token's account and the route's arguments, on a database
# thread; raises 403 `forbidden` (`models.customer_tokens`).
CustomerRule = Callable[[Any, str, tuple[str, ...]], None]


def mark_scope(method: M, needed: str | None, open_to_customers: bool = False) -> M:
    """Mark `method` with the scope it needs, which the app's start-up check
    (`check_every_method_is_guarded`) and the OpenAPI tests read."""
    marked = cast(_Guarded, method)  # the function itself, which takes any attribute
    marked.required_scope = needed
    marked.open_to_customers = open_to_customers
    return method


def scope(
    needed: str, customers: CustomerRule | None = None
) -> Callable[[Callable[Concatenate[H, P], Awaitable[R]]], Callable[Concatenate[H, P], Awaitable[R]]]:
    """The method needs a bearer token with at least this scope; customer
    tokens are refused unless `customers` names the rule that keeps them to
    their own account here."""

    def decorate(method: Callable[Concatenate[H, P], Awaitable[R]]) -> Callable[Concatenate[H, P], Awaitable[R]]:
        @functools.wraps(method)
        async def guarded(self: H, *args: P.args, **kwargs: P.kwargs) -> R:
            await self.authenticate(needed, customers is not None)
            assert self.token is not None
            account = self.token.account_id
            if customers is not None and account is not None:
                path_args = tuple(str(arg) for arg in args)
                await self.executor_run(lambda: read_only(lambda: customers(self, account, path_args)))
            return await method(self, *args, **kwargs)

        return mark_scope(guarded, needed, customers is not None)

    return decorate


def public(method: M) -> M:
    """The method is open to anyone, deliberately."""
    return mark_scope(method, None)


def checked_in_prepare(needed: str, open_to_customers: bool = False) -> Callable[[M], M]:
    """The handler authenticates in `prepare` (a WebSocket must refuse before
    the upgrade, which happens inside `get`)."""

    def mark(method: M) -> M:
        return mark_scope(method, needed, open_to_customers)

    return mark


def bearer_secret(request: HTTPServerRequest) -> str | None:
    kind, _, secret = request.headers.get("Authorization", "").partition(" ")
    return (secret.strip() or None) if kind.lower() == "bearer" else None


def authorize_token(secret: str | None, needed: str, open_to_customers: bool = False) -> ApiToken:
    """The live token behind `secret` if its scope covers `needed`; else
    401 (missing, unknown, revoked, expired) or 403 (scope too small, or a
    customer token where customers may not go). Blocking."""
    if secret is None:
        raise ApiError(
            401, "unauthorized", "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    token = read_only(lambda: ApiToken.authenticate(secret))
    if token is None:
        raise ApiError(401, "unauthorized", "unknown, revoked or expired token", headers={"WWW-Authenticate": "Bearer"})
    if not customer_may(token, needed, open_to_customers):
        if token.account_id is not None:
            raise ApiError(403, "forbidden", f"a customer token may not do this (it is bound to {token.account_id})")
        raise ApiError(403, "forbidden", f"this needs a token with the {needed} scope")
    retried_without_transaction(token.note_use)
    return token


def allowed_methods(handler_class: type[RequestHandler]) -> list[str]:
    """The methods a handler class answers: those it defines itself."""
    return [
        name
        for name in HTTP_METHODS
        if getattr(handler_class, name.lower(), None) is not getattr(RequestHandler, name.lower())
    ]


class NamesAllowedMethods(RequestHandler):
    """A 405 answer says which methods the resource has, in `Allow` (RFC
    9110 requires it), whichever way the 405 came about: a method Tornado
    does not know (TRACE), or one this handler does not define."""

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        super().set_status(status_code, reason)
        if status_code == 405:
            self.set_header("Allow", ", ".join(allowed_methods(type(self))))


class RefusalsAreNotFaults(RequestHandler):
    """A refusal (`ApiError`) is the client's mistake, answered with its
    4xx and counted in the access log; only anything else is a fault worth
    a traceback in the error log."""

    def log_exception(
        self, typ: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(value, ApiError):
            return
        super().log_exception(typ, value, tb)


def check_query(handler: RequestHandler) -> None:
    """400 `invalid_request` naming each query parameter that the handler's
    operation does not document, or whose value holds a NUL (which Tornado
    would silently drop). The OpenAPI document is the one list of what each
    operation takes (`openapi.document.query_parameters`, matched to the
    routes by `handlers.app`); a parameter nobody reads is refused rather
    than ignored, so a misspelt filter never lists everything."""
    documented = handler.settings["query_parameters"].get(type(handler), {})
    accepted = documented.get((handler.request.method or "").lower())
    if accepted is None:
        return  # a method this handler does not have: 405 follows
    problems = {
        name: "is not a parameter of this operation"
        for name in handler.request.query_arguments
        if name not in accepted and name[: name.find("[") + 1 or len(name)] not in accepted
    }
    for name, values in handler.request.query_arguments.items():
        if name not in problems and any(b"\x00" in value for value in values):
            problems[name] = "must not contain NUL characters"
    if problems:
        raise invalid(problems, code="invalid_request", status=400)


def check_every_method_is_guarded(handler_classes: Iterable[type[RequestHandler]]) -> None:
    for cls in handler_classes:
        for name in HTTP_METHODS:
            method = getattr(cls, name.lower(), None)
            if method is None or method is getattr(RequestHandler, name.lower(), None):
                continue
            if not hasattr(method, "required_scope"):
                raise RuntimeError(f"{cls.__name__}.{name.lower()} has neither @scope nor @public")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _exact_int(digits: str) -> int | Decimal:
    # Python refuses int() of more than 4300 digits; such a number is still
    # valid JSON, and the amount rules, not the parser, should refuse it.
    return int(digits) if len(digits) <= 40 else Decimal(digits)


# Numbers stay exact (Decimal, int), NaN and Infinity are refused. Made once:
# json.loads with these options would build a decoder per request.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=_exact_int, parse_constant=_refuse_constant)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request bodies are limited to {limit} bytes here")


@stream_request_body
class APIHandler(Counted, ReadRouting, NamesAllowedMethods, RefusalsAreNotFaults):
    """Bodies are streamed in, so that one over the limit is refused with a
    413 without ever being held in memory."""

    token: ApiToken | None = None
    # What of a body this handler keeps; past it, 413 `body_too_large`.
    max_body_bytes = MAX_BODY_BYTES
    _body_size = 0
    if TYPE_CHECKING:
        request_id: str  # set by `tag_request`

    @property
    def executor(self) -> Executor:
        return self.settings["db_executor"]

    @property
    def hub(self) -> EventHub:
        return self.settings["hub"]

    @property
    def request_settlement(self) -> Callable[[], None]:
        """Ask the workers to settle what is pending (coalesced: cheap to call)."""
        return self.settings["request_settlement"]

    def compute_etag(self) -> None:
        """No ETag: API answers are `no-store`, so hashing each body to tag
        it would buy nothing."""
        return None

    def check_xsrf_cookie(self) -> None:
        """No CSRF check: API callers authenticate with a bearer token, which
        a browser never attaches by itself, not with cookies."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        tag_request(self)

    async def prepare(self) -> None:
        self._chunks: list[bytes] = []
        if any("\x00" in arg for arg in self.path_args):
            raise ApiError(404, "not_found", "no such resource")
        check_query(self)
        await self.mark_writes()

    def read_client(self) -> str | None:
        secret = bearer_secret(self.request)
        return None if secret is None else "token:" + secret

    def data_received(self, chunk: bytes) -> None:
        # Past the limit, keep reading but stop keeping: answering before the
        # body is read would reset the connection under a client still
        # sending, and it would never see the 413.
        self._body_size += len(chunk)
        if self._body_size <= self.max_body_bytes:
            self._chunks.append(chunk)

    async def run_db(self, work: Callable[[], Any]) -> Any:
        """Run blocking reads on the executor, never on the IOLoop (on the
        replica when this request may: `web.routing`)."""
        return await self.executor_run(functools.partial(self.routed_read, work))

    async def run_transaction(self, work: Callable[[], Any]) -> Any:
        """Run `work` in one transaction on the executor, retried freely
        (`models.retry.retried_transaction`)."""
        return await self.executor_run(functools.partial(retried_transaction, work))

    async def create_at_most_once(self, work: Callable[[], Any]) -> Any:
        """Run `work`, which creates something, in one transaction on the
        executor, stored at most once (`models.retry.transaction_at_most_once`)."""
        return await self.executor_run(functools.partial(transaction_at_most_once, work))

    async def executor_run(self, work: Callable[[], Any]) -> Any:
        """Run `work` on a database thread, as this request's actor."""
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, functools.partial(run_acting, self.acting, work)
        )

    @property
    def acting(self) -> Acting:
        """Who this request acts as: its token (once authenticated), from
        the client's address, with its request id."""
        token = self.token
        actor = SYSTEM if token is None else Actor("token", token.id, token.name)
        return Acting(actor, self.request.remote_ip, self.request_id)

    async def authenticate(self, needed: str, open_to_customers: bool = False) -> None:
        secret = bearer_secret(self.request)
        known = ApiToken.remembered(secret) if secret else None
        if known is not None and customer_may(known, needed, open_to_customers):
            self.token = known
        else:
            self.token = await self.executor_run(functools.partial(authorize_token, secret, needed, open_to_customers))
        # 429 `rate_limited` once this token has spent its requests: checked
        # after the token is known, so that nobody can spend another's allowance.
        limiter = self.settings["api_limiter"]
        if limiter is not None:
            await limiter.acquire(f"token:{self.token.id}")

    def json_body(self) -> Any:
        if self._body_size > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        try:
            raw = b"".join(self._chunks) or b"null"
            # As json.loads reads bytes: UTF-8 (with or without a BOM), -16 or -32.
            return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
        except (ValueError, UnicodeDecodeError, RecursionError) as problem:
            raise ApiError(400, "malformed_json", f"request body is not valid JSON: {problem}") from None

    async def create(self, create: Callable[[Any], T], id_of: Callable[[T], str]) -> Created[T]:
        """Run `create(body)` in one transaction, stored at most once, and
        once per Idempotency-Key when the request has one."""
        body = self.json_body()
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            made = await self.create_at_most_once(lambda: create(body))
            return Created(id_of(made), made)
        print_ = fingerprint(self.request.method, self.request.path, body)
        assert self.token is not None  # creating takes a token: @scope has authenticated it
        token_id = self.token.id
        return Created(
            *await self.executor_run(lambda: create_once(token_id, key, print_, lambda: create(body), id_of))
        )

    def send(self, body: Any, status: int = 200, replayed: bool = False) -> None:
        self.send_encoded(compact_json(body), status, replayed)

    def send_encoded(self, text: str, status: int = 200, replayed: bool = False) -> None:
        """`send`, for a body whose JSON text is at hand."""
        self.set_status(status)
        if replayed:
            self.set_header("Idempotent-Replayed", "true")
        self.finish(text)

    def query_args(self) -> dict[str, str]:
        """Every query parameter by name (`check_query` has refused any the
        operation does not document, and NUL characters)."""
        return {name: self.get_query_argument(name) for name in self.request.query_arguments}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_json_error(self, status_code, kwargs.get("exc_info"))


def run_acting(acting: Acting, work: Callable[[], T]) -> T:
    """`work()` with its changes recorded as `acting`'s (`models.actors`)."""
    with acting_as(acting):
        return work()


def tag_request(handler: APIHandler | StreamHandler | PageHandler) -> None:
    """Give the response the request's `X-Request-Id`: the client's own if it
    sent a sensible one, else a new one. (Runs again when an error clears the
    headers: the id stays the same.)"""
    if not hasattr(handler, "request_id"):
        given = handler.request.headers.get("X-Request-Id", "")
        handler.request_id = given if REQUEST_ID.match(given) else f"{_request_ids.getrandbits(128):032x}"
    handler.set_header("X-Request-Id", handler.request_id)


def write_json_error(handler: RequestHandler, status_code: int, exc_info: ExcInfo | None) -> None:
    """Render any error as the API's one JSON error shape."""
    error = exc_info[1] if exc_info else None
    if not isinstance(error, ApiError):
        error = _from_http_error(status_code, error)
    handler.set_status(error.status)
    handler.set_header("Content-Type", "application/json; charset=UTF-8")
    for name, value in error.headers.items():
        handler.set_header(name, value)
    handler.finish(json.dumps(error.to_json()))


def _from_http_error(status: int, error: BaseException | None) -> ApiError:
    if status == 404:
        return ApiError(404, "not_found", "no such resource")
    if status == 405:
        return ApiError(405, "method_not_allowed", "this method is not allowed here")
    if isinstance(error, HTTPError) and status < 500:
        return ApiError(status, "bad_request", error.log_message or "bad request")
    if isinstance(error, OutcomeUnknown):
        # No Retry-After: sending the same request again could pay twice.
        return ApiError(
            503,
            "service_unavailable",
            "the connection to the database was lost while this request's change was being committed, and"
            " whether it was could not be learnt: look for it before sending the request again, or send it"
            " with an Idempotency-Key, which makes sending it again safe",
        )
    if _database_unreachable(error):
        # The database stayed out of reach through every retry (SPEC: 503
        # when a dependency is down); the client may try again.
        return ApiError(
            503, "service_unavailable", "the database is unreachable just now; try again", headers={"Retry-After": "1"}
        )
    return ApiError(500, "internal_error", "something went wrong on our side; it has been logged")


def _database_unreachable(error: BaseException | None) -> bool:
    """A lost connection, or one that could not be opened at all (server
    down, starting up or shutting down)."""
    if not isinstance(error, (OperationalError, InterfaceError)):
        return False
    return is_connection_lost(error) or str(error).startswith("connection to server")


class NotFoundHandler(APIHandler):
    """Any path under /api that names nothing."""

    @public
    async def get(self, *args: str) -> None:
        raise ApiError(404, "not_found", "no such resource")

    post = put = patch = delete = get
