"""The lifecycle of findings and coverage gaps from run to run: what is news, kept in alert-state.json.

A finding (by its stable ``Finding.id``) is *open* from the run that first sees it until a run no
longer does; then it is *resolved*, and *reopened* if it comes back. A run tells about new,
reopened and resolved findings once, and about one still open only as a reminder after
``remind_after``. A coverage gap is told about when it starts and when it ends.

A notice is *pending* until the notifiers delivered it: the state records it, and if a notifier
failed, the next run tells it again rather than losing it. An *acknowledged* finding (``driftwatch
ack``, kept under baselines/acks/) stays open without any notice, and alerts again when the
acknowledgement expires.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from driftwatch.errors import StoreError
from driftwatch.layout import ALERT_STATE, identity_document, identity_from_document
from driftwatch.model import (
    Alert,
    AlertKind,
    Change,
    CoverageGap,
    Finding,
    GapChange,
    GapNotice,
    Notification,
    ResourceId,
    RunReport,
    Scope,
    Severity,
)
from driftwatch.normalise import file_text
from driftwatch.store import StateRepo

SCHEMA = "driftwatch.alert-state/1"
KEEP_RESOLVED = timedelta(days=90)
"""A resolved finding is remembered this long, so that its return counts as reopened, not new."""

Status = Literal["open", "resolved"]


@dataclass(frozen=True)
class Tracked:
    """One finding's lifecycle: its last seen form, its status and what was told about it."""

    finding: Finding
    status: Status
    opened: datetime
    notified: datetime | None = None
    pending: AlertKind | None = None
    resolved: datetime | None = None
    resolution: str | None = None
    reopened: int = 0


@dataclass(frozen=True)
class TrackedGap:
    """One coverage gap: since when, whether it has ended, and what is still to be told."""

    gap: CoverageGap
    since: datetime
    ended: datetime | None = None
    pending: GapChange | None = None


@dataclass(frozen=True)
class AlertState:
    """Every tracked finding by id and every tracked gap by key (see ``gap_key``)."""

    findings: Mapping[str, Tracked] = field(default_factory=dict)
    gaps: Mapping[str, TrackedGap] = field(default_factory=dict)


@dataclass(frozen=True)
class Update:
    """What one run has to say, and the state to keep once it is said."""

    alerts: tuple[Alert, ...]
    quiet: tuple[Finding, ...]
    gaps: tuple[GapNotice, ...]
    state: AlertState

    @property
    def has_news(self) -> bool:
        """True when the run has something to tell: an alert or a coverage gap that started or ended."""
        return bool(self.alerts or self.gaps)

    def delivered(self, now: datetime) -> AlertState:
        """The state to keep when every notifier delivered this run's notices."""
        findings = {
            key: replace(t, pending=None, notified=now if t.pending else t.notified)
            for key, t in self.state.findings.items()
            if not (t.status == "resolved" and t.resolved is not None and now - t.resolved > KEEP_RESOLVED)
        }
        gaps = {key: replace(g, pending=None) for key, g in self.state.gaps.items() if g.ended is None}
        return AlertState(findings, gaps)


def gap_key(gap: CoverageGap) -> str:
    """What identifies a gap from run to run: its scope, and the resource and field if any."""
    return "|".join((str(gap.scope), gap.resource.key if gap.resource else "", gap.field or ""))


