"""Monitoring rules: an AWS Config recorder or a GuardDuty detector turned off or deleted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from driftwatch.compare import format_path
from driftwatch.model import Finding, Severity
from driftwatch.rules import (
    Check,
    Context,
    ResourceState,
    RuleSettings,
    Violation,
    Which,
    guardrail_findings,
    register,
)

RECORDERS = "config/recorders"
DETECTORS = "guardduty/detectors"


def _turned_off(field: str, what: str, is_on: Callable[[Any], bool]) -> Check:
    """Violations for each item of ``config[field]`` that is off now, and, in the current state,
    each one that was on in the reference (baseline, else previous run) and is gone."""

    def check(
        config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
    ) -> list[Violation]:
        items = config.get(field)
        if not isinstance(items, Mapping):
            return []
        region = state.identity.region
        violations = [
            Violation(
                f"off {name}", f"{what} {name} in {region} is turned off", (format_path([field, name]),)
            )
            for name, value in sorted(items.items())
            if not is_on(value)
        ]
        if which == "current" and field not in state.unreadable:
            _, reference, _ = state.reference()
            before = (reference or {}).get(field)
            for name, value in sorted(before.items() if isinstance(before, Mapping) else []):
                if name not in items and is_on(value):
                    message = f"{what} {name} in {region} was deleted (it was on)"
                    violations.append(Violation(f"deleted {name}", message, (format_path([field, name]),)))
        return violations

    return check


@register("config-recorder-off", types=(RECORDERS,), severity=Severity.HIGH)
def recorder_off(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """An AWS Config recorder that stopped recording or was deleted: changes go unrecorded."""
    check = _turned_off("Recording", "AWS Config recorder", lambda recording: recording is True)
    return guardrail_findings("config-recorder-off", state, ctx, settings, check)


@register("guardduty-off", types=(DETECTORS,), severity=Severity.HIGH)
def detector_off(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A GuardDuty detector that was suspended (DISABLED) or deleted: threats go undetected."""

    def enabled(detector: Any) -> bool:
        return isinstance(detector, Mapping) and detector.get("Status") == "ENABLED"

    return guardrail_findings(
        "guardduty-off", state, ctx, settings, _turned_off("Detectors", "GuardDuty detector", enabled)
    )
