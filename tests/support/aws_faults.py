"""A loopback HTTP proxy in front of moto that answers chosen AWS calls with injected errors."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_S3CONTROL_PREFIX = "/v20180820/"
# The S3 sub-resources driftwatch reads, by query key; the operation is <Verb><suffix>.
_S3_SUBRESOURCES = {
    "acl": "BucketAcl",
    "policy": "BucketPolicy",
    "policyStatus": "BucketPolicyStatus",
    "publicAccessBlock": "PublicAccessBlock",
    "ownershipControls": "BucketOwnershipControls",
    "encryption": "BucketEncryption",
    "versioning": "BucketVersioning",
    "logging": "BucketLogging",
    "website": "BucketWebsite",
    "tagging": "BucketTagging",
    "location": "BucketLocation",
}
_S3_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}
# REST APIs without an Action or a target header: (service, method, path pattern) -> operation.
_REST_ROUTES = (
    ("lambda", "GET", re.compile(r"/2015-03-31/functions/?"), "ListFunctions"),
    ("lambda", "GET", re.compile(r"/2021-10-31/functions/[^/]+/url"), "GetFunctionUrlConfig"),
    ("lambda", "GET", re.compile(r"/2015-03-31/functions/[^/]+/policy"), "GetPolicy"),
    ("lambda", "GET", re.compile(r"/2015-03-31/functions/[^/]+/aliases"), "ListAliases"),
    ("guardduty", "GET", re.compile(r"/detector"), "ListDetectors"),
    ("guardduty", "GET", re.compile(r"/detector/[^/]+"), "GetDetector"),
)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
}


@dataclass(frozen=True)
class Call:
    """One request as the proxy understood it, and the status it was answered with."""

    service: str
    operation: str
    region: str | None
    bucket: str | None
    status: int
    params: dict[str, str] = field(default_factory=dict, compare=False)
    """The query-protocol form fields (ec2, iam, sts), such as ``RoleArn``, or a JSON-protocol call's
    top-level scalar arguments as text (sqs ``ListQueues``: ``{"MaxResults": "1000"}``), or a REST
    route's query (lambda ``GetPolicy``: ``{"Qualifier": "live"}``); empty for other protocols."""


@dataclass
class Fault:
    """An error to answer instead of forwarding: every matching call, or only the first ``times``.

    ``service`` is ``ec2``, ``iam``, ``sts``, ``s3``, ``s3control`` or a JSON service's signing
    name; ``operation`` is AWS's operation name (``DescribeSecurityGroups``,
    ``GetPublicAccessBlock``) or ``*`` for all of them. ``region`` (SigV4 scope) and ``bucket``
    narrow the match when given, and so do ``params``: arguments (see ``Call.params``) that must all
    have these values (``{"RoleArn": ...}`` for one role of ``sts``'s ``AssumeRole``,
    ``{"Qualifier": "live"}`` for one Lambda alias). ``disconnect`` closes the
    connection without an answer instead.
    ``hits`` counts the calls answered so far.
    """

    service: str
    operation: str
    code: str = "AccessDenied"
    status: int = 403
    message: str = "Access Denied"
    region: str | None = None
    bucket: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    times: int | None = None
    disconnect: bool = False
    hits: int = field(default=0, init=False)

    def matches(self, call: Call) -> bool:
        """True when ``call`` is one this fault is about and it has answers left."""
        return (
            self.service == call.service
            and self.operation in ("*", call.operation)
            and self.region in (None, call.region)
            and self.bucket in (None, call.bucket)
            and all(
                k in call.params if v is None else call.params.get(k) == v for k, v in self.params.items()
            )
            and (self.times is None or self.hits < self.times)
        )


