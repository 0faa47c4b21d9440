"""Operational log lines: one per daemon cycle and one per message, as text for people or JSON for tools."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")


@dataclass(frozen=True)
class Cycle:
    """What one daemon cycle did, or the error that stopped it (``error`` is then set)."""

    number: int
    started_at: datetime
    seconds: float
    resources_read: int = 0
    changes: int = 0
    findings: int = 0
    coverage_gaps: int = 0
    commit: str | None = None
    error: str | None = None


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def cycle_line(cycle: Cycle, log_format: LogFormat) -> str:
    """The one line that says how a cycle went."""
    if log_format == "json":
        fields: dict[str, Any] = {
            "time": _time(cycle.started_at),
            "level": "error" if cycle.error else "info",
            "event": "cycle",
            "cycle": cycle.number,
            "status": "failed" if cycle.error else "ok",
            "duration_seconds": round(cycle.seconds, 3),
        }
        if cycle.error:
            fields["error"] = cycle.error
        else:
            fields |= {
                "resources_read": cycle.resources_read,
                "changes": cycle.changes,
                "findings": cycle.findings,
                "coverage_gaps": cycle.coverage_gaps,
                "commit": cycle.commit,
            }
        return json.dumps(fields, sort_keys=True)
    head = f"driftwatch: {_time(cycle.started_at)} cycle {cycle.number}"
    if cycle.error:
        return f"{head} failed after {cycle.seconds:.1f}s: {cycle.error}; the next cycle runs as scheduled"
    commit = f"commit {cycle.commit[:10]}" if cycle.commit else "no commit"
    return (
        f"{head}: {cycle.resources_read} resources read, {cycle.changes} changed, {cycle.findings} "
        f"findings, {cycle.coverage_gaps} coverage gaps, {cycle.seconds:.1f}s, {commit}"
    )


def message_line(message: str, log_format: LogFormat, level: str = "warning") -> str:
    """Any other message driftwatch reports on stderr."""
    if log_format == "json":
        document = {"time": _time(datetime.now(UTC)), "level": level, "event": "message", "message": message}
        return json.dumps(document, sort_keys=True)
    return f"driftwatch: {message}"
