"""What every dashboard page shares: who is logged in, what their role lets
them do, rendering with Jinja2, security headers, and error pages.

Every page method carries `@viewer` (any operator may look), `@admin_only`
(viewers are refused with a 403 page) or `@anonymous`; the app's start-up
check refuses a method that carries none. An operator who is not logged in
is sent to /login and comes back afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlencode

from babel import Locale
from jinja2 import Environment
from markupsafe import Markup
from tornado.web import HTTPError

from models.actors import SYSTEM, Acting, Actor
from models.auth import Operator
from models.errors import ApiError
from models.retry import OutcomeUnknown, retried_transaction, transaction_at_most_once
from web.inflight import Counted
from web.routing import ReadRouting

from ..base import NamesAllowedMethods, RefusalsAreNotFaults, mark_scope, run_acting, tag_request
from ..stream import SESSION_COOKIE, SESSION_DAYS
from .formatting import format_money, negotiate_locale

log = logging.getLogger(__name__)

# For the guards: a page method (M), its handler (H), its other parameters
# (P) and what it returns (R).
M = TypeVar("M", bound=Callable[..., Any])
H = TypeVar("H", bound="PageHandler")
P = ParamSpec("P")
R = TypeVar("R")

FLASH_COOKIE = "flash"

# Everything a page loads comes from this server: no inline script, no CDN,
# no external font; forms post only here; no other site may frame a page.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

NAVIGATION = (
    ("/", "Overview"),
    ("/accounts", "Accounts"),
    ("/payments", "Payments"),
    ("/currencies", "Currencies"),
    ("/rates", "Rates"),
    ("/tokens", "API tokens"),
    ("/webhooks", "Webhooks"),
    ("/audit", "Audit"),
)
# Pages only admins may open, listed for them only.
ADMIN_NAVIGATION = (
    ("/operators", "Operators"),
    ("/activity", "Activity"),
)


def anonymous(method: M) -> M:
    """Open to anyone, logged in or not (the login page)."""
    return mark_scope(method, None)


def viewer(method: Callable[Concatenate[H, P], Awaitable[R]]) -> Callable[Concatenate[H, P], Awaitable[R | None]]:
    """Any logged-in operator, admin or viewer, may do this: it only looks."""

    @functools.wraps(method)
    async def guarded(self: H, *args: P.args, **kwargs: P.kwargs) -> R | None:
        if self.operator is None:
            return self.send_to_login()
        return await method(self, *args, **kwargs)

    return mark_scope(guarded, "read")


def admin_only(method: Callable[Concatenate[H, P], Awaitable[R]]) -> Callable[Concatenate[H, P], Awaitable[R | None]]:
    """Only an admin may do this: it changes something. A viewer gets a 403
    page that says so."""

    @functools.wraps(method)
    async def guarded(self: H, *args: P.args, **kwargs: P.kwargs) -> R | None:
        if self.operator is None:
            return self.send_to_login()
        if not self.is_admin:
            raise ApiError(403, "forbidden", "Viewers can look at everything but change nothing: ask an admin.")
        return await method(self, *args, **kwargs)

    return mark_scope(guarded, "admin")


class PageHandler(Counted, ReadRouting, NamesAllowedMethods, RefusalsAreNotFaults):
    operator: Operator | None = None
    feed_after = 0
    if TYPE_CHECKING:
        request_id: str  # set by `tag_request`

    @property
    def jinja(self) -> Environment:
        return self.settings["jinja"]

    @property
    def request_settlement(self) -> Callable[[], None]:
        """Ask the workers to settle what is pending (coalesced: cheap to call)."""
        return self.settings["request_settlement"]

    @property
    def is_admin(self) -> bool:
        return self.operator is not None and self.operator.role == "admin"

    @functools.cached_property
    def money_locale(self) -> Locale:
        return negotiate_locale(self.request.headers.get("Accept-Language"))

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", PAGE_POLICY)
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")
        if self.request.protocol == "https":
            self.set_header("Strict-Transport-Security", "max-age=31536000")
        tag_request(self)

    def set_cookie(  # type: ignore[override]  # past `value` by keyword only, as Tornado itself calls it
        self, name: str, value: str | bytes, **kwargs: Any
    ) -> None:
        """Every cookie a page sets (session, CSRF, notice) is Secure when the
        page came over HTTPS."""
        if self.request.protocol == "https":
            kwargs.setdefault("secure", True)
        super().set_cookie(name, value, **kwargs)

    async def prepare(self) -> None:
        # Read before the page's queries, so that a live page resumes the
        # feed from a point its own content already includes.
        self.feed_after = self.settings["hub"].head
        operator_id = self.get_signed_cookie(SESSION_COOKIE, max_age_days=SESSION_DAYS)
        if operator_id is not None:
            operator = await self.run_db(lambda: Operator.get_or_none(Operator.id == int(operator_id)))
            # A disabled operator's sessions end at once, on every web process.
            self.operator = operator if operator is not None and operator.active else None
        await self.mark_writes()

    def read_client(self) -> str | None:
        operator_id = self.get_signed_cookie(SESSION_COOKIE, max_age_days=SESSION_DAYS)
        return None if operator_id is None else "operator:" + operator_id.decode()

    def get_current_user(self) -> Operator | None:
        return self.operator

    async def run_db(self, work: Callable[[], Any]) -> Any:
        """Run blocking reads on the database threads, never on the IOLoop
        (on the replica when this request may: `web.routing`)."""
        return await self._off_loop(functools.partial(self.routed_read, work))

    async def run_transaction(self, work: Callable[[], Any]) -> Any:
        """Run `work` in one transaction on the database threads, retried
        freely (`models.retry.retried_transaction`)."""
        return await self._off_loop(functools.partial(retried_transaction, work))

    async def create_at_most_once(self, work: Callable[[], Any]) -> Any:
        """Run `work`, which creates a payment, in one transaction on the
        database threads, stored at most once
        (`models.retry.transaction_at_most_once`)."""
        return await self._off_loop(functools.partial(transaction_at_most_once, work))

    async def _off_loop(self, work: Callable[[], Any]) -> Any:
        """Run `work` on a database thread, as this page's operator."""
        run = functools.partial(run_acting, self.acting, work)
        return await asyncio.get_running_loop().run_in_executor(self.settings["db_executor"], run)

    @property
    def acting(self) -> Acting:
        """Who this page acts as: its operator, from the client's address,
        with the request's id."""
        operator = self.operator
        actor = SYSTEM if operator is None else Actor("operator", operator.id, operator.email)
        return Acting(actor, self.request.remote_ip, self.request_id)

    def send_to_login(self) -> None:
        """To the login page (the app's `login_url`), and back here after."""
        if self.request.method == "GET":
            self.redirect(self.get_login_url() + "?" + urlencode({"next": self.request.uri}))
        else:
            self.redirect(self.get_login_url(), status=303)

    def start_session(self, operator: Operator) -> None:
        """Log `operator` in: a new signed session cookie, and a new CSRF
        token so that none issued before the login is good after it."""
        self.clear_cookie("_xsrf")
        self.set_signed_cookie(
            SESSION_COOKIE, str(operator.id), expires_days=SESSION_DAYS, httponly=True, samesite="Lax"
        )

    def end_session(self) -> None:
        self.clear_cookie(SESSION_COOKIE)
        self.clear_cookie("_xsrf")

    def notice(self, message: str) -> None:
        """A one-line notice shown at the top of the next page (after a
        redirect), once."""
        self.set_signed_cookie(FLASH_COOKIE, message, expires_days=None, httponly=True, samesite="Lax")

    def done(self, url: str, message: str) -> None:
        """A form did what it asked: go to `url` (303, so a reload does not
        post again) and say what happened there."""
        self.notice(message)
        self.redirect(url, status=303)

    def _take_notice(self) -> str | None:
        message = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1)
        if message is None:
            return None
        self.clear_cookie(FLASH_COOKIE)
        return message.decode()

    def url_with(self, **changes: str | None) -> str:
        """This page's address with some query arguments changed (None takes
        one away): for pagination links that keep the filters."""
        args = {name: self.get_query_arguments(name) for name in self.request.query_arguments}
        args.pop("fragment", None)
        for name, value in changes.items():
            if value is None:
                args.pop(name, None)
            else:
                args[name] = [value]
        query = urlencode(args, doseq=True)
        return self.request.path + ("?" + query if query else "")

    def export_url(self, path: str) -> str:
        """`path` with this page's query arguments but its cursor: the same
        filters, for an export of everything they match."""
        kept = {name: self.get_query_arguments(name) for name in self.request.query_arguments}
        kept = {name: values for name, values in kept.items() if name not in ("cursor", "fragment")}
        return path + ("?" + urlencode(kept, doseq=True) if kept else "")

    def money(self, amount: str | None, currency: str | None) -> str:
        return format_money(amount, currency, self.money_locale)

    def render_page(self, template_name: str, status: int = 200, **context: Any) -> None:
        """Render a page; or, with `?fragment=live_...`, only that block of it
        (what live updates fetch, so a row is written in one place)."""
        template = self.jinja.get_template(template_name)
        variables = {
            "operator": self.operator,
            "is_admin": self.is_admin,
            "path": self.request.path,
            "navigation": NAVIGATION + (ADMIN_NAVIGATION if self.is_admin else ()),
            "notice": self._take_notice(),
            "xsrf_form": lambda: Markup(self.xsrf_form_html()),
            "money": self.money,
            "url_with": self.url_with,
            "lang": str(self.money_locale).replace("_", "-"),
            "feed_after": self.feed_after,
            **context,
        }
        fragment = self.get_query_argument("fragment", None)
        if fragment is not None and fragment.startswith("live_") and fragment in template.blocks:
            html = "".join(template.blocks[fragment](template.new_context(variables)))
        else:
            html = template.render(variables)
        self.set_status(status)
        self.set_header("Server-Timing", f"page;dur={1000 * self.request.request_time():.1f}")
        self.finish(html)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs["exc_info"][1] if "exc_info" in kwargs else None
        if isinstance(error, ApiError):
            status_code = error.status
        elif isinstance(error, OutcomeUnknown):
            status_code = 503
        title, message = _explain(status_code, error)
        try:
            self.render_page("error.html", status_code, title=title, message=message)
        except Exception:
            log.exception("could not render the error page")
            self.finish(f"{title}. {message}")


