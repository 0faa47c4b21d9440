"""What a Slack digest says: template variables from a run's notification, and Slack's size limits."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from driftwatch.jsontext import compact
from driftwatch.model import Alert, Change, CoverageGap, GapNotice, JSONValue, Notification, Severity

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_TEXT = 40_000
"""Slack's limit on a message's ``text``; the fallback text stays far below it."""
# Slack also rejects a message whose blocks hold more than about 12,000 characters of text in all
# (msg_blocks_too_long; undocumented, see slackapi/bolt-js#2509), so parts stay well below that.
MAX_MESSAGE_TEXT = 10_000
PART_LABEL_ROOM = 500
MAX_VALUE_CHARS = 300
MAX_DETAIL_VALUE_CHARS = 2000
SHORT_COMMIT = 7
FENCE = "```"
UNAPPROVED_LISTED = 10
"""Up to this many new unapproved resources are listed one by one; more (a first run) are summed up."""
RESOLVED_LISTED = 10
"""Up to this many resolved findings are listed one by one; beyond, those approved are counted."""
RELATED_LISTED = 12
"""Up to this many resources of a fleet-wide finding are named; the rest are counted."""
KIND_ORDER = ("new", "reopened", "reminder", "resolved")


def when(moment: datetime) -> str:
    """A time as people read it in a message: ``2026-12-03 16:00 UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def digest_context(notification: Notification, threshold: Severity) -> dict[str, Any]:
    """The template variables of one digest: user data escaped for mrkdwn, long values cut."""
    report = notification.report
    alerts = notification.at_least(threshold)
    told = [a for a in alerts if a.kind != "resolved"]
    unapproved = [a for a in told if a.finding.rule == "unapproved-resource" and a.kind == "new"]
    summed = unapproved if len(unapproved) > UNAPPROVED_LISTED else []
    listed = [a for a in told if a not in summed]
    resolved = [a for a in alerts if a.kind == "resolved"]
    approved = [a for a in resolved if a.resolution == "approved"]
    approved = approved if len(resolved) > RESOLVED_LISTED else []
    kinds = {kind: sum(1 for a in alerts if a.kind == kind) for kind in KIND_ORDER}
    severities = [
        {"severity": str(s), "count": n}
        for s in sorted(Severity, reverse=True)
        if (n := sum(1 for a in told if a.finding.severity == s))
    ]
    groups = [
        {"severity": str(severity), "count": len(group), "resources": _resources(group)}
        for severity, grouped in itertools.groupby(listed, key=lambda a: a.finding.severity)
        if (group := list(grouped))
    ]
    return {
        "run_id": escape(report.run_id),
        "time": when(report.finished_at),
        "commit": escape(report.commit[:SHORT_COMMIT]) if report.commit else None,
        "commit_url": notification.commit_url,
        "commit_note": "not pushed yet" if notification.unpushed else "",
        "state_repo": escape(report.state_repo),
        "min_severity": str(threshold),
        "kinds": kinds,
        "severities": severities,
        "still_open": len(notification.quiet_at_least(threshold)),
        "groups": groups,
        "unapproved_summed": len(summed),
        "resolved": [_resolved(a) for a in resolved if a not in approved],
        "approved_summed": len(approved),
        "gaps_started": [_gap(n) for n in notification.gaps if n.change == "started"],
        "gaps_ended": [_gap(n) for n in notification.gaps if n.change == "ended"],
    }


def detail_context(alert: Alert, notification: Notification) -> dict[str, Any]:
    """The template variables of the thread reply that details one finding."""
    report = notification.report
    finding = alert.finding
    return {
        "alert": _alert(alert, MAX_DETAIL_VALUE_CHARS),
        "resource": _resource(alert),
        "severity": str(finding.severity),
        "finding_id": finding.id,
        "commit": escape(report.commit[:SHORT_COMMIT]) if report.commit else None,
        "commit_url": notification.commit_url,
        "commit_note": "not pushed yet" if notification.unpushed else "",
    }


def _resources(alerts: list[Alert]) -> list[dict[str, Any]]:
    resources = []
    for _, grouped in itertools.groupby(alerts, key=lambda a: a.finding.resource.key):
        group = list(grouped)
        resources.append({**_resource(group[0]), "alerts": [_alert(a, MAX_VALUE_CHARS) for a in group]})
    return resources


def _resource(alert: Alert) -> dict[str, Any]:
    r = alert.finding.resource
    names = {k: escape(getattr(r, k)) for k in ("name", "key", "account", "region", "type")}
    return {**names, "approve": escape(alert.approve_command or "")}


def _alert(alert: Alert, limit: int) -> dict[str, Any]:
    finding = alert.finding
    return {
        "kind": alert.kind,
        "rule": escape(finding.rule),
        "message": escape(finding.message),
        "against": finding.against,
        "since": when(alert.first_seen),
        "changes": [_change(c, limit) for c in finding.changes],
        "related": [escape(r.id) for r in finding.related[:RELATED_LISTED]],
        "related_count": len(finding.related),
    }


