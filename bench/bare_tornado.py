"""The anchors for intake and reads, one process.

- Any path but `/row/...`: a bare Tornado handler returning a constant, as
  fast as Tornado itself answers on this machine.
- `/row/{account id}`, when started with a PostgreSQL URL: the floor of a
  read on this stack, a handler that reads one account row by its primary
  key with psycopg2 on a thread (as the gateway's handlers reach the
  database) and answers it as JSON, with nothing else: no authentication,
  no ORM, no balances.

    python bench/bare_tornado.py PORT [DATABASE_URL]
"""

import asyncio
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import tornado.ioloop
import tornado.web

# As many threads as a web process has for its database work (Config's default).
THREADS = 8
ROW = "SELECT id, owner, created_at::text FROM account WHERE id = %s"


class Constant(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"ok": True})

    def post(self) -> None:
        self.write({"ok": True})


class OneRow(tornado.web.RequestHandler):
    """One primary-key read on a database thread, its row as JSON."""

    def initialize(self, read) -> None:
        self.read = read

    async def get(self, account_id: str) -> None:
        row = await asyncio.get_running_loop().run_in_executor(self.settings["threads"], self.read, account_id)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(row))


def row_reader(database_url: str):
    """Reads an account's row on the calling thread's own connection."""
    local = threading.local()

    def read(account_id: str):
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = psycopg2.connect(database_url)
            connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(ROW, (account_id,))
            return cursor.fetchone()

    return read


if __name__ == "__main__":
    routes: list = []
    if len(sys.argv) > 2:
        routes.append((r"/row/(.+)", OneRow, {"read": row_reader(sys.argv[2])}))
    routes.append((r"/.*", Constant))
    threads = ThreadPoolExecutor(THREADS)
    tornado.web.Application(routes, threads=threads).listen(int(sys.argv[1]), "127.0.0.1")
    tornado.ioloop.IOLoop.current().start()
