"""A loopback HTTP server that records the POSTs it receives and answers with scripted statuses."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request: its path, headers (names lower-cased) and raw body."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the server received; ``statuses`` are answered first, then 204."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver = self.server.receiver
        receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        status = receiver.statuses.pop(0) if receiver.statuses else 204
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver


@contextmanager
def running_receiver(path: str = "/hooks/driftwatch") -> Iterator[Receiver]:
    """Run the receiver on 127.0.0.1 for the ``with`` block; its ``url`` ends in ``path``."""
    receiver = Receiver()
    server = _Server(receiver)
    host, port = server.server_address[:2]
    receiver.url = f"http://{host!s}:{port}{path}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
