"""CloudTrail rules: a trail that is not logging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch.model import Finding, Severity
from driftwatch.rules import (
    Context,
    ResourceState,
    RuleSettings,
    Violation,
    Which,
    guardrail_findings,
    register,
)

TRAIL = "cloudtrail/trail"


def _not_logging(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    if which == "current" and "IsLogging" in state.unreadable:
        return []  # unknown, reported as a coverage gap
    if config.get("IsLogging") is not False:
        return []
    message = f"trail {config.get('Name', state.identity.id)} is not logging"
    if which == "current" and (state.previous or {}).get("IsLogging") is True:
        message += " (logging stopped since the last run)"
    return [Violation("not logging", message, ("IsLogging",))]


@register("cloudtrail-logging-off", types=(TRAIL,), severity=Severity.HIGH)
def logging_off(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A CloudTrail trail that is not logging (stopped, or created and never started)."""
    return guardrail_findings("cloudtrail-logging-off", state, ctx, settings, _not_logging)
