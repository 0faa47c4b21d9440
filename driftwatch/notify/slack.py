"""The Slack notifier: renders one digest per run from templates and posts it with slack-sdk."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from driftwatch.errors import NotifyError
from driftwatch.model import Change, CoverageGap, Finding, JSONValue, Notification, RunReport, Severity
from driftwatch.notify import register
from driftwatch.notify.render import compact, loader, preload, render

JSON_TEMPLATE = "slack_digest.json.j2"
TEXT_TEMPLATE = "slack_digest.txt.j2"
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
# Slack also rejects a message whose blocks hold more than about 12,000 characters of text in all
# (msg_blocks_too_long; undocumented, see slackapi/bolt-js#2509), so parts stay well below that.
MAX_MESSAGE_TEXT = 10_000
PART_LABEL_ROOM = 500
MAX_VALUE_CHARS = 300
SHORT_COMMIT = 7
FENCE = "```"

TOKEN_ADVICE = "check the token in the environment variable named by [[notify]] token_env"
TEMPLATE_ADVICE = f"check custom templates ({JSON_TEMPLATE}) or report a driftwatch bug"
TOKEN_ERRORS = ("not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive")
MESSAGE_ERRORS = ("invalid_blocks", "msg_blocks_too_long", "msg_too_long")
ADVICE: dict[str, str] = {
    **dict.fromkeys(TOKEN_ERRORS, TOKEN_ADVICE),
    **dict.fromkeys(MESSAGE_ERRORS, TEMPLATE_ADVICE),
    "channel_not_found": "check [[notify]] channel, and invite the Slack app if it is private",
    "not_in_channel": "invite the Slack app to the channel or give it the chat:write.public scope",
    "is_archived": "the channel is archived; unarchive it or choose another [[notify]] channel",
    "missing_scope": "give the Slack app the chat:write scope and reinstall it",
    "ratelimited": "Slack still rate-limited the call after 3 retries; try again later",
}
DEFAULT_ADVICE = "see https://api.slack.com/methods/chat.postMessage#errors"


@dataclass(frozen=True)
class SlackMessage:
    """One ``chat.postMessage`` call: the notification text and the Block Kit blocks."""

    text: str
    blocks: list[dict[str, Any]]


def default_templates(override: Path | None = None) -> jinja2.Environment:
    """The digest templates shipped with driftwatch, each replaceable by a file in ``override``."""
    return jinja2.Environment(
        loader=loader(override),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # a running daemon keeps the templates it started with
    )


@register("slack")
class SlackNotifier:
    """Posts one digest per run to a Slack channel, in several parts when Slack's limits need it."""

    name = "slack"

    def __init__(
        self,
        channel: str,
        token: str,
        min_severity: Severity = Severity.LOW,
        base_url: str = "https://slack.com/api/",
        templates: jinja2.Environment | None = None,
    ) -> None:
        self.channel = channel
        self.min_severity = min_severity
        self.base_url = base_url
        self.templates = templates or default_templates()
        preload(self.templates, JSON_TEMPLATE, TEXT_TEMPLATE)
        self._token = token  # kept only to scrub it from error messages
        self._client = WebClient(token=token, base_url=base_url)
        self._client.retry_handlers = [
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(),
        ]

    def __repr__(self) -> str:
        return f"SlackNotifier(channel={self.channel!r}, min_severity={self.min_severity})"

    def notify(self, notification: Notification) -> None:
        """Post the digest of ``notification``; nothing when it has no news at or above the threshold."""
        messages = self.render(notification)
        for number, message in enumerate(messages, 1):
            try:
                self._client.chat_postMessage(
                    channel=self.channel,
                    text=message.text,
                    blocks=message.blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except (SlackClientError, OSError) as err:
                sent = f" after {number - 1} of {len(messages)} parts were sent" if number > 1 else ""
                raise self._error(err, sent) from err

    def render(self, notification: Notification) -> list[SlackMessage]:
        """The messages ``notify`` would post; empty when there is nothing to say."""
        report = notification.report
        if not notification.has_news(self.min_severity):
            return []
        context = digest_context(report, self.min_severity)
        parts = split_messages(self._render_blocks(context))
        messages = []
        for number, blocks in enumerate(parts, 1):
            text = self._render(TEXT_TEMPLATE, {**context, "part": number, "parts": len(parts)})
            label = {"type": "context", "elements": [{"type": "mrkdwn", "text": text.strip()}]}
            messages.append(SlackMessage(text.strip(), [label, *blocks] if number > 1 else blocks))
        return messages

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return render(self.templates, name, **context)

    def _render_blocks(self, context: dict[str, Any]) -> list[dict[str, Any]]:
        text = self._render(JSON_TEMPLATE, context)
        try:
            blocks = json.loads(text)
        except json.JSONDecodeError as err:
            raise NotifyError(
                f"Slack template {JSON_TEMPLATE} rendered invalid JSON ({err.msg} at line "
                f"{err.lineno} column {err.colno}); insert every value with |tojson"
            ) from err
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise NotifyError(f"Slack template {JSON_TEMPLATE} must render a JSON list of blocks")
        return blocks

    def _error(self, err: Exception, sent: str) -> NotifyError:
        """A NotifyError naming the channel, what went wrong and what to do, without the token."""
        if isinstance(err, SlackApiError):
            code, advice = _slack_error(err)
            what = f"failed with {code}"
        else:
            reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
            what = f"could not reach {self.base_url} ({reason})"
            advice = "check network access to Slack (and HTTPS_PROXY if you need a proxy)"
        message = f"Slack chat.postMessage to channel {self.channel} {what}{sent}: {advice}"
        return NotifyError(message.replace(self._token, "[token]") if self._token else message)


def _slack_error(err: SlackApiError) -> tuple[str, str]:
    """Slack's error code (else the HTTP status) and what to do, with any details Slack gave."""
    data = err.response.data if isinstance(err.response.data, dict) else {}
    code = data.get("error")
    if not isinstance(code, str) or not code or " " in code:  # not Slack's JSON: a proxy, say
        code = f"HTTP {err.response.status_code}"
    advice = ADVICE.get(code, DEFAULT_ADVICE)
    details = (data.get("response_metadata") or {}).get("messages")
    if isinstance(details, list) and details:
        advice += " (Slack said: " + "; ".join(map(str, details)) + ")"
    return code, advice


def digest_context(report: RunReport, threshold: Severity) -> dict[str, Any]:
    """The template variables for ``report``: user data escaped for mrkdwn, long values cut."""
    shown = report.at_least(threshold)
    counts = [
        {"severity": str(severity), "count": count}
        for severity in sorted(Severity, reverse=True)
        if (count := sum(1 for f in report.findings if f.severity == severity))
    ]
    groups = [
        {"severity": str(severity), "count": len(group), "resources": _resources(group)}
        for severity, grouped in itertools.groupby(shown, key=lambda f: f.severity)
        if (group := list(grouped))
    ]
    return {
        "run_id": escape(report.run_id),
        "commit": escape(report.commit[:SHORT_COMMIT]) if report.commit else None,
        "state_repo": escape(report.state_repo),
        "min_severity": str(threshold),
        "counts": counts,
        "total_findings": len(report.findings),
        "shown_findings": len(shown),
        "hidden_findings": len(report.findings) - len(shown),
        "groups": groups,
        "gaps": [_gap(gap) for gap in report.gaps],
    }


def _resources(findings: list[Finding]) -> list[dict[str, Any]]:
    resources = []
    for _, grouped in itertools.groupby(findings, key=lambda f: f.resource.key):
        group = list(grouped)
        r = group[0].resource
        names = {k: escape(getattr(r, k)) for k in ("name", "key", "account", "region", "type")}
        resources.append({**names, "findings": [_finding(f) for f in group]})
    return resources


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "rule": escape(finding.rule),
        "message": escape(finding.message),
        "against": finding.against,
        "new": finding.new_since_previous,
        "changes": [_change(c) for c in finding.changes],
    }


