"""The ``http`` collector: JSON settings APIs over HTTPS, paginated, rate-limit aware, failures as gaps.

Built on the standard library's urllib rather than a client library: driftwatch only sends a
few GET or POST requests for JSON, which urllib does with TLS verification on (the system's CAs)
and a timeout (per socket read; ``deadline.py`` makes it one for the whole request); the two
things it lacks, following ``Link`` headers and keeping the token off redirects to other hosts,
take a few lines here. That keeps a tool that holds admin tokens free
of another dependency tree.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from driftwatch import __version__
from driftwatch.collectors import Collection, register
from driftwatch.collectors.saas.deadline import Deadline
from driftwatch.collectors.saas.items import Items, ReadFailure
from driftwatch.collectors.saas.scrub import Scrubber
from driftwatch.collectors.saas.settings import ResourceSpec, SaasSettings
from driftwatch.model import CoverageGap, GapKind, JSONValue
from driftwatch.normalise import Redactor

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_DENIED_ERRORS = frozenset({"FORBIDDEN", "UNAUTHENTICATED", "UNAUTHORIZED", "INSUFFICIENT_SCOPES"})
"""GraphQL error types (GitHub's ``type``, Apollo's ``extensions.code``) that mean "not allowed"."""
_THROTTLED_ERRORS = frozenset({"RATE_LIMITED", "RATE_LIMIT_EXCEEDED"})
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL_NEXT = re.compile(r"""\brel\s*=\s*"?[^";]*\bnext\b""", re.IGNORECASE)


@dataclass(frozen=True)
class Response:
    """One successful answer: where it came from, its headers and its JSON document."""

    url: str
    headers: Message
    document: JSONValue


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (RFC 8288), as written (maybe relative)."""
    for match in _LINK.finditer(header or ""):
        if _REL_NEXT.search(match.group(2)):
            return match.group(1).strip()
    return None