def update(
    state: AlertState,
    report: RunReport,
    now: datetime,
    remind_after: timedelta,
    resolution: Callable[[ResourceId], str] | None = None,
    acknowledged: Collection[str] = (),
) -> Update:
    """Compare this run's findings and gaps with ``state``: the alerts, the quiet ones, the next state.

    ``resolution`` says how the findings on a resource ended ("resource deleted", ...);
    ``acknowledged`` holds the ids of findings accepted for a time (besides those the report
    marks): they stay open without any notice, and alert again once no longer acknowledged.
    """
    alerts: list[Alert] = []
    quiet: list[Finding] = []
    tracked: dict[str, Tracked] = dict(state.findings)
    current = {f.id: f for f in report.findings}
    acked = set(acknowledged) | {f.id for f in report.findings if f.acknowledged is not None}
    for key, finding in current.items():
        before = tracked.get(key)
        if key in acked:  # accepted for a time: open, never told; told again once the ack expires
            entry = Tracked(finding, "open", now) if before is None or before.status == "resolved" else before
            entry = replace(entry, pending=None)
        elif before is None:
            entry = Tracked(finding, "open", now, pending="new")
        elif before.status == "resolved":
            entry = Tracked(finding, "open", now, before.notified, "reopened", reopened=before.reopened + 1)
        elif before.pending in ("new", "reopened"):  # told, but not delivered: tell again
            entry = replace(before, finding=finding)
        elif before.notified is None or now - before.notified >= remind_after:
            entry = replace(before, finding=finding, pending="reminder")
        else:  # quiet: the record keeps the finding as last told, so that wording alone never commits
            entry = replace(before, pending=None)
        tracked[key] = entry
        if entry.pending is None:
            quiet.append(finding)
        else:
            alerts.append(Alert(entry.pending, finding, entry.opened))
    replaced = {(f.rule, f.resource.key) for f in current.values()}
    for key, before in state.findings.items():
        if key in current:
            continue
        if before.status == "open":
            tracked[key] = _close(before, now, replaced, resolution)
        entry = tracked[key]
        if entry.pending == "resolved":
            alerts.append(Alert("resolved", entry.finding, entry.opened, entry.resolution))
    gaps, notices = _update_gaps(state.gaps, report.gaps, now)
    return Update(tuple(alerts), tuple(quiet), notices, AlertState(tracked, gaps))


def _close(
    before: Tracked,
    now: datetime,
    replaced: set[tuple[str, str]],
    resolution: Callable[[ResourceId], str] | None,
) -> Tracked:
    """An open finding no run sees any more: resolved, told unless there is nothing to tell.

    The same rule on the same resource under a new id (more paths drifted) is the finding
    changing, told as the new one. A finding against the previous run (a resource without a
    baseline) is an event: it is gone from the next run whatever the setting is now.
    """
    finding = before.finding
    if (finding.rule, finding.resource.key) in replaced:
        how, silent = "superseded by a finding on more settings", True
    elif finding.against == "previous":
        how, silent = "an event: compared with the previous run only", True
    else:
        how, silent = resolution(finding.resource) if resolution else "no longer found", False
    quiet = silent or before.pending == "new"  # never told: nothing to take back
    return replace(
        before, status="resolved", resolved=now, resolution=how, pending=None if quiet else "resolved"
    )


def _update_gaps(
    before: Mapping[str, TrackedGap], gaps: tuple[CoverageGap, ...], now: datetime
) -> tuple[dict[str, TrackedGap], tuple[GapNotice, ...]]:
    tracked = dict(before)
    current = {gap_key(g): g for g in gaps}
    for key, gap in current.items():
        old = tracked.get(key)
        if old is None or old.ended is not None:
            tracked[key] = TrackedGap(gap, now, pending="started")
    for key, old in before.items():
        if key not in current and old.ended is None:
            tracked[key] = replace(old, ended=now, pending="ended")
    notices = tuple(GapNotice(g.pending, g.gap, g.since) for g in tracked.values() if g.pending is not None)
    return tracked, notices


# -- the file -----------------------------------------------------------------------------------


def to_document(state: AlertState) -> dict[str, Any]:
    """The JSON document stored as alert-state.json (only what changes with the lifecycle)."""
    return {
        "schema": SCHEMA,
        "findings": {key: _tracked_doc(t) for key, t in sorted(state.findings.items())},
        "gaps": {key: _gap_doc(g) for key, g in sorted(state.gaps.items())},
    }


