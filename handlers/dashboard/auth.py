"""Logging in and out of the dashboard."""

from __future__ import annotations

import re

from models.auth import Operator, record_log_in, record_log_out
from models.errors import ApiError

from .base import PageHandler, anonymous, viewer
from .forms import Arguments, LoginForm

# A path on this site: one slash, then not a slash or backslash (which
# browsers read as "//", another site).
_LOCAL_PATH = re.compile(r"^/(?![/\\])")


def _local(url: str | None) -> str:
    """Where to go after logging in: `url` if it is a page of this site, else
    the overview."""
    return url if url and _LOCAL_PATH.match(url) else "/"


class LoginHandler(PageHandler):
    @anonymous
    async def get(self) -> None:
        if self.operator is not None:
            self.redirect(_local(self.get_query_argument("next", None)))
            return
        form = LoginForm(next=self.get_query_argument("next", ""))
        self.render_page("login.html", form=form, problem=None)

    @anonymous
    async def post(self) -> None:
        form = LoginForm(Arguments.posted(self))
        operator = None
        if form.validate():
            email, password = form.email.data, form.password.data
            try:
                await self.count_attempt(email)
            except ApiError as limited:
                await self.record_attempt(email, None)
                seconds = limited.headers["Retry-After"]
                form.password.data = ""
                self.set_header("Retry-After", seconds)
                problem = f"Too many attempts to log in as this operator: try again in {seconds} seconds."
                self.render_page("login.html", 429, form=form, problem=problem)
                return
            operator = await self.run_db(lambda: Operator.authenticate(email, password))
            if operator is not None and not operator.active:
                operator = None
            await self.record_attempt(email, operator)
        if operator is None:
            form.password.data = ""
            self.render_page("login.html", 422, form=form, problem="Wrong email or password.")
            return
        self.start_session(operator)
        self.redirect(_local(form.next.data), status=303)

    async def record_attempt(self, email: str, operator: Operator | None) -> None:
        """The attempt in the access log, whichever way it went."""
        acting = self.acting
        await self.run_transaction(lambda: record_log_in(email, operator, acting))

    async def count_attempt(self, email: str) -> None:
        """Count an attempt to log in as `email` from this address; 429
        `rate_limited` once there have been too many (a password guesser gets
        a few tries a minute, whichever web process it reaches)."""
        limiter = self.settings["login_limiter"]
        if limiter is not None:
            await limiter.acquire(f"{email.strip().lower()}|{self.request.remote_ip}")


class LogoutHandler(PageHandler):
    """GET asks (a link or a prefetch must not log anyone out); POST, with
    its CSRF token, logs out."""

    @viewer
    async def get(self) -> None:
        self.render_page("logout.html")

    @anonymous
    async def post(self) -> None:
        operator, acting = self.operator, self.acting
        if operator is not None:
            await self.run_transaction(lambda: record_log_out(operator, acting))
        self.end_session()
        self.redirect("/login", status=303)


default_handlers = [
    (r"/login", LoginHandler),
    (r"/logout", LogoutHandler),
]
