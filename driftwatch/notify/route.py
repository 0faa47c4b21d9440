"""Routing: a ``[[notify]]`` entry's filter decides which findings its notifier sees."""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase

from driftwatch.config import NotifyFilter
from driftwatch.model import CoverageGap, Notification
from driftwatch.notify import Notifier


class Routed:
    """Wraps a notifier so that it sees only the findings (and gaps) its filter takes."""

    def __init__(self, inner: Notifier, routing: NotifyFilter) -> None:
        self.inner = inner
        self.routing = routing
        self.name = inner.name
        self.min_severity = inner.min_severity

    def __repr__(self) -> str:
        return f"Routed({self.inner!r}, {self.routing!r})"

    def notify(self, notification: Notification) -> None:
        """Pass on the notification cut down to what the filter takes."""
        self.inner.notify(select(notification, self.routing))


def select(notification: Notification, routing: NotifyFilter) -> Notification:
    """``notification`` with only the findings and alerts ``routing`` matches, and the coverage gaps
    in its accounts and resources (rules and severities do not apply to gaps: a gap has neither)."""
    report = notification.report
    return replace(
        notification,
        report=replace(
            report,
            findings=tuple(f for f in report.findings if routing.matches(f)),
            gaps=tuple(g for g in report.gaps if _gap_matches(g, routing)),
        ),
        alerts=tuple(a for a in notification.alerts if routing.matches(a.finding)),
        quiet=tuple(f for f in notification.quiet if routing.matches(f)),
        gaps=tuple(n for n in notification.gaps if _gap_matches(n.gap, routing)),
    )


def _gap_matches(gap: CoverageGap, routing: NotifyFilter) -> bool:
    if routing.accounts and gap.scope.account not in routing.accounts:
        return False
    if routing.resources and gap.resource is not None:
        return any(fnmatchcase(gap.resource.key, pattern) for pattern in routing.resources)
    return True
