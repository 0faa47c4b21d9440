"""The console notifier: the run's findings as plain text, for a terminal, cron mail or CI logs."""

from __future__ import annotations

from collections.abc import Callable

import jinja2

from driftwatch.model import Notification, Severity
from driftwatch.notify import register
from driftwatch.notify.render import environment, preload, render, report_context


@register("console")
class ConsoleNotifier:
    """Writes the report through ``write`` (the CLI passes its own output function)."""

    name = "console"

    def __init__(
        self,
        write: Callable[[str], None],
        min_severity: Severity = Severity.LOW,
        templates: jinja2.Environment | None = None,
        only_news: bool = False,
    ) -> None:
        self.write = write
        self.min_severity = min_severity
        self.only_news = only_news
        self.templates = templates or environment()
        preload(self.templates, "console.txt.j2")

    def notify(self, notification: Notification) -> None:
        """Write the whole run as text, each finding marked with why it is news (if it is); with
        ``only_news``, nothing when the run has no news at or above ``min_severity``."""
        if self.only_news and not notification.has_news(self.min_severity):
            return
        self.write(
            render(self.templates, "console.txt.j2", **report_context(notification, self.min_severity))
        )
