"""Who did what, for admins: every change and every access, newest first."""

from __future__ import annotations

from models.activity import list_activity
from models.errors import ApiError

from .base import PageHandler, admin_only
from .forms import ActivityFilterForm, Arguments, show_refusal

PAGE_SIZE = 50


class ActivityPageHandler(PageHandler):
    @admin_only
    async def get(self) -> None:
        filters = ActivityFilterForm(Arguments.queried(self))
        args = filters.args() if filters.validate() else {}
        cursor = self.get_query_argument("cursor", None)
        problem = None
        try:
            lines, next_cursor = await self.run_db(lambda: list_activity(args, PAGE_SIZE, cursor))
        except ApiError as refusal:
            problem = show_refusal(filters, refusal)
            lines, next_cursor = [], None
        self.render_page(
            "activity.html", filters=filters, filtered=bool(args), lines=lines, next_cursor=next_cursor, problem=problem
        )


default_handlers = [(r"/activity", ActivityPageHandler)]
