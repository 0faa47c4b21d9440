"""SNS and SQS rules: a topic or queue whose access policy lets anyone in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch.model import Finding, Severity
from driftwatch.policy import public_statements
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

TOPIC = "sns/topic"
QUEUE = "sqs/queue"


def _public_policy(what: str) -> Check:
    def check(
        config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
    ) -> list[Violation]:
        attributes = config.get("Attributes")
        policy = attributes.get("Policy") if isinstance(attributes, Mapping) else None
        statements = public_statements(policy)
        if not statements:
            return []
        actions = sorted(
            {str(a) for s in statements for a in s.get("Action", [])}
            | {f"all but {', '.join(map(str, s['NotAction']))}" for s in statements if "NotAction" in s}
        )
        message = (
            f"{what} {state.identity.id} is public: its policy allows {', '.join(actions) or 'access'} "
            "to everyone (a * principal that no fixed condition such as aws:SourceArn narrows)"
        )
        return [Violation("public " + ",".join(actions), message, ("Attributes.Policy",))]

    return check


@register("sns-topic-public", types=(TOPIC,), severity=Severity.CRITICAL)
def topic_public(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """An SNS topic whose policy lets anyone publish, subscribe or change it."""
    return guardrail_findings("sns-topic-public", state, ctx, settings, _public_policy("SNS topic"))


@register("sqs-queue-public", types=(QUEUE,), severity=Severity.CRITICAL)
def queue_public(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """An SQS queue whose policy lets anyone send, receive or change it."""
    return guardrail_findings("sqs-queue-public", state, ctx, settings, _public_policy("SQS queue"))