def with_query(url: str, **params: str) -> str:
    """``url`` with the given query parameters set (replacing any of the same name)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode(query + list(params.items()))))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, sending the token again only to the same scheme, host and port."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) == _origin(req.full_url):
            for key, value in req.unredirected_hdrs.items():
                new.add_unredirected_header(key, value)
        return new


@register("http")
class HttpCollector:
    """Reads each configured resource type of one ``[saas.NAME]`` table from its HTTP API."""

    def __init__(
        self,
        settings: SaasSettings,
        redactor: Redactor,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.redactor = redactor
        self.sleep, self.clock = sleep, clock
        self._pause_until = 0.0
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
        if not settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self._tls = context

    def collect(self) -> Collection:
        """Every resource type read whole, or a gap for it (its last known state is kept)."""
        result = Collection()
        token = os.environ.get(self.settings.token_env, "") if self.settings.token_env else None
        scrub = Scrubber.of(self.redactor, *(os.environ.get(v) for v in self.settings.secret_variables()))
        for spec in self.settings.resources:
            items = Items(self.settings, spec, self.redactor)
            api_call = f"{spec.method} {self.settings.base_url}{spec.path}"
            try:
                if token == "":
                    raise ReadFailure(
                        "denied",
                        "NoToken",
                        f"the environment variable {self.settings.token_env} (token_env) is not set",
                    )
                self._from_environment("headers_env", self.settings.headers_env)
                self._from_environment("params_env", spec.params_env)
                resources = items.resources(self._read_all(spec, items, token, scrub))
            except ReadFailure as failure:
                message = scrub.text(failure.message)
                gap = CoverageGap(items.scope, api_call, failure.kind, failure.code, message)
                result = result.merge(Collection(gaps=(gap,)))
                continue
            result = result.merge(Collection(tuple(resources), frozenset({items.scope})))
        return result

    @staticmethod
    def _from_environment(key: str, names: tuple[tuple[str, str], ...]) -> dict[str, str]:
        """The values of ``headers_env`` or ``params_env``, read now (a secret that rotates is fresh)."""
        values = {}
        for name, variable in names:
            value = os.environ.get(variable, "")
            if not value:
                raise ReadFailure(
                    "denied", "NoSecret", f"the environment variable {variable} ({key}.{name}) is not set"
                )
            values[name] = value
        return values

    # -- pagination -------------------------------------------------------------------------

    def _read_all(
        self, spec: ResourceSpec, items: Items, token: str | None, scrub: Scrubber
    ) -> list[JSONValue]:
        url = self.settings.base_url + spec.path
        params = dict(spec.params) | self._from_environment("params_env", spec.params_env)
        if params:
            url = with_query(url, **params)
        body = copy.deepcopy(spec.body)
        page = spec.first_page
        if spec.paginate == "page":
            url = with_query(url, **{spec.page_param: str(page)})
        found: list[JSONValue] = []
        seen: set[str] = set()
        for _ in range(self.settings.max_pages):
            seen.add(url + json.dumps(body, sort_keys=True))
            response = self._request(spec.method, url, body, token, scrub)
            page_items = items.select(response.document)
            found += page_items
            if spec.paginate == "link":
                link = next_link(response.headers.get("Link"))
                if link is None:
                    return found
                url = self._same_origin(urljoin(response.url, link))
            elif spec.paginate == "cursor":
                cursor = self._cursor(spec, response.document)
                if cursor is None:
                    return found
                if not spec.cursor_param:  # the cursor is the next page's URL (@odata.nextLink)
                    url = self._same_origin(urljoin(response.url, cursor))
                elif spec.method == "GET":
                    url = with_query(url, **{spec.cursor_param: cursor})
                else:  # GraphQL: the cursor is a variable of the query
                    body = copy.deepcopy(body) if isinstance(body, dict) else {}
                    body.setdefault("variables", {})[spec.cursor_param] = cursor
            elif spec.paginate == "page" and page_items:
                page += 1
                url = with_query(url, **{spec.page_param: str(page)})
            else:
                return found
            if url + json.dumps(body, sort_keys=True) in seen:
                raise ReadFailure("error", "PaginationLoop", f"the API sent the same next page twice: {url}")
        raise ReadFailure("error", "TooManyPages", f"more than max_pages = {self.settings.max_pages} pages")

    def _cursor(self, spec: ResourceSpec, document: JSONValue) -> str | None:
        if spec.more_field is not None and spec.more_field.values(document) != [True]:
            return None
        assert spec.cursor_field is not None  # checked when the config was loaded
        values = [v for v in spec.cursor_field.values(document) if isinstance(v, str | int) and v != ""]
        if not values and spec.more_field is not None:
            # Stopping here would record every item of the later pages as deleted.
            raise ReadFailure(
                "error",
                "NoCursor",
                f"{spec.more_field} says there are more pages, but there is no cursor at "
                f"{spec.cursor_field}; the later pages cannot be read",
            )
        return str(values[0]) if values else None

    def _same_origin(self, url: str) -> str:
        if _origin(url) != _origin(self.settings.base_url):
            raise ReadFailure(
                "error",
                "ForeignNextPage",
                f"the next page is on another host ({url}); not followed, so the token stays with "
                f"{self.settings.base_url}",
            )
        return url

    # -- one request, with retries --------------------------------------------------------

    def _request(
        self, method: str, url: str, body: JSONValue, token: str | None, scrub: Scrubber
    ) -> Response:
        """One answer; ``scrub`` takes the token out of it before anything reads or quotes it."""
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            self._wait(self._pause_until - self.clock(), "the API's rate limit")
            request = self._build(method, url, body, token)
            try:
                status, headers, raw = self._exchange(request)
            except (OSError, http.client.HTTPException) as error:  # OSError: URLError, timeouts, resets
                reason = error.reason if isinstance(error, urllib.error.URLError) else error
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise ReadFailure(
                        "unreachable",
                        "TLSVerifyFailed",
                        f"{url}: the TLS certificate is not trusted ({reason.verify_message}); give the "
                        "service's CA in ca_file (verify_tls = false only for a test server)",
                    ) from None
                if attempt == attempts:
                    code = "Timeout" if isinstance(reason, TimeoutError) else "ConnectionFailed"
                    raise ReadFailure(
                        "unreachable", code, f"{url}: {_failure(reason)} ({attempts} attempts)"
                    ) from None
                self._wait(min(2.0 ** (attempt - 1), self.settings.max_wait), "a failed connection")
                continue
            self._note_rate_limit(headers)
            if 200 <= status < 300:
                document = scrub.document(self._json(url, raw, scrub))
                if method == "POST":
                    self._graphql_errors(url, document)
                return Response(url, headers, document)
            asked = self._retry_after(status, headers)
            if status in RETRY_STATUSES or asked is not None:
                throttled = status == 429 or asked is not None
                if attempt < attempts:
                    delay = asked if asked is not None else min(2.0 ** (attempt - 1), self.settings.max_wait)
                    self._wait(delay, f"HTTP {status} from {url}")
                    continue
                kind: GapKind = "throttled" if throttled else "error"
                raise ReadFailure(kind, f"HTTP{status}", f"{url}: HTTP {status} after {attempts} attempts")
            refused: GapKind = "denied" if status in (401, 403) else "error"
            raise ReadFailure(refused, f"HTTP{status}", f"{url}: HTTP {status}: {_snippet(scrub.raw(raw))}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(self, request: urllib.request.Request) -> tuple[int, Message, bytes]:
        """Status, headers and body of one request, all within ``timeout`` seconds (TimeoutError)."""
        with Deadline(self.settings.timeout) as deadline:
            opener = urllib.request.build_opener(*deadline.handlers(self._tls), _SameOriginRedirects())
            try:
                try:
                    with opener.open(request, timeout=self.settings.timeout) as answer:
                        status, headers, raw = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    with error:
                        status, headers, raw = error.code, error.headers, error.read()
            except (OSError, http.client.HTTPException):  # HTTPException: cut short (IncompleteRead)
                if deadline.expired:
                    raise TimeoutError(self._late()) from None
                raise
            if deadline.expired:  # the connection was shut: what was read may be cut short
                raise TimeoutError(self._late())
        return status, headers, raw

    def _late(self) -> str:
        return f"no whole answer within timeout = {self.settings.timeout:g} s"

    def _build(self, method: str, url: str, body: JSONValue, token: str | None) -> urllib.request.Request:
        data = json.dumps(body).encode() if method == "POST" else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", f"driftwatch/{__version__}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for key, value in self.settings.headers:
            request.add_header(key, value)
        for key, value in self._from_environment("headers_env", self.settings.headers_env).items():
            request.add_unredirected_header(key, value)  # a secret: never sent to a redirect
        if token is not None:
            value = f"{self.settings.auth_scheme} {token}".strip()
            request.add_unredirected_header(self.settings.auth_header, value)  # never sent to a redirect
        return request

    def _json(self, url: str, raw: bytes, scrub: Scrubber) -> JSONValue:
        try:
            return json.loads(raw)
        except ValueError:
            snippet = _snippet(scrub.raw(raw))
            raise ReadFailure("error", "NotJson", f"{url}: the answer is not JSON: {snippet}") from None

    def _graphql_errors(self, url: str, document: JSONValue) -> None:
        """A GraphQL answer with ``errors`` is a failure, even with status 200 and partial ``data``.

        GraphQL reports a field it may not read (``FORBIDDEN``) as ``null`` in ``data`` plus an
        entry in ``errors``: stored as read, that null would say "not configured" (a branch's
        protection removed) when it is unknown.
        """
        errors = document.get("errors") if isinstance(document, dict) else None
        if not isinstance(errors, list) or not errors:
            return
        first = errors[0] if isinstance(errors[0], dict) else {}
        extensions = first.get("extensions")
        kind_of = first.get("type") or (extensions.get("code") if isinstance(extensions, dict) else None)
        what = str(kind_of) if isinstance(kind_of, str | int) else ""
        gap: GapKind = "error"
        if what.upper() in _DENIED_ERRORS:
            gap = "denied"
        elif what.upper() in _THROTTLED_ERRORS:
            gap = "throttled"
        message = first.get("message") if isinstance(first.get("message"), str) else json.dumps(errors[0])
        raise ReadFailure(
            gap,
            "GraphQLError",
            f"{url}: {self.settings.service} answered with {len(errors)} error(s) in errors[]; the first"
            f"{f' ({what})' if what else ''}: {_shorten(str(message))}",
        )

    def _retry_after(self, status: int, headers: Message) -> float | None:
        """Seconds the server asked to wait: Retry-After, or a rate limit at 0 with its reset time."""
        value = headers.get("Retry-After")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    return max(0.0, parsedate_to_datetime(value).timestamp() - self.clock())
                except (TypeError, ValueError):
                    return None
        if status in (403, 429) and _remaining(headers) == 0:
            return max(0.0, self._reset_at(headers) - self.clock())
        return None

    def _note_rate_limit(self, headers: Message) -> None:
        """After an answer that used the last request of the window, wait for its reset."""
        if _remaining(headers) == 0:
            self._pause_until = self._reset_at(headers)

    def _reset_at(self, headers: Message) -> float:
        epoch = headers.get("X-RateLimit-Reset")  # GitHub and others: epoch seconds
        delta = headers.get("RateLimit-Reset")  # IETF draft: seconds from now
        try:
            if epoch:
                return float(epoch)
            if delta:
                return self.clock() + float(delta)
        except ValueError:
            pass
        return self.clock() + 60.0

    def _wait(self, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        if seconds > self.settings.max_wait:
            raise ReadFailure(
                "throttled",
                "RateLimited",
                f"{why}: asked to wait {seconds:.0f} s, more than max_wait = {self.settings.max_wait:g} s",
            )
        self.sleep(seconds)


def _remaining(headers: Message) -> int | None:
    value = headers.get("X-RateLimit-Remaining") or headers.get("RateLimit-Remaining")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _failure(reason: object) -> str:
    """What went wrong on the connection, readable: http.client's own errors say little alone."""
    if isinstance(reason, http.client.IncompleteRead):
        return f"the connection closed in the middle of the answer ({len(reason.partial)} bytes read)"
    if isinstance(reason, http.client.HTTPException) and not isinstance(reason, OSError):
        return f"the answer is not HTTP ({type(reason).__name__}: {str(reason)[:100]})"
    return str(reason)


def _snippet(raw: bytes) -> str:
    return _shorten(raw.decode("utf-8", errors="replace"))


def _shorten(text: str) -> str:
    text = text.strip().replace("\n", " ")
    return text[:200] + ("..." if len(text) > 200 else "")
