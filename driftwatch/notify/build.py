"""Building the configured notifiers; a notifier that cannot be built is reported, not fatal."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from driftwatch.config import NotifySettings
from driftwatch.errors import NotifyError
from driftwatch.notify import Notifier


def build_notifiers(
    entries: Sequence[NotifySettings], write: Callable[[str], None], templates_dir: Path | None = None
) -> tuple[list[Notifier], list[str]]:
    """The notifiers of the ``[[notify]]`` entries, and one error line for each that failed.

    ``templates_dir`` holds templates that replace the shipped ones of the same name. An entry
    with a filter gets a notifier that sees only the findings the filter takes.
    """
    notifiers, errors = build_keyed_notifiers(entries, write, templates_dir)
    return list(notifiers.values()), list(errors.values())


def build_keyed_notifiers(
    entries: Sequence[NotifySettings], write: Callable[[str], None], templates_dir: Path | None = None
) -> tuple[dict[str, Notifier], dict[str, str]]:
    """As ``build_notifiers``, each notifier and error under its entry's key (``NotifySettings.key``),
    the name alert-state.json keeps its deliveries under."""
    from driftwatch.notify.route import Routed

    notifiers: dict[str, Notifier] = {}
    errors: dict[str, str] = {}
    for index, entry in enumerate(entries):
        label = entry.label or f"[[notify]] #{index + 1} ({entry.type})"
        key = entry.key or label
        try:
            notifier = _build(entry, label, write, templates_dir)
        except NotifyError as exc:
            errors[key] = f"{label}: {exc}" if not str(exc).startswith(label) else str(exc)
            continue
        notifiers[key] = notifier if entry.filter.takes_all else Routed(notifier, entry.filter)
    return notifiers, errors


def _build(
    entry: NotifySettings, label: str, write: Callable[[str], None], templates_dir: Path | None
) -> Notifier:
    from driftwatch.notify.render import environment

    options = entry.options
    if entry.type == "console":
        from driftwatch.notify.console import ConsoleNotifier

        return ConsoleNotifier(
            write, entry.min_severity, environment(templates_dir), only_news=bool(options["only_news"])
        )
    if entry.type == "slack":
        from driftwatch.notify.slack import SlackNotifier, default_templates

        webhook_env = str(options["webhook_url_env"])
        if webhook_env:
            return SlackNotifier(
                min_severity=entry.min_severity,
                templates=default_templates(templates_dir),
                webhook_url=_secret(label, webhook_env, "the Slack incoming-webhook URL"),
            )
        return SlackNotifier(
            channel=str(options["channel"]),
            token=_secret(label, str(options["token_env"]), "the Slack bot token"),
            min_severity=entry.min_severity,
            base_url=str(options["base_url"]),
            templates=default_templates(templates_dir),
            thread_details=bool(options["thread_details"]),
        )
    if entry.type == "webhook":
        from driftwatch.notify.webhook import WebhookNotifier

        secret_env = str(options["secret_env"])
        secret = _secret(label, secret_env, "the webhook's signing secret") if secret_env else None
        return WebhookNotifier(
            url=str(options["url"]),
            min_severity=entry.min_severity,
            secret=secret.encode("utf-8") if secret is not None else None,
            timeout=float(options["timeout"]),
        )
    if entry.type == "email":
        from driftwatch.notify.email import EmailNotifier

        password_env = str(options["password_env"])
        return EmailNotifier(
            host=str(options["host"]),
            port=int(options["port"]),
            security=str(options["security"]),
            sender=str(options["from"]),
            recipients=tuple(options["to"]),
            min_severity=entry.min_severity,
            username=str(options["username"]),
            password=_secret(label, password_env, "the SMTP password") if password_env else "",
            timeout=float(options["timeout"]),
            templates=environment(templates_dir),
        )
    raise NotifyError(f"{label}: unknown type {entry.type!r}")  # pragma: no cover - config admits known ones


def _secret(label: str, variable: str, what: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise NotifyError(f"{label}: the environment variable {variable} is not set; it must hold {what}")
    return value
