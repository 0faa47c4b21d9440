"""EC2 instance rules: a metadata service that answers without a session token (IMDSv1)."""

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

INSTANCE = "ec2/instance"


def _imdsv1(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    options = config.get("MetadataOptions")
    if not isinstance(options, Mapping) or options.get("HttpEndpoint") == "disabled":
        return []  # unknown, or no metadata service at all
    if options.get("HttpTokens") != "optional":
        return []
    message = (
        f"EC2 instance {state.identity.id}: its metadata service answers without a session token "
        "(IMDSv1, HttpTokens optional): a server-side request forgery can read its role's credentials"
    )
    return [Violation("imdsv1", message, ("MetadataOptions",))]


@register("ec2-imdsv1-enabled", types=(INSTANCE,), severity=Severity.HIGH)
def imdsv1_enabled(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """An instance whose metadata service accepts IMDSv1 (HttpTokens optional) and is not approved so."""
    return guardrail_findings("ec2-imdsv1-enabled", state, ctx, settings, _imdsv1)
