"""A request handler that keeps HTTP/1.1 connections open, as the service's endpoint does.

werkzeug's development server closes every connection because ``http.server`` cannot drain
a request body the application left unread before parsing the next request (and after each
response it discards whatever the socket holds, which would be the next request). boto3, the
AWS CLI and AWS's example scripts reuse connections, so here a connection stays open whenever
the request's body was read whole (or had none): its "Connection: close" is left out and the
discarding step finds nothing to read. Otherwise the connection is closed as before.
"""

from __future__ import annotations

import socket


class _NothingLeft:
    """Stands in for the socket's reader while werkzeug discards "unread" input of a kept connection."""

    @staticmethod
    def read(size: int = -1) -> bytes:
        return b""


class _CountedBody:
    """The request body stream, never read past its Content-Length, remembering what is left."""

    def __init__(self, raw, length: int):
        self.raw = raw
        self.left = length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.raw.read(size) if size else b""
        self.left -= len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.raw.readline(size) if size else b""
        self.left -= len(data)
        return data


def keep_alive_handler():
    """The plane's handler class: moto's (which keeps S3 metadata header names) plus keep-alive."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()  # headers and body go out as separate writes: without this a kept connection
            self.connection.setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )  # waits ~40 ms for delayed ACKs

        def make_environ(self):
            environ = super().make_environ()
            self._body = None
            if not environ.get("wsgi.input_terminated"):  # a chunked body cannot be counted: close after it
                self._body = _CountedBody(environ["wsgi.input"], int(self.headers.get("Content-Length") or 0))
                environ["wsgi.input"] = self._body
            return environ

        def run_wsgi(self):
            self._reader, self._keep = self.rfile, False
            try:
                super().run_wsgi()
            finally:  # back to the socket's reader, with any next request it already buffered
                self.rfile, self._keep = self._reader, False

        def send_header(self, keyword, value):
            if (
                keyword.lower() == "connection"
                and value.lower() == "close"
                and getattr(self, "_body", None) is not None
                and self._body.left == 0
            ):
                self._keep = (
                    True  # the whole body was read: the next request on this connection can be parsed
                )
                return
            super().send_header(keyword, value)

        def end_headers(self):
            super().end_headers()
            if getattr(
                self, "_keep", False
            ):  # the response is being written; the request was read: nothing is left to discard
                self.rfile = _NothingLeft()

    return KeepAliveHandler
