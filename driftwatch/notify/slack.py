"""The Slack notifier: one digest per run from templates, posted with slack-sdk's WebClient (a bot
token) or WebhookClient (an incoming-webhook URL), with details of critical findings in a thread."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient

from driftwatch.errors import NotifyError
from driftwatch.model import Notification, Severity
from driftwatch.notify import register
from driftwatch.notify.render import loader, preload, render
from driftwatch.notify.slack_digest import (
    MAX_TEXT,
    as_text,
    detail_context,
    digest_context,
    split_messages,
)

JSON_TEMPLATE = "slack_digest.json.j2"
TEXT_TEMPLATE = "slack_digest.txt.j2"
DETAIL_TEMPLATE = "slack_detail.json.j2"
RETRIES = 3

TOKEN_ADVICE = "check the token in the environment variable named by [[notify]] token_env"
TEMPLATE_ADVICE = f"check custom templates ({JSON_TEMPLATE}, {DETAIL_TEMPLATE}) or report a driftwatch bug"
TOKEN_ERRORS = ("not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive")
MESSAGE_ERRORS = ("invalid_blocks", "msg_blocks_too_long", "msg_too_long", "invalid_payload")
WEBHOOK_ADVICE = "the incoming-webhook URL in the environment variable named by [[notify]] webhook_url_env"
ADVICE: dict[str, str] = {
    **dict.fromkeys(TOKEN_ERRORS, TOKEN_ADVICE),
    **dict.fromkeys(MESSAGE_ERRORS, TEMPLATE_ADVICE),
    "channel_not_found": "check [[notify]] channel, and invite the Slack app if it is private",
    "not_in_channel": "invite the Slack app to the channel or give it the chat:write.public scope",
    "is_archived": "the channel is archived; unarchive it or choose another [[notify]] channel",
    "channel_is_archived": "the webhook's channel is archived; make a new incoming webhook",
    "missing_scope": "give the Slack app the chat:write scope and reinstall it",
    "ratelimited": f"Slack still rate-limited the call after {RETRIES} retries; try again later",
    "rate_limited": f"Slack still rate-limited the call after {RETRIES} retries; try again later",
    "invalid_token": f"{WEBHOOK_ADVICE} was revoked; make a new incoming webhook",
    "no_service": f"{WEBHOOK_ADVICE} is unknown to Slack (removed, or mistyped)",
    "no_team": f"{WEBHOOK_ADVICE} is unknown to Slack (removed, or mistyped)",
    "team_disabled": "the Slack workspace is disabled",
}
DEFAULT_ADVICE = "see https://api.slack.com/methods/chat.postMessage#errors"


@dataclass(frozen=True)
class SlackMessage:
    """One message to post: the notification text and the Block Kit blocks."""

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


def retry_handlers() -> list[RetryHandler]:
    """Retries for what passes: connection errors, 429 (waiting as Retry-After says) and 5xx."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=RETRIES),
        RateLimitErrorRetryHandler(max_retry_count=RETRIES),
        ServerErrorRetryHandler(max_retry_count=RETRIES),
    ]


