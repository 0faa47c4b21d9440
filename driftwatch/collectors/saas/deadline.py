"""A time limit on a whole HTTP request, for urllib, whose ``timeout`` limits each socket read only.

A server that sends one byte every half second never trips a per-read timeout and can hold a
run for as long as it likes. A ``Deadline`` shuts down the request's connections (a redirect
opens another) when its time is up, whatever the request is waiting for then: the status
line, a header or the body. (Opening a connection has the per-operation timeout.)
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import ssl
import threading
import urllib.request
from types import TracebackType
from typing import Any


class Deadline:
    """The end of one request's time; use it as a context manager around the whole request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    @property
    def expired(self) -> bool:
        """True once the time is up (the request's connections are shut then)."""
        with self._lock:
            return self._expired

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._timer.cancel()

    def guard(self, sock: socket.socket) -> None:
        """Shut ``sock`` when the time is up (at once if it already is)."""
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _shut(sock)

    def handlers(self, context: ssl.SSLContext) -> list[urllib.request.BaseHandler]:
        """urllib handlers for http and https whose connections this deadline guards."""
        return [_HTTPHandler(self), _HTTPSHandler(self, context)]

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: a blocked read then ends at once, and the
    # TLS object that the reading thread is using is left alone.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _GuardedHTTP(http.client.HTTPConnection):
    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        super().connect()
        self.deadline.guard(self.sock)


class _GuardedHTTPS(http.client.HTTPSConnection):
    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        super().connect()
        self.deadline.guard(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_GuardedHTTP, deadline=self.deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self.deadline = deadline
        self.context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        guarded = functools.partial(_GuardedHTTPS, deadline=self.deadline)
        return self.do_open(guarded, req, context=self.context)
