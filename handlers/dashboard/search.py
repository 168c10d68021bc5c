"""The search box in every page's header, and the page of what it finds."""

from __future__ import annotations

from models.errors import ApiError

from ..search import search_json
from .base import PageHandler, viewer

RESULTS_PER_KIND = 20


class SearchPageHandler(PageHandler):
    @viewer
    async def get(self) -> None:
        text = self.get_query_argument("q", "").strip()
        found, problem = None, None
        if text:
            try:
                found = await self.run_db(lambda: search_json(text, RESULTS_PER_KIND))
            except ApiError as refusal:
                problem = refusal.message
        self.render_page("search.html", query=text, found=found, problem=problem)


default_handlers = [(r"/search", SearchPageHandler)]
