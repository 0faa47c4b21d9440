"""RDS rules: a DB instance or cluster reachable from the internet."""

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