def _explain(status: int, error: BaseException | None) -> tuple[str, str]:
    """The title and sentence an error page shows."""
    if isinstance(error, ApiError):
        titles = {403: "Not allowed", 404: "Not found"}
        return titles.get(error.status, "Refused"), error.message
    if status == 403 and isinstance(error, HTTPError) and "xsrf" in (error.log_message or "").lower():
        return (
            "Form expired",
            "This form was not sent from a page of this dashboard, or it has expired. Go back, reload the page and try again.",
        )
    if isinstance(error, OutcomeUnknown):
        return (
            "Not sure it went through",
            "The connection to the database was lost while this was being saved, so it may or may not have been."
            " Look for it before sending it again.",
        )
    if status == 404:
        return "Not found", "There is no page at this address."
    if status == 405:
        return "Not allowed", "This page does not take that kind of request."
    if status < 500:
        return "Bad request", "The request could not be understood."
    return "Something went wrong", "Something went wrong on our side; it has been logged. Try again in a moment."


class PageNotFoundHandler(PageHandler):
    """Any path outside /api that names no page: an HTML 404."""

    @anonymous
    async def get(self, *args: str) -> None:
        raise HTTPError(404)

    post = get

    def check_xsrf_cookie(self) -> None:
        """A post to no page changes nothing: answer 404, not 403."""
