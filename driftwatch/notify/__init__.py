"""Notifiers: the registry and the small interface every notifier implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from driftwatch.model import RunReport, Severity


class Notifier(Protocol):
    """Delivers one run's report somewhere. Raises ``NotifyError`` when it cannot."""

    name: str
    min_severity: Severity

    def notify(self, report: RunReport) -> None:
        """Send what ``report`` holds at or above ``min_severity``; raise NotifyError on failure."""


NotifierFactory = Callable[..., Notifier]
NOTIFIERS: dict[str, NotifierFactory] = {}


def register(name: str) -> Callable[[NotifierFactory], NotifierFactory]:
    """Register a notifier factory under the ``type`` name used in ``[[notify]]`` entries."""

    def add(factory: NotifierFactory) -> NotifierFactory:
        NOTIFIERS[name] = factory
        return factory

    return add
