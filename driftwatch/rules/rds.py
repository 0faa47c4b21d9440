"""RDS rules: a DB instance or cluster reachable from the internet, or taking unencrypted connections."""

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

INSTANCE = "rds/db-instance"
CLUSTER = "rds/db-cluster"


def _public(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    if config.get("PubliclyAccessible") is not True:
        return []
    kind = "DB cluster" if state.identity.type == CLUSTER else "DB instance"
    message = (
        f"{kind} {state.identity.id} is publicly accessible: its endpoint resolves to a public "
        "address, reachable from the internet as far as its security groups allow"
    )
    return [Violation("public", message, ("PubliclyAccessible",))]


@register("rds-public", types=(INSTANCE, CLUSTER), severity=Severity.CRITICAL)
def rds_public(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A DB instance or cluster with ``PubliclyAccessible`` on."""
    return guardrail_findings("rds-public", state, ctx, settings, _public)


_TLS_OFF = {"rds.force_ssl": ("0",), "require_secure_transport": ("0", "off")}
"""The TLS parameters (``collectors.aws.rds.TLS_PARAMETERS``) and the values that leave TLS optional."""


def _tls_optional(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    groups = config.get("ParameterGroups")
    if not isinstance(groups, Mapping):
        return []  # unknown (a group that could not be read), never "off"
    kind = "DB cluster" if state.identity.type == CLUSTER else "DB instance"
    violations = []
    for group, parameters in sorted(groups.items()):
        for name, off in _TLS_OFF.items():
            value = (parameters or {}).get(name)
            if isinstance(value, str) and value.lower() in off:
                message = (
                    f"{kind} {state.identity.id} accepts unencrypted connections: parameter group {group} "
                    f"sets {name} = {value}"
                )
                violations.append(Violation(f"tls optional {group}", message, ("ParameterGroups",)))
    return violations


@register("rds-tls-not-required", types=(INSTANCE, CLUSTER), severity=Severity.MEDIUM)
def rds_tls_not_required(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A DB instance or cluster whose parameter group leaves TLS optional (rds.force_ssl = 0,
    require_secure_transport = OFF)."""
    return guardrail_findings("rds-tls-not-required", state, ctx, settings, _tls_optional)
