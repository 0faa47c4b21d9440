"""The webhook notifier: POSTs a run's findings as JSON (``driftwatch.findings/1``), optionally signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from email.message import Message

from driftwatch import __version__
from driftwatch.errors import NotifyError
from driftwatch.model import Notification, Severity
from driftwatch.notify import register
from driftwatch.report_json import notification_json

SIGNATURE_HEADER = "X-Driftwatch-Signature-256"
"""``sha256=<hex>``: HMAC-SHA256 of the exact request body, keyed with the shared secret."""
RETRIED_STATUS = (408, 425, 429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 60.0


def signature(secret: bytes, body: bytes) -> str:
    """The value of the signature header for ``body``: what a receiver recomputes and compares."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@register("webhook")
class WebhookNotifier:
    """POSTs one JSON document per run to ``url``; retries what may pass later (connection errors,
    429 and 5xx answers) with backoff, and raises NotifyError for the rest."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        min_severity: Severity = Severity.LOW,
        secret: bytes | None = None,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 1.0,
    ) -> None:
        self.url = url
        self.min_severity = min_severity
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._secret = secret

    def __repr__(self) -> str:
        return f"WebhookNotifier(url={self.url!r}, min_severity={self.min_severity})"

    def body(self, notification: Notification) -> bytes | None:
        """The request body: the run's findings at or above the threshold, its coverage gaps, and
        what is news (``alerts``, ``gap_changes``); None when the run has no news for this threshold."""
        if not notification.has_news(self.min_severity):
            return None
        document = notification_json(notification, self.min_severity)
        return json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")

    def notify(self, notification: Notification) -> None:
        """POST the document; nothing when the run has no news at or above the threshold."""
        body = self.body(notification)
        if body is None:
            return
        headers = {"Content-Type": "application/json", "User-Agent": f"driftwatch/{__version__}"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        for attempt in range(1, self.attempts + 1):
            delay, problem = self._post(body, headers)
            if problem is None:
                return
            if delay is None or attempt == self.attempts:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise NotifyError(f"webhook POST to {self.url} failed{tries}: {problem}")
            time.sleep(max(delay, self.backoff * 2 ** (attempt - 1)))

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[float | None, str | None]:
        """One POST: (None, None) on success, else (seconds to wait before a retry or None, problem)."""
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read()
            return None, None
        except urllib.error.HTTPError as err:
            problem = f"HTTP {err.code} {err.reason}"
            if err.code in RETRIED_STATUS:
                return _retry_after(err.headers), problem
            return None, problem + " (check [[notify]] url and what the receiver expects)"
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", None) or err
            return 0.0, f"cannot reach the receiver ({reason})"


def _retry_after(headers: Message) -> float:
    """Seconds asked for by a ``Retry-After`` header given in seconds (capped), else 0."""
    try:
        return min(float(headers.get("Retry-After") or 0), MAX_RETRY_AFTER)
    except ValueError:
        return 0.0