def _change(change: Change) -> dict[str, Any]:
    return {
        "path": escape(change.path or "(whole resource)"),
        "before": render_value(change.before),
        "after": render_value(change.after),
        "against": change.against,
    }


def _gap(gap: CoverageGap) -> dict[str, Any]:
    return {
        "where": escape(gap.resource.key if gap.resource else str(gap.scope)),
        "field": escape(gap.field) if gap.field else None,
        "api_call": escape(gap.api_call),
        "kind": gap.kind,
        "code": escape(gap.code),
        "message": escape(gap.message),
    }


def render_value(value: JSONValue) -> str:
    """A changed value as compact JSON (``null`` for None), escaped; long ones cut visibly."""
    return escape(compact(value, MAX_VALUE_CHARS))


def escape(text: str) -> str:
    """Escape Slack's control characters and break code fences, so user data stays plain text."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    while FENCE in text:  # a zero-width space keeps runs of backticks from closing a code block
        text = text.replace(FENCE, "`\u200b``")
    return text


def split_messages(blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cut ``blocks`` into messages within Slack's limits, splitting over-long section texts.

    When there is more than one part, each keeps room for the ``(part k of n)`` label block.
    """
    pieces = [piece for block in blocks for piece in _split_block(block)]
    if len(pieces) <= MAX_BLOCKS and sum(map(text_size, pieces)) <= MAX_MESSAGE_TEXT:
        return [pieces]
    parts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for block in pieces:
        grown = size + text_size(block)
        if current and (len(current) >= MAX_BLOCKS - 1 or grown > MAX_MESSAGE_TEXT - PART_LABEL_ROOM):
            parts.append(current)
            current, grown = [], text_size(block)
        current.append(block)
        size = grown
    parts.append(current)
    return parts