@register("slack")
class SlackNotifier:
    """Posts one digest per run, in several parts when Slack's limits need it.

    With a bot ``token`` it posts to ``channel`` through the Web API and, with
    ``thread_details``, answers the digest with one reply per critical finding. With a
    ``webhook_url`` it posts through that incoming webhook (which has no threads).
    """

    name = "slack"

    def __init__(
        self,
        channel: str = "",
        token: str = "",
        min_severity: Severity = Severity.LOW,
        base_url: str = "https://slack.com/api/",
        templates: jinja2.Environment | None = None,
        *,
        webhook_url: str = "",
        thread_details: bool = False,
    ) -> None:
        if bool(token) == bool(webhook_url):
            raise ValueError("a Slack notifier needs either a bot token and a channel, or a webhook URL")
        self.channel = channel
        self.min_severity = min_severity
        self.base_url = base_url
        self.thread_details = thread_details and not webhook_url
        self.templates = templates or default_templates()
        preload(self.templates, JSON_TEMPLATE, TEXT_TEMPLATE, DETAIL_TEMPLATE)
        self._secret = token or webhook_url  # kept only to scrub it from error messages
        self._client = WebClient(token=token, base_url=base_url, retry_handlers=retry_handlers())
        self._webhook = WebhookClient(webhook_url, retry_handlers=retry_handlers()) if webhook_url else None
        host = urlsplit(webhook_url).netloc if webhook_url else ""
        self.target = f"incoming webhook on {host}" if webhook_url else f"channel {channel}"

    def __repr__(self) -> str:
        return f"SlackNotifier({self.target!r}, min_severity={self.min_severity})"

    def notify(self, notification: Notification) -> None:
        """Post the digest (and the threads); nothing when there is no news at or above the threshold.

        The first failure stops the run's posting and raises one NotifyError that says what
        was sent before it.
        """
        messages = self.render(notification)
        thread: str | None = None
        for number, message in enumerate(messages, 1):
            sent = f" after {number - 1} of {len(messages)} parts were sent" if number > 1 else ""
            ts = self._post(message, None, sent)
            thread = thread or ts
        if thread is None:
            return
        for number, message in enumerate(self.render_details(notification), 1):
            self._post(message, thread, f" after the digest and {number - 1} thread replies were sent")

    def render(self, notification: Notification) -> list[SlackMessage]:
        """The digest messages ``notify`` would post; empty when there is nothing to say."""
        if not notification.has_news(self.min_severity):
            return []
        context = digest_context(notification, self.min_severity)
        parts = split_messages(self._render_blocks(JSON_TEMPLATE, context))
        messages = []
        for number, blocks in enumerate(parts, 1):
            text = self._render(TEXT_TEMPLATE, {**context, "part": number, "parts": len(parts)}).strip()
            label = {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
            messages.append(SlackMessage(text[:MAX_TEXT], [label, *blocks] if number > 1 else blocks))
        return messages

    def render_details(self, notification: Notification) -> list[SlackMessage]:
        """The thread replies: one per critical finding told about (not resolved), when enabled."""
        if not self.thread_details:
            return []
        messages = []
        for alert in notification.at_least(Severity.CRITICAL):
            if alert.kind == "resolved":
                continue
            context = detail_context(alert, notification)
            text = f"{alert.finding.rule} on {alert.finding.resource.key}"
            for blocks in split_messages(self._render_blocks(DETAIL_TEMPLATE, context)):
                messages.append(SlackMessage(text[:MAX_TEXT], blocks))
        return messages

    def preview(self, notification: Notification) -> str:
        """What ``notify`` would post, as plain text: each digest part, then the thread replies."""
        parts = [as_text(m.blocks) for m in self.render(notification)]
        replies = [as_text(m.blocks) for m in self.render_details(notification)] if parts else []
        return "\n\n".join(parts + ["(in a thread under the digest)\n" + r for r in replies])

    def _post(self, message: SlackMessage, thread: str | None, sent: str) -> str | None:
        """Post one message; its ``ts`` (None through a webhook); NotifyError when Slack refuses."""
        try:
            if self._webhook is not None:
                answer = self._webhook.send(
                    text=message.text, blocks=message.blocks, unfurl_links=False, unfurl_media=False
                )
                if answer.status_code != 200:
                    code = answer.body.strip() if answer.body and " " not in answer.body.strip() else ""
                    raise self._failure(code or f"HTTP {answer.status_code}", sent)
                return None
            response = self._client.chat_postMessage(
                channel=self.channel,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as err:
            code, details = _slack_error(err)
            raise self._failure(code, sent, details) from err
        except (SlackClientError, OSError) as err:
            reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
            where = urlsplit(self.base_url if self._webhook is None else self._secret).netloc
            raise self._scrubbed(
                f"Slack: posting to {self.target} could not reach {where} ({reason}){sent}: check "
                "network access to Slack (and HTTPS_PROXY if you need a proxy)"
            ) from err
        ts = response.get("ts")
        return ts if isinstance(ts, str) else None

    def _failure(self, code: str, sent: str, details: str = "") -> NotifyError:
        """A NotifyError naming the target, Slack's error code and what to do, without the secret."""
        advice = ADVICE.get(code, DEFAULT_ADVICE) + details
        method = "incoming webhook" if self._webhook is not None else "chat.postMessage"
        return self._scrubbed(f"Slack {method} to {self.target} failed with {code}{sent}: {advice}")

    def _scrubbed(self, message: str) -> NotifyError:
        return NotifyError(message.replace(self._secret, "[secret]") if self._secret else message)

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return render(self.templates, name, **context)

    def _render_blocks(self, name: str, context: dict[str, Any]) -> list[dict[str, Any]]:
        text = self._render(name, context)
        try:
            blocks = json.loads(text)
        except json.JSONDecodeError as err:
            raise NotifyError(
                f"Slack template {name} rendered invalid JSON ({err.msg} at line "
                f"{err.lineno} column {err.colno}); insert every value with |tojson"
            ) from err
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise NotifyError(f"Slack template {name} must render a JSON list of blocks")
        return blocks


def _slack_error(err: SlackApiError) -> tuple[str, str]:
    """Slack's error code (else the HTTP status) and any details Slack gave."""
    data = err.response.data if isinstance(err.response.data, dict) else {}
    code = data.get("error")
    if not isinstance(code, str) or not code or " " in code:  # not Slack's JSON: a proxy, say
        code = f"HTTP {err.response.status_code}"
    details = (data.get("response_metadata") or {}).get("messages")
    if isinstance(details, list) and details:
        return code, " (Slack said: " + "; ".join(map(str, details)) + ")"
    return code, ""
