"""Who did what: the activity log, for admins."""

from __future__ import annotations

from models.activity import list_activity
from models.pagination import parse_limit

from .base import APIHandler, scope


class ActivityHandler(APIHandler):
    @scope("admin")
    async def get(self) -> None:
        args = self.query_args()
        limit, cursor = parse_limit(args.get("limit")), args.get("cursor")

        def work() -> dict:
            data, next_cursor = list_activity(args, limit, cursor)
            return {"data": data, "next_cursor": next_cursor}

        self.send(await self.run_db(work))


default_handlers = [(r"/api/v1/activity", ActivityHandler)]
