"""Notifiers: the registry and the small interface every notifier implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from driftwatch.model import Notification, Severity


class Notifier(Protocol):
    """Delivers one run's notification somewhere. Raises ``NotifyError`` when it cannot.

    ``notification.at_least(min_severity)`` are the alerts to send (new, reopened, reminder,
    resolved); ``notification.gaps`` the coverage gaps that started or ended. A notifier that
    only sends news sends nothing when ``notification.has_news(min_severity)`` is false.
    ``notification.report`` keeps the whole run for notifiers that show everything (console).
    """

    name: str
    min_severity: Severity

    def notify(self, notification: Notification) -> None:
        """Send the news at or above ``min_severity``; raise NotifyError on failure."""


NotifierFactory = Callable[..., Notifier]
NOTIFIERS: dict[str, NotifierFactory] = {}


def register(name: str) -> Callable[[NotifierFactory], NotifierFactory]:
    """Register a notifier factory under the ``type`` name used in ``[[notify]]`` entries."""

    def add(factory: NotifierFactory) -> NotifierFactory:
        NOTIFIERS[name] = factory
        return factory

    return add