def _split_block(block: dict[str, Any]) -> list[dict[str, Any]]:
    text = block.get("text")
    if block.get("type") != "section" or not isinstance(text, dict):
        return [block]
    body = text.get("text")
    if not isinstance(body, str) or len(body) <= MAX_SECTION_TEXT:
        return [block]
    return [{**block, "text": {**text, "text": piece}} for piece in split_text(body)]


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Cut mrkdwn ``text`` at line ends into pieces of at most ``limit`` characters.

    A code block cut in two is closed at the end of one piece and reopened at the next.
    """
    room = limit - 2 * (len(FENCE) + 1)
    pieces: list[str] = []
    lines: list[str] = []
    size = -1
    starts_in_fence = in_fence = False
    for line in _short_lines(text.split("\n"), room):
        closes_fence = in_fence and line == FENCE  # room was kept for it
        if lines and size + 1 + len(line) > room and not closes_fence:
            ends_in_fence = in_fence
            if in_fence and lines[-1] == FENCE:  # don't leave an empty code block behind
                lines.pop()
                ends_in_fence = False
            if lines:
                head = [FENCE] if starts_in_fence else []
                pieces.append("\n".join([*head, *lines, *([FENCE] if ends_in_fence else [])]))
            lines, size, starts_in_fence = [], -1, in_fence
        lines.append(line)
        size += 1 + len(line)
        in_fence ^= line.count(FENCE) % 2 == 1
    head = [FENCE] if starts_in_fence else []
    pieces.append("\n".join([*head, *lines]))
    return pieces


def _short_lines(lines: list[str], room: int) -> list[str]:
    """``lines`` with any line longer than ``room`` cut, never inside an ``&amp;``-style entity."""
    out = []
    for line in lines:
        while len(line) > room:
            cut = room
            amp = line.rfind("&", room - 6, room)
            if amp > 0 and ";" not in line[amp:room]:
                cut = amp
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def text_size(value: Any) -> int:
    """The number of characters in every ``text`` string inside a block."""
    if isinstance(value, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else text_size(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(text_size(v) for v in value)
    return 0
