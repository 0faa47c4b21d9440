"""IAM rules: console users without MFA."""

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


def _no_mfa(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    if which == "current" and {"LoginProfile", "MFADevices"} & set(state.unreadable):
        return []  # unknown, not "missing"
    if config.get("LoginProfile") is None or config.get("MFADevices") or "MFADevices" not in config:
        return []
    name = config.get("UserName", state.identity.id)
    message = f"user {name} can sign in to the console with a password and has no MFA device"
    had = (state.previous or {}).get("MFADevices") if which == "current" else None
    if had:
        message += f" (MFA device {', '.join(had)} removed since the last run)"
    return [Violation("console without mfa", message, ("LoginProfile", "MFADevices"))]


@register("iam-user-mfa-missing", types=("iam/user",), severity=Severity.HIGH)
def mfa_missing(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A user with a console password and no MFA device."""
    return guardrail_findings("iam-user-mfa-missing", state, ctx, settings, _no_mfa)
