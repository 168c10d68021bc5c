"""Logging in and out of the dashboard."""

from __future__ import annotations

import functools
import re

from models.auth import Operator

from ..ratelimit import login_limiter, retry_after
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
            wait = await self.attempts_left_wait(email)
            if wait:
                seconds = retry_after(wait)
                form.password.data = ""
                self.set_header("Retry-After", str(seconds))
                problem = f"Too many attempts to log in as this operator: try again in {seconds} seconds."
                self.render_page("login.html", 429, form=form, problem=problem)
                return
            operator = await self.run_db(lambda: Operator.authenticate(email, password))
        if operator is None:
            form.password.data = ""
            self.render_page("login.html", 422, form=form, problem="Wrong email or password.")
            return
        self.start_session(operator)
        self.redirect(_local(form.next.data), status=303)

    async def attempts_left_wait(self, email: str) -> float:
        """0 while this email may still be tried from this address, else the
        seconds until it may (a password guesser gets a few tries a minute,
        whichever web process it reaches)."""
        limiter = login_limiter()
        if limiter is None:
            return 0.0
        take = functools.partial(limiter.take, f"{email.strip().lower()}|{self.request.remote_ip}")
        return await self._off_loop(take) if limiter.blocking else take()


class LogoutHandler(PageHandler):
    """GET asks (a link or a prefetch must not log anyone out); POST, with
    its CSRF token, logs out."""

    @viewer
    async def get(self) -> None:
        self.render_page("logout.html")

    @anonymous
    async def post(self) -> None:
        self.end_session()
        self.redirect("/login", status=303)


default_handlers = [
    (r"/login", LoginHandler),
    (r"/logout", LogoutHandler),
]
