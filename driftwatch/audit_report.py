"""The auditor's report: one self-contained HTML file of findings, coverage, changes, approvals and acks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2

from driftwatch import __version__
from driftwatch.ack import ACKS
from driftwatch.approval import approved_view
from driftwatch.config import NO_APPROVERS, ApprovalSettings
from driftwatch.jsontext import compact
from driftwatch.layout import BASELINES, SNAPSHOTS
from driftwatch.model import RunReport, Severity
from driftwatch.notify.render import group_by_severity
from driftwatch.store import StateRepo

TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class LogEntry:
    """One commit of the period: a run's snapshot, an approval, an unapproved change or an ack."""

    commit: str
    time: datetime
    author: str
    kind: str
    subject: str
    reason: str | None
    paths: tuple[str, ...]


def period_log(
    repo: StateRepo, since: datetime, until: datetime, approval: ApprovalSettings = NO_APPROVERS
) -> list[LogEntry]:
    """The commits between ``since`` and ``until`` that changed snapshots or baselines, oldest first."""
    view = approved_view(repo, approval)
    entries = []
    for info in repo.file_log([SNAPSHOTS, BASELINES]):
        if not since <= info.time <= until:
            continue
        paths = (
            tuple(sorted(repo.changed_among(info.parent, info.sha, [SNAPSHOTS, BASELINES])))
            if info.parent
            else ()
        )
        in_baselines = [p for p in paths if p.startswith(BASELINES + "/")]
        if not in_baselines:
            kind = "snapshot"
        elif not view.is_approval(info.sha):
            kind = "unapproved"
        elif all(p.startswith(ACKS + "/") for p in in_baselines):
            kind = "ack"
        else:
            kind = "approval"
        author = f"{info.author_name} <{info.author_email}>"
        shown = tuple(p for p in paths if not p.endswith("/manifest.json"))
        reason = info.reason
        if kind == "unapproved":
            why = view.rejected.get(info.sha)
            reason = f"not an approval: {why}" if why else "not an approval"
        entries.append(
            LogEntry(info.sha, info.time.astimezone(UTC), author, kind, info.subject, reason, shown)
        )
    return entries


def render_report(
    report: RunReport,
    manifest: dict[str, Any],
    log: list[LogEntry],
    since: datetime,
    until: datetime,
    generated: datetime,
) -> str:
    """The report as one HTML document with its styles inline (no external file or script)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("driftwatch", "notify/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["compact"] = compact
    scopes = sorted((manifest.get("scopes") or {}).items())
    return env.get_template(TEMPLATE).render(
        report=report,
        groups=group_by_severity(report.at_least(Severity.INFO)),
        acknowledged=report.acknowledged,
        scopes=scopes,
        unread=[s for s in scopes if s[1] != "read"],
        log=log,
        changes=[e for e in log if e.kind == "snapshot"],
        decisions=[e for e in log if e.kind != "snapshot"],
        since=since,
        until=until,
        generated=generated,
        version=__version__,
    )
