"""Building the configured notifiers; a notifier that cannot be built is reported, not fatal."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from driftwatch.config import NotifySettings
from driftwatch.errors import NotifyError
from driftwatch.notify import Notifier


def build_notifiers(
    entries: Sequence[NotifySettings], write: Callable[[str], None]
) -> tuple[list[Notifier], list[str]]:
    """The notifiers of the ``[[notify]]`` entries, and one error line for each that failed."""
    from driftwatch.notify.console import ConsoleNotifier
    from driftwatch.notify.slack import SlackNotifier

    notifiers: list[Notifier] = []
    errors: list[str] = []
    for index, entry in enumerate(entries):
        try:
            if entry.type == "console":
                notifiers.append(ConsoleNotifier(write, entry.min_severity))
            elif entry.type == "slack":
                token_env = str(entry.options["token_env"])
                token = os.environ.get(token_env, "")
                if not token:
                    raise NotifyError(
                        f"[[notify]] #{index + 1} (slack {entry.options['channel']}): the "
                        f"environment variable {token_env} is not set; it must hold the "
                        "Slack bot token"
                    )
                notifiers.append(
                    SlackNotifier(
                        channel=str(entry.options["channel"]),
                        token=token,
                        min_severity=entry.min_severity,
                        base_url=str(entry.options["base_url"]),
                    )
                )
            else:  # pragma: no cover - config validation admits only known types
                raise NotifyError(f"[[notify]] #{index + 1}: unknown type {entry.type!r}")
        except NotifyError as exc:
            errors.append(str(exc))
    return notifiers, errors
