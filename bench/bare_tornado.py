"""The anchor for intake and reads: a bare Tornado handler returning a
constant, one process, as fast as Tornado itself can answer on this machine."""

import sys

import tornado.ioloop
import tornado.web


class Constant(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"ok": True})

    def post(self) -> None:
        self.write({"ok": True})


if __name__ == "__main__":
    tornado.web.Application([(r"/.*", Constant)]).listen(int(sys.argv[1]), "127.0.0.1")
    tornado.ioloop.IOLoop.current().start()
