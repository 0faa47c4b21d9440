"""The JSON form of a report (schema ``driftwatch.findings/1``): the CLI's output, the webhook's body."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from driftwatch.model import (
    Acknowledgement,
    Alert,
    CoverageGap,
    Finding,
    KnownChange,
    Notification,
    Reversion,
    RunReport,
    Severity,
)

SCHEMA = "driftwatch.findings/1"


def report_json(report: RunReport) -> dict[str, Any]:
    """The documented JSON form of a report (schema ``driftwatch.findings/1``, see README)."""
    return {
        "schema": SCHEMA,
        "run_id": report.run_id,
        "state_repo": report.state_repo,
        "commit": report.commit,
        "resources_read": report.resources_read,
        "resources_changed": report.resources_changed,
        "findings": [finding_json(f) for f in sorted(report.findings, key=lambda f: f.sort_key)],
        "coverage_gaps": [gap_json(g) for g in report.gaps],
    }


def finding_json(f: Finding) -> dict[str, Any]:
    """One finding in the ``driftwatch.findings/1`` schema."""
    return {
        "id": f.id,
        "rule": f.rule,
        "severity": str(f.severity),
        "resource": f.resource.key,
        "resource_type": f.resource.type,
        "resource_id": f.resource.id,
        "account": f.resource.account,
        "region": f.resource.region,
        "against": f.against,
        "new": f.new_since_previous,
        "message": f.message,
        "commit": f.commit,
        "changes": [
            {"path": c.path, "before": c.before, "after": c.after, "against": c.against} for c in f.changes
        ],
        "related": [r.key for r in f.related],
        "known_change": _known_change(f.known_change),
        "reverted": _reverted(f.reverted),
        "acknowledged": _acknowledged(f.acknowledged),
    }


def gap_json(g: CoverageGap) -> dict[str, Any]:
    """One coverage gap in the ``driftwatch.findings/1`` schema."""
    return {
        "scope": str(g.scope),
        "resource": g.resource.key if g.resource else None,
        "field": g.field,
        "api_call": g.api_call,
        "kind": g.kind,
        "code": g.code,
        "message": g.message,
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    """Why a finding is news in this run, with the finding (as last seen, when it is resolved)."""
    return {
        "kind": alert.kind,
        "first_seen": alert.first_seen.isoformat(),
        "resolution": alert.resolution,
        "finding": finding_json(alert.finding),
    }


def notification_json(notification: Notification, threshold: Severity) -> dict[str, Any]:
    """The report's document for findings at or above ``threshold``, plus the run's news:
    ``alerts`` (new, reopened, reminder, resolved) and ``gap_changes`` (started, ended)."""
    report = notification.report
    document = report_json(replace(report, findings=report.at_least(threshold)))
    document["alerts"] = [alert_json(a) for a in notification.at_least(threshold)]
    document["gap_changes"] = [
        {"change": n.change, "since": n.since.isoformat(), "gap": gap_json(n.gap)} for n in notification.gaps
    ]
    return document


def _acknowledged(ack: Acknowledgement | None) -> dict[str, str | None] | None:
    if ack is None:
        return None
    return {"by": ack.by, "reason": ack.reason, "until": ack.until.isoformat(), "commit": ack.commit}


def _known_change(known: KnownChange | None) -> dict[str, str] | None:
    if known is None:
        return None
    return {
        "id": known.id,
        "date": known.date.isoformat(),
        "title": known.title,
        "url": known.url,
        "effect": known.effect,
    }


def _reverted(reverted: Reversion | None) -> dict[str, str] | None:
    if reverted is None:
        return None
    return {"fixed_at": reverted.fixed_at.isoformat(), "commit": reverted.commit, "author": reverted.author}