def identify(method: str, path: str, query: str, headers: Message, body: bytes) -> Call:
    """The service, operation, SigV4 region and bucket of one request (status not yet known)."""
    scope = _SCOPE.search(headers.get("Authorization", ""))
    region, service = (scope.group(1), scope.group(2)) if scope else (None, "")
    bucket = None
    params: dict[str, str] = {}
    if path.startswith(_S3CONTROL_PREFIX):
        service = "s3control"
        resource = path.removeprefix(_S3CONTROL_PREFIX).split("/")[-1]
        operation = _S3_VERBS.get(method, method.title()) + resource[:1].upper() + resource[1:]
    elif target := headers.get("X-Amz-Target"):
        operation = target.rsplit(".", 1)[-1]
        params = _json_arguments(body)
    elif route := next(
        (r for r in _REST_ROUTES if r[:2] == (service, method) and r[2].fullmatch(path)), None
    ):
        operation = route[3]
        params = dict(parse_qsl(query))  # Qualifier=live: one alias's URL or policy
    elif service == "s3":
        bucket = unquote(path.lstrip("/").split("/", 1)[0]) or None
        keys = [key for key, _ in parse_qsl(query, keep_blank_values=True)]
        known = next((_S3_SUBRESOURCES[key] for key in keys if key in _S3_SUBRESOURCES), None)
        verb = _S3_VERBS.get(method, method.title())
        if bucket is None:
            operation = "ListBuckets"
        elif known:
            operation = verb + known
        else:
            operation = {"GET": "ListObjects", "HEAD": "HeadBucket"}.get(method, verb + "Bucket")
    else:  # query protocol (ec2, iam, sts, rds): Action= in the form body or the query string
        params = dict(parse_qsl(body.decode("utf-8", "replace"))) | dict(parse_qsl(query))
        operation = params.get("Action", "")
    return Call(service, operation, region, bucket, 0, params)


def _json_arguments(body: bytes) -> dict[str, str]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    return {str(k): str(v) for k, v in document.items() if isinstance(v, str | int | float | bool)}


def error_body(service: str, code: str, message: str) -> tuple[bytes, str]:
    """The error document and content type that ``service``'s protocol uses for ``code``."""
    if service not in ("s3", "s3control", "ec2", "iam", "sts", "rds", "sns"):  # JSON protocols
        return json.dumps({"__type": code, "message": message}).encode(), "application/x-amz-json-1.1"
    code, message = escape(code), escape(message)
    if service in ("s3", "s3control"):
        text = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>x</RequestId></Error>"
    elif service == "ec2":
        text = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            "</Errors><RequestID>x</RequestID></Response>"
        )
    else:  # iam, sts, rds, sns
        text = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}"
            "</Message></Error><RequestId>x</RequestId></ErrorResponse>"
        )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{text}'.encode(), "application/xml"


class FaultProxy:
    """The state of one running proxy: its URL, the faults in force, and every call seen."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.url = ""
        self.down = False
        """When True, every connection is closed without an answer (the endpoint is down)."""
        self.delay = 0.0
        """Seconds each forwarded call waits before it is forwarded, so that overlaps show."""
        self.most_at_once = 0
        """The most calls that were being answered at the same moment since the last ``clear``."""
        self._at_once = 0
        self._faults: list[Fault] = []
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def add_fault(self, fault: Fault) -> Fault:
        """Answer matching calls with ``fault`` from now on (earlier faults are tried first)."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forward everything again; forget the calls seen so far."""
        with self._lock:
            self._faults.clear()
            self._calls.clear()
            self.down = False
            self.most_at_once = 0

    def calls(self, operation: str | None = None) -> list[Call]:
        """The calls seen since the last ``clear``, in arrival order, optionally of one operation."""
        with self._lock:
            return [c for c in self._calls if operation in (None, c.operation)]

    def _decide(self, call: Call) -> Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.matches(call)), None)
            if fault is not None:
                fault.hits += 1
            return fault

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    @contextmanager
    def _answering(self) -> Iterator[None]:
        with self._lock:
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            yield
        finally:
            with self._lock:
                self._at_once -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no access log on stderr."""

    def _handle(self) -> None:
        proxy = self.server.proxy
        if proxy.down:
            self.close_connection = True
            return
        body = self._body()
        path, _, query = self.path.partition("?")
        call = identify(self.command, path, query, self.headers, body)
        fault = proxy._decide(call)
        if fault is not None and fault.disconnect:
            proxy._record(call)
            self.close_connection = True
            return
        if fault is not None:
            payload, content_type = error_body(call.service, fault.code, fault.message)
            status, headers = fault.status, [("Content-Type", content_type), ("x-amzn-RequestId", "x")]
        else:
            with proxy._answering():
                time.sleep(proxy.delay)
                status, headers, payload = self._forward(body)
        proxy._record(Call(call.service, call.operation, call.region, call.bucket, status, call.params))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name, _ in headers):  # HEAD keeps moto's
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            dropped = _HOP_BY_HOP - ({"content-length"} if self.command == "HEAD" else set())
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in dropped]
            return answer.status, kept, payload
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: FaultProxy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.proxy = proxy


@contextmanager
def running_fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """Serve a fault-injecting proxy to ``upstream`` on 127.0.0.1 (a free port); yield it."""
    proxy = FaultProxy(upstream)
    server = _ProxyServer(proxy)
    host, port = server.server_address[:2]
    proxy.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="aws-fault-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