def _resolved(alert: Alert) -> dict[str, Any]:
    return {
        **_alert(alert, MAX_VALUE_CHARS),
        "severity": str(alert.finding.severity),
        "resource": _resource(alert),
        "resolution": escape(alert.resolution or "no longer found"),
    }


def _change(change: Change, limit: int) -> dict[str, Any]:
    return {
        "path": escape(change.path or "(whole resource)"),
        "before": render_value(change.before, limit),
        "after": render_value(change.after, limit),
        "against": change.against,
    }


def _gap(notice: GapNotice) -> dict[str, Any]:
    gap: CoverageGap = notice.gap
    return {
        "where": escape(gap.resource.key if gap.resource else str(gap.scope)),
        "field": escape(gap.field) if gap.field else None,
        "api_call": escape(gap.api_call),
        "kind": gap.kind,
        "code": escape(gap.code),
        "message": escape(gap.message),
        "since": when(notice.since),
    }


def render_value(value: JSONValue, limit: int = MAX_VALUE_CHARS) -> str:
    """A changed value as compact JSON (``null`` for None), escaped; long ones cut visibly."""
    return escape(compact(value, limit))


def escape(text: str) -> str:
    """Escape Slack's control characters and break code fences, so user data stays plain text."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    while FENCE in text:  # a zero-width space keeps runs of backticks from closing a code block
        text = text.replace(FENCE, "`\u200b``")
    return text


def split_messages(blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cut ``blocks`` into messages within Slack's limits, splitting over-long section texts.

    When there is more than one part, each keeps room for the ``(part k of n)`` label block.
    """
    pieces = [piece for block in blocks for piece in _split_block(block)]
    if len(pieces) <= MAX_BLOCKS and sum(map(text_size, pieces)) <= MAX_MESSAGE_TEXT:
        return [pieces]
    parts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for block in pieces:
        grown = size + text_size(block)
        if current and (len(current) >= MAX_BLOCKS - 1 or grown > MAX_MESSAGE_TEXT - PART_LABEL_ROOM):
            parts.append(current)
            current, grown = [], text_size(block)
        current.append(block)
        size = grown
    parts.append(current)
    return parts


def _split_block(block: dict[str, Any]) -> list[dict[str, Any]]:
    text = block.get("text")
    if block.get("type") != "section" or not isinstance(text, dict):
        return [block]
    body = text.get("text")
    if not isinstance(body, str) or len(body) <= MAX_SECTION_TEXT:
        return [block]
    return [{**block, "text": {**text, "text": piece}} for piece in split_text(body)]


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Cut mrkdwn ``text`` at line ends into pieces of at most ``limit`` characters.

    A code block cut in two is closed at the end of one piece and reopened at the next.
    """
    room = limit - 2 * (len(FENCE) + 1)
    pieces: list[str] = []
    lines: list[str] = []
    size = -1
    starts_in_fence = in_fence = False
    for line in _short_lines(text.split("\n"), room):
        closes_fence = in_fence and line == FENCE  # room was kept for it
        if lines and size + 1 + len(line) > room and not closes_fence:
            ends_in_fence = in_fence
            if in_fence and lines[-1] == FENCE:  # don't leave an empty code block behind
                lines.pop()
                ends_in_fence = False
            if lines:
                head = [FENCE] if starts_in_fence else []
                pieces.append("\n".join([*head, *lines, *([FENCE] if ends_in_fence else [])]))
            lines, size, starts_in_fence = [], -1, in_fence
        lines.append(line)
        size += 1 + len(line)
        in_fence ^= line.count(FENCE) % 2 == 1
    head = [FENCE] if starts_in_fence else []
    pieces.append("\n".join([*head, *lines]))
    return pieces


def _short_lines(lines: list[str], room: int) -> list[str]:
    """``lines`` with any line longer than ``room`` cut, never inside an ``&amp;``-style entity."""
    out = []
    for line in lines:
        while len(line) > room:
            cut = room
            amp = line.rfind("&", room - 6, room)
            if amp > 0 and ";" not in line[amp:room]:
                cut = amp
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def text_size(value: Any) -> int:
    """The number of characters in every ``text`` string inside a block."""
    if isinstance(value, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else text_size(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(text_size(v) for v in value)
    return 0


def as_text(blocks: list[dict[str, Any]]) -> str:
    """Blocks as plain text, the way a person reads the message (for previews and the demo)."""
    lines = []
    for block in blocks:
        text = block.get("text")
        if block.get("type") == "header" and isinstance(text, dict):
            lines.append(f"# {text.get('text', '')}")
        elif block.get("type") == "divider":
            lines.append("---")
        elif isinstance(text, dict):
            lines.append(str(text.get("text", "")))
        lines.extend(str(e.get("text", "")) for e in block.get("elements", []) if isinstance(e, dict))
    return "\n".join(lines)
