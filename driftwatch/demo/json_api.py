"""A loopback HTTP server answering JSON from Python functions: the demo's SaaS service, the tests' APIs."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Request:
    """One request as a route sees it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any = None


@dataclass(frozen=True)
class Reply:
    """What a route answers: a status, headers, and a JSON document (or raw bytes)."""

    body: Any = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


Route = Callable[[Request], Reply]


class JsonApi:
    """The routes (``"GET /path"`` -> function) and every request received, in order."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.base_url = ""
        self._lock = threading.Lock()
        self._requests: list[Request] = []

    @property
    def requests(self) -> list[Request]:
        """Every request received so far."""
        with self._lock:
            return list(self._requests)

    def route(self, key: str) -> Callable[[Route], Route]:
        """Register a function answering ``key`` (``"GET /orgs/acme"``)."""

        def add(function: Route) -> Route:
            self.routes[key] = function
            return function

        return add

    def answer(self, request: Request) -> Reply:
        """The reply of the route for ``request``, 404 if there is none."""
        with self._lock:
            self._requests.append(request)
        route = self.routes.get(f"{request.method} {request.path}")
        if route is None:
            return Reply({"message": "Not Found"}, 404)
        return route(request)


class _Handler(BaseHTTPRequestHandler):
    api: JsonApi

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        request = Request(
            self.command,
            parts.path,
            dict(parse_qsl(parts.query, keep_blank_values=True)),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        reply = self.api.answer(request)
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no access log on stderr
        pass


@contextmanager
def running_json_api(api: JsonApi | None = None, tls: ssl.SSLContext | None = None) -> Iterator[JsonApi]:
    """Serve ``api`` (a new one by default) on 127.0.0.1, a free port; its ``base_url`` is set.

    With ``tls`` (a server context holding a certificate) it speaks HTTPS.
    """
    api = api or JsonApi()
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="driftwatch-json-api", daemon=True
    )
    thread.start()
    api.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
