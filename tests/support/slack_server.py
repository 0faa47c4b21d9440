"""A loopback HTTP server speaking the few Slack Web API methods driftwatch calls, and incoming webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.support.fake_credentials import slack_token

# Slack's limits as of 2025: 50 blocks, 3,000 characters per section text, and an undocumented
# ceiling on the total text of all blocks (msg_blocks_too_long at about 12,000-13,000 characters;
# slackapi/bolt-js#2509). The fake enforces them so that tests notice when a message would bounce.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BLOCKS_TEXT = 12000
MAX_TEXT = 40000
WEBHOOK_PATH = "/services/T123/B123/abcdefghijklmnopqrstuvwx"
AUTH_TEST = {
    "ok": True,
    "url": "https://driftwatch-test.slack.com/",
    "team": "Driftwatch Test",
    "user": "driftwatch",
    "team_id": "T123",
    "user_id": "U123",
    "bot_id": "B123",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One call the fake received, in arrival order (rejected calls included)."""

    method: str
    body: dict[str, Any]
    authorization: str | None
    status: int
    response: dict[str, Any]

    @property
    def token(self) -> str | None:
        """The bearer token sent in the Authorization header, else a ``token`` form field."""
        return _token(self.authorization, self.body)


class FakeSlack:
    """The state and switches of one running fake; created by ``running_slack_server``."""

    def __init__(self, valid_tokens: Iterable[str] | None, channels: Iterable[str] | None) -> None:
        self.valid_tokens = None if valid_tokens is None else frozenset(valid_tokens)
        self.channels = None if channels is None else frozenset(channels)
        self.base_url = ""
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._fail_429 = 0
        self._retry_after = 1
        self._ts = 0
        self._posted: set[str] = set()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every call received so far, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The bodies of ``chat.postMessage`` calls and webhook posts that were accepted, in order,
        thread replies included (they carry ``thread_ts``)."""
        return [
            r.body
            for r in self.requests
            if r.method in ("chat.postMessage", "webhook") and r.status == 200 and r.response.get("ok")
        ]

    @property
    def webhook_url(self) -> str:
        """The incoming-webhook URL this fake accepts."""
        return self.base_url.removesuffix("/api/") + WEBHOOK_PATH

    def fail_next_with_429(self, n: int, retry_after: int = 1) -> None:
        """Answer the next ``n`` calls with HTTP 429 ``ratelimited`` and ``Retry-After``."""
        with self._lock:
            self._fail_429 = n
            self._retry_after = retry_after

    def handle(
        self,
        method: str,
        body: dict[str, Any],
        authorization: str | None,
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one call as Slack would: (HTTP status, extra headers, JSON body)."""
        with self._lock:
            status, headers, answer = self._answer(method, body, authorization)
            recorded = RecordedRequest(method, body, authorization, status, answer)
            self._requests.append(recorded)
            return status, headers, answer

    def _answer(
        self,
        method: str,
        body: dict[str, Any],
        authorization: str | None,
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self._fail_429 > 0:
            self._fail_429 -= 1
            return 429, {"Retry-After": str(self._retry_after)}, _error("ratelimited")
        if method == "webhook":
            return self._webhook(body)
        token = _token(authorization, body)
        if not token:
            return 200, {}, _error("not_authed")
        if self.valid_tokens is not None and token not in self.valid_tokens:
            return 200, {}, _error("invalid_auth")
        if method == "auth.test":
            return 200, {}, dict(AUTH_TEST)
        if method == "chat.postMessage":
            return 200, {}, self._post_message(body)
        return 200, {}, _error("unknown_method")

    def _webhook(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Slack answers webhooks in plain text: ``ok``, or an error code with a 4xx status."""
        blocks = body.get("blocks")
        if not body.get("text") and not blocks:
            return 400, {}, _error("no_text")
        if blocks and block_problems(blocks):
            return (
                400,
                {},
                {**_error("invalid_blocks"), "response_metadata": {"messages": block_problems(blocks)}},
            )
        return 200, {}, {"ok": True}

    def _post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if not isinstance(channel, str) or not channel:
            return _error("channel_not_found")
        if self.channels is not None and channel not in self.channels:
            return _error("channel_not_found")
        blocks = body.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not body.get("text") and not blocks:
            return _error("no_text")
        if len(str(body.get("text", ""))) > MAX_TEXT:
            return _error("msg_too_long")
        if blocks:
            problems = block_problems(blocks)
            if problems:
                error = "msg_blocks_too_long" if problems[0].startswith("total") else "invalid_blocks"
                return {**_error(error), "response_metadata": {"messages": problems}}
        thread = body.get("thread_ts")
        if thread is not None and thread not in self._posted:
            return _error("thread_not_found")  # Slack would post it unthreaded; a test must notice
        self._ts += 1
        ts = f"1700000000.{self._ts * 100:06d}"
        self._posted.add(ts)
        channel_id = channel if channel[:1] in "CGD" and channel.isupper() else "C123"
        message = {
            "type": "message",
            "user": "U123",
            "bot_id": "B123",
            "ts": ts,
            "text": body.get("text", ""),
            "blocks": blocks or [],
        }
        return {"ok": True, "channel": channel_id, "ts": ts, "message": message}


def block_problems(blocks: Any) -> list[str]:
    """The limits ``blocks`` breaks, worded like Slack's ``response_metadata.messages``."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    problems = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"[ERROR] missing required field: type [json-pointer:/blocks/{i}]")
            continue
        text = block["text"].get("text", "") if isinstance(block.get("text"), dict) else ""
        limit = MAX_HEADER_TEXT if block.get("type") == "header" else MAX_SECTION_TEXT
        if len(text) > limit:
            problems.append(
                f"[ERROR] must be less than {limit + 1} characters [json-pointer:/blocks/{i}/text/text]"
            )
    total = sum(text_size(b) for b in blocks)
    if total > MAX_BLOCKS_TEXT:
        problems.insert(0, f"total text of blocks is {total} characters (over {MAX_BLOCKS_TEXT})")
    return problems


def text_size(value: Any) -> int:
    """The number of characters in every ``text`` string inside a block."""
    if isinstance(value, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else text_size(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(text_size(v) for v in value)
    return 0


def _token(authorization: str | None, body: dict[str, Any]) -> str | None:
    if authorization and authorization.startswith("Bearer "):
        return authorization.removeprefix("Bearer ")
    value = body.get("token")
    return value if isinstance(value, str) else None


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8")
        if self.headers.get_content_type() == "application/json":
            body = json.loads(raw) if raw else {}
        else:
            body = dict(parse_qsl(raw, keep_blank_values=True))
        path = self.path.split("?", 1)[0]
        webhook = path.startswith("/services/")
        if webhook and path != WEBHOOK_PATH:
            status, headers, answer = 404, {}, _error("no_service")
        else:
            method = "webhook" if webhook else path.rsplit("/", 1)[-1]
            status, headers, answer = self.server.fake.handle(method, body, self.headers.get("Authorization"))
        data = json.dumps(answer).encode("utf-8")
        if webhook:  # incoming webhooks answer in plain text: "ok" or the error code
            data = ("ok" if answer.get("ok") else str(answer.get("error"))).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if webhook else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def running_slack_server(
    valid_tokens: Iterable[str] | None = (slack_token("test-token"),),
    channels: Iterable[str] | None = None,
) -> Iterator[FakeSlack]:
    """Run a fake Slack on 127.0.0.1 for the ``with`` block; ``base_url`` ends in ``/api/``.

    ``valid_tokens=None`` accepts any token; ``channels=None`` accepts any channel.
    """
    fake = FakeSlack(valid_tokens, channels)
    server = _Server(fake)
    host, port = server.server_address[:2]
    fake.base_url = f"http://{host!s}:{port}/api/"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