def from_document(document: Mapping[str, Any], name: str) -> AlertState:
    """The state stored in ``document`` (read from file ``name``); ValueError naming what is wrong."""
    if document.get("schema") != SCHEMA:
        raise ValueError(f"{name}: schema is {document.get('schema')!r}, expected {SCHEMA!r}")
    findings: dict[str, Tracked] = {}
    gaps: dict[str, TrackedGap] = {}
    for key, raw in (document.get("findings") or {}).items():
        try:
            findings[key] = _tracked(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{name}: findings.{key}: {type(exc).__name__}: {exc}") from None
    for key, raw in (document.get("gaps") or {}).items():
        try:
            gaps[key] = _tracked_gap(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{name}: gaps.{key}: {type(exc).__name__}: {exc}") from None
    return AlertState(findings, gaps)


def _time(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _tracked_doc(t: Tracked) -> dict[str, Any]:
    f = t.finding
    return {
        "rule": f.rule,
        "severity": str(f.severity),
        "resource": identity_document(f.resource),
        "message": f.message,
        "against": f.against,
        "subject": f.subject,
        "changes": [
            {"path": c.path, "before": c.before, "after": c.after, "against": c.against} for c in f.changes
        ],
        "status": t.status,
        "opened": _time(t.opened),
        "notified": _time(t.notified),
        "pending": t.pending,
        "resolved": _time(t.resolved),
        "resolution": t.resolution,
        "reopened": t.reopened,
    }


def _tracked(raw: Mapping[str, Any]) -> Tracked:
    resource = identity_from_document({"identity": raw["resource"]}, "resource")
    changes = tuple(
        Change(resource, c["path"], c["before"], c["after"], c["against"]) for c in raw["changes"]
    )
    finding = Finding(
        raw["rule"],
        Severity.parse(raw["severity"]),
        resource,
        raw["message"],
        raw["against"],
        changes,
        subject=raw.get("subject") or "",
    )
    opened = _parse_time(raw["opened"])
    if opened is None or raw["status"] not in ("open", "resolved"):
        raise ValueError("needs a status (open or resolved) and an opened time")
    return Tracked(
        finding,
        raw["status"],
        opened,
        _parse_time(raw.get("notified")),
        raw.get("pending"),
        _parse_time(raw.get("resolved")),
        raw.get("resolution"),
        int(raw.get("reopened") or 0),
    )


def _gap_doc(g: TrackedGap) -> dict[str, Any]:
    gap = g.gap
    return {
        "scope": str(gap.scope),
        "api_call": gap.api_call,
        "kind": gap.kind,
        "code": gap.code,
        "message": gap.message,
        "resource": identity_document(gap.resource) if gap.resource else None,
        "field": gap.field,
        "since": _time(g.since),
        "ended": _time(g.ended),
        "pending": g.pending,
    }


def _tracked_gap(raw: Mapping[str, Any]) -> TrackedGap:
    resource = (
        identity_from_document({"identity": raw["resource"]}, "resource") if raw.get("resource") else None
    )
    gap = CoverageGap(
        Scope.parse(raw["scope"]),
        raw["api_call"],
        raw["kind"],
        raw["code"],
        raw.get("message") or "",
        resource,
        raw.get("field"),
    )
    since = _parse_time(raw["since"])
    if since is None:
        raise ValueError("needs a since time")
    return TrackedGap(gap, since, _parse_time(raw.get("ended")), raw.get("pending"))


def load_state(repo: StateRepo) -> AlertState:
    """The state committed in the repository (empty before the first run that kept one)."""
    document = repo.read_file_at(repo.head(), ALERT_STATE)
    if document is None:
        return AlertState()
    try:
        return from_document(document, ALERT_STATE)
    except ValueError as exc:
        raise StoreError(
            f"{exc}; restore a good version with `git checkout <commit> -- {ALERT_STATE}` and commit it"
        ) from None


def state_text(state: AlertState) -> str:
    """The text of alert-state.json for ``state``."""
    return file_text(to_document(state))


def save_state(
    repo: StateRepo, state: AlertState, notification: Notification, author: tuple[str, str]
) -> str | None:
    """Commit ``state`` on its own, once the notifiers delivered the run's notices.

    Returns the new commit, or None when the committed state is already this one.
    """
    if repo.read_file_at(repo.head(), ALERT_STATE) == to_document(state):
        return None
    repo.write(ALERT_STATE, state_text(state))
    news = Update(notification.alerts, notification.quiet, notification.gaps, state)
    message = f"driftwatch: alerts delivered\n\n{summary(news)}"
    message += f"\nDriftwatch-Run: {notification.report.run_id}\n"
    repo.commit(message, [ALERT_STATE], *author)
    return repo.head()


def summary(news: Update) -> str:
    """The commit message paragraph: what the run told (``Alerts: 1 new; 3 open``), then each notice."""
    counts: dict[str, int] = {}
    for alert in news.alerts:
        counts[alert.kind] = counts.get(alert.kind, 0) + 1
    for notice in news.gaps:
        counts[f"gap {notice.change}"] = counts.get(f"gap {notice.change}", 0) + 1
    if not counts:
        return ""
    told = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    still_open = sum(1 for t in news.state.findings.values() if t.status == "open")
    lines = [f"Alerts: {told}; {still_open} open"]
    for alert in news.alerts:
        f = alert.finding
        how = f" ({alert.resolution})" if alert.resolution else ""
        lines.append(f"{alert.kind}: [{f.severity}] {f.rule} {f.resource.key}{how}")
    for notice in news.gaps:
        lines.append(f"gap {notice.change}: {notice.gap.describe()}")
    return "\n".join(lines) + "\n"
