"""The lifecycle of findings and coverage gaps from run to run: what is news, kept in alert-state.json.

A finding (by its stable ``Finding.id``) is *open* from the run that first sees it until a run no
longer does; then it is *resolved*, and *reopened* if it comes back. A run tells about new,
reopened and resolved findings once, and about one still open only as a reminder after
``remind_after``. A coverage gap is told about when it starts and when it ends.

A notice is *pending* until a notifier delivered it, for each notifier on its own: the state
records it, and if a notifier failed, the next run tells it again to that notifier alone rather
than losing it (the others were told already). An *acknowledged* finding (``driftwatch
ack``, kept under baselines/acks/) stays open without any notice, and alerts again when the
acknowledgement expires.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

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

SCHEMA = "driftwatch.alert-state/2"
OLD_SCHEMA = "driftwatch.alert-state/1"
"""Before delivery was kept per notifier: its pending notice and time told held for every notifier."""
KEEP_RESOLVED = timedelta(days=90)
"""A resolved finding is remembered this long, so that its return counts as reopened, not new."""
EVERY = "*"
"""The notifier key that stands for every notifier (a state written before keys, or no keys given)."""

Status = Literal["open", "resolved"]
V = TypeVar("V")


@dataclass(frozen=True)
class Tracked:
    """One finding's lifecycle: its last seen form, its status, and per notifier (by its key, see
    ``NotifySettings.key``) when it was last told and the notice it still has to deliver."""

    finding: Finding
    status: Status
    opened: datetime
    notified: Mapping[str, datetime] = field(default_factory=dict)
    pending: Mapping[str, AlertKind] = field(default_factory=dict)
    resolved: datetime | None = None
    resolution: str | None = None
    reopened: int = 0


@dataclass(frozen=True)
class TrackedGap:
    """One coverage gap: since when, whether it has ended, and per notifier what is still to be told."""

    gap: CoverageGap
    since: datetime
    ended: datetime | None = None
    pending: Mapping[str, GapChange] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertState:
    """Every tracked finding by id and every tracked gap by key (see ``gap_key``)."""

    findings: Mapping[str, Tracked] = field(default_factory=dict)
    gaps: Mapping[str, TrackedGap] = field(default_factory=dict)


@dataclass(frozen=True)
class Update:
    """What one run has to say, and the state to keep once it is said.

    ``alerts``, ``quiet`` and ``gaps`` are the run's news for any notifier (the commit message
    lists them); ``for_notifier`` is what one notifier is to be told.
    """

    alerts: tuple[Alert, ...]
    quiet: tuple[Finding, ...]
    gaps: tuple[GapNotice, ...]
    state: AlertState
    findings: tuple[Finding, ...] = ()
    """This run's findings, in the report's order."""

    @property
    def has_news(self) -> bool:
        """True when the run has something to tell: an alert or a coverage gap that started or ended."""
        return bool(self.alerts or self.gaps)

    def for_notifier(self, key: str) -> tuple[tuple[Alert, ...], tuple[Finding, ...], tuple[GapNotice, ...]]:
        """The alerts, the quiet findings and the gap notices for the notifier ``key``."""
        return _news(self.state, self.findings, key)

    def delivered(self, now: datetime, keys: Collection[str] | None = None) -> AlertState:
        """The state to keep once the notifiers ``keys`` (every one when None) delivered their notices."""

        def done(key: str) -> bool:
            return keys is None or key in keys

        findings = {}
        for key, t in self.state.findings.items():
            if _forgotten(t, now):
                continue
            told = {n: now for n, kind in t.pending.items() if done(n) and kind != "resolved"}
            pending = {n: kind for n, kind in t.pending.items() if not done(n)}
            findings[key] = replace(t, pending=pending, notified={**t.notified, **told})
        gaps = {}
        for key, g in self.state.gaps.items():
            waiting = {n: change for n, change in g.pending.items() if not done(n)}
            if g.ended is None or waiting:
                gaps[key] = replace(g, pending=waiting)
        return AlertState(findings, gaps)


def _forgotten(t: Tracked, now: datetime) -> bool:
    """True for a finding resolved longer ago than ``KEEP_RESOLVED`` (told or not by then)."""
    return t.status == "resolved" and t.resolved is not None and now - t.resolved > KEEP_RESOLVED


def gap_key(gap: CoverageGap) -> str:
    """What identifies a gap from run to run: its scope, and the resource and field if any."""
    return "|".join((str(gap.scope), gap.resource.key if gap.resource else "", gap.field or ""))


def _for(values: Mapping[str, V], notifiers: Collection[str]) -> dict[str, V]:
    """``values`` of the ``notifiers``, ``EVERY``'s value standing for each one not named; the
    values of notifiers no longer configured are dropped."""
    kept = {key: value for key, value in values.items() if key in notifiers}
    if EVERY in values:
        for key in notifiers:
            kept.setdefault(key, values[EVERY])
    return kept


def update(
    state: AlertState,
    report: RunReport,
    now: datetime,
    remind_after: timedelta,
    resolution: Callable[[ResourceId], str] | None = None,
    acknowledged: Collection[str] = (),
    notifiers: Collection[str] = (EVERY,),
) -> Update:
    """Compare this run's findings and gaps with ``state``: the alerts, the quiet ones, the next state.

    ``resolution`` says how the findings on a resource ended ("resource deleted", ...);
    ``acknowledged`` holds the ids of findings accepted for a time (besides those the report
    marks): they stay open without any notice, and alert again once no longer acknowledged.
    ``notifiers`` are the keys of the configured notifiers: each one is told each notice once,
    whatever the others did, and its own reminders.
    """
    tracked: dict[str, Tracked] = {
        key: replace(t, notified=_for(t.notified, notifiers), pending=_for(t.pending, notifiers))
        for key, t in state.findings.items()
    }
    current = {f.id: f for f in report.findings}
    acked = set(acknowledged) | {f.id for f in report.findings if f.acknowledged is not None}
    for key, finding in current.items():
        before = tracked.get(key)
        if key in acked:  # accepted for a time: open, never told; told again once the ack expires
            entry = Tracked(finding, "open", now) if before is None or before.status == "resolved" else before
            entry = replace(entry, pending={})
        elif before is None:
            entry = Tracked(finding, "open", now, pending=dict.fromkeys(notifiers, "new"))
        elif before.status == "resolved":
            reopened: dict[str, AlertKind] = dict.fromkeys(notifiers, "reopened")
            entry = Tracked(finding, "open", now, before.notified, reopened, reopened=before.reopened + 1)
        else:
            pending = {n: _open_notice(before, n, now, remind_after) for n in notifiers}
            told = {n: kind for n, kind in pending.items() if kind is not None}
            # quiet: the record keeps the finding as last told, so that wording alone never commits
            entry = replace(before, finding=finding if told else before.finding, pending=told)
        tracked[key] = entry
    replaced = {(f.rule, f.resource.key) for f in current.values()}
    for key, before in state.findings.items():
        if key not in current and before.status == "open":
            tracked[key] = _close(tracked[key], now, replaced, resolution, notifiers)
    gaps = _update_gaps(state.gaps, report.gaps, now, notifiers)
    kept = {key: t for key, t in tracked.items() if not _forgotten(t, now)}
    new_state = AlertState(kept, {key: g for key, g in gaps.items() if g.ended is None or g.pending})
    alerts, quiet, notices = _news(new_state, report.findings, None)
    return Update(alerts, quiet, notices, new_state, report.findings)


def _open_notice(before: Tracked, key: str, now: datetime, remind_after: timedelta) -> AlertKind | None:
    """What notifier ``key`` is to be told about a finding still open: what it has not delivered
    yet, else a reminder once ``remind_after`` has passed since it was last told, else nothing."""
    owed = before.pending.get(key)
    if owed in ("new", "reopened", "reminder"):
        return owed
    last = before.notified.get(key)
    return "reminder" if last is None or now - last >= remind_after else None


def _news(
    state: AlertState, findings: tuple[Finding, ...], key: str | None
) -> tuple[tuple[Alert, ...], tuple[Finding, ...], tuple[GapNotice, ...]]:
    """The alerts, quiet findings and gap notices for notifier ``key`` (None: for any notifier)."""

    def owed(pending: Mapping[str, Any]) -> Any:
        return next(iter(pending.values()), None) if key is None else pending.get(key)

    alerts: list[Alert] = []
    quiet: list[Finding] = []
    current = {f.id for f in findings}
    for finding in findings:
        kind = owed(state.findings[finding.id].pending)
        if kind is None:
            quiet.append(finding)
        else:
            alerts.append(Alert(kind, finding, state.findings[finding.id].opened))
    for fid, t in state.findings.items():
        kind = owed(t.pending)
        if fid not in current and kind is not None:
            alerts.append(Alert(kind, t.finding, t.opened, t.resolution if kind == "resolved" else None))
    notices = [
        GapNotice(change, g.gap, g.since)
        for g in state.gaps.values()
        if (change := owed(g.pending)) is not None
    ]
    return tuple(alerts), tuple(quiet), tuple(notices)


def _close(
    before: Tracked,
    now: datetime,
    replaced: set[tuple[str, str]],
    resolution: Callable[[ResourceId], str] | None,
    notifiers: Collection[str],
) -> Tracked:
    """An open finding no run sees any more: resolved, told unless there is nothing to tell.

    Every notifier is told how it ended, also one that never delivered its opening (a notifier
    that failed meanwhile), so that nothing is lost. The same rule on the same resource under a
    new id (more paths drifted) is the finding changing, told as the new one. A finding against
    the previous run (a resource without a baseline) is an event: it is gone from the next run
    whatever the setting is now, and stays owed only to the notifiers that were not told it yet.
    """
    finding = before.finding
    pending: dict[str, AlertKind] = {}
    if (finding.rule, finding.resource.key) in replaced:
        how = "superseded by a finding on more settings"
    elif finding.against == "previous":
        how = "an event: compared with the previous run only"
        pending = {n: kind for n, kind in before.pending.items() if kind in ("new", "reopened")}
    else:
        how = resolution(finding.resource) if resolution else "no longer found"
        pending = dict.fromkeys(notifiers, "resolved")
    return replace(before, status="resolved", resolved=now, resolution=how, pending=pending)


def _update_gaps(
    before: Mapping[str, TrackedGap], gaps: tuple[CoverageGap, ...], now: datetime, notifiers: Collection[str]
) -> dict[str, TrackedGap]:
    tracked = {key: replace(g, pending=_for(g.pending, notifiers)) for key, g in before.items()}
    current = {gap_key(g): g for g in gaps}
    for key, gap in current.items():
        old = tracked.get(key)
        if old is None or old.ended is not None:
            tracked[key] = TrackedGap(gap, now, pending=dict.fromkeys(notifiers, "started"))
    for key, old in before.items():
        if key not in current and old.ended is None:
            tracked[key] = replace(old, ended=now, pending=dict.fromkeys(notifiers, "ended"))
    return tracked


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
    if document.get("schema") not in (SCHEMA, OLD_SCHEMA):
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
        "resource": identity_document(f.resource) | ({"label": f.resource.label} if f.resource.label else {}),
        "message": f.message,
        "against": f.against,
        "subject": f.subject,
        "changes": [
            {"path": c.path, "before": c.before, "after": c.after, "against": c.against} for c in f.changes
        ],
        "status": t.status,
        "opened": _time(t.opened),
        "notified": {key: _time(moment) for key, moment in sorted(t.notified.items())},
        "pending": dict(sorted(t.pending.items())),
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
        {
            key: moment
            for key, value in _per_notifier(raw.get("notified")).items()
            if (moment := _parse_time(value))
        },
        _per_notifier(raw.get("pending")),
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
        "pending": dict(sorted(g.pending.items())),
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
    return TrackedGap(gap, since, _parse_time(raw.get("ended")), _per_notifier(raw.get("pending")))


def _per_notifier(value: Any) -> dict[str, Any]:
    """A value kept per notifier key; a single value (schema 1) holds for every notifier."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items() if item is not None}
    return {EVERY: value}


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
    repo: StateRepo,
    state: AlertState,
    notification: Notification,
    author: tuple[str, str],
    undelivered: Collection[str] = (),
) -> str | None:
    """Commit ``state`` on its own, once the notifiers delivered what they could of the run's
    notices; ``undelivered`` says which could not, and why (their notices stay pending).

    Returns the new commit, or None when the committed state is already this one.
    """
    if repo.read_file_at(repo.head(), ALERT_STATE) == to_document(state):
        return None
    repo.write(ALERT_STATE, state_text(state))
    news = Update(notification.alerts, notification.quiet, notification.gaps, state)
    message = f"driftwatch: alerts delivered{', not by every notifier' if undelivered else ''}\n\n"
    message += summary(news)
    if undelivered:
        message += "\nNot delivered, told again next run:\n" + "".join(f"- {why}\n" for why in undelivered)
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
