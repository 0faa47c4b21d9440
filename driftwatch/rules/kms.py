"""KMS rules: a key policy open to everyone, and automatic rotation turned off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch.model import Finding, Severity
from driftwatch.policy import condition_restricts, normalise_policy, statement_public_principal
from driftwatch.rules import (
    Context,
    ResourceState,
    RuleSettings,
    Violation,
    Which,
    guardrail_findings,
    register,
)

KEY = "kms/key"
KMS_RESTRICTING_CONDITION_KEYS = frozenset(
    {
        "kms:calleraccount",
        "aws:principalaccount",
        "aws:principalorgid",
        "aws:principalarn",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceip",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:userid",
    }
)
"""Condition keys whose fixed value narrows a ``*`` principal to known callers. ``kms:ViaService``
is not one: any account's principals may call through the same service."""


def public_statements(policy: Any) -> list[str]:
    """The ``Sid`` (or position) of each statement that lets everyone use the key: a ``*`` principal
    (or ``NotPrincipal``) that no fixed condition narrows."""
    if not isinstance(policy, Mapping):
        return []
    found = []
    for i, statement in enumerate(normalise_policy(policy)["Statement"]):
        if not isinstance(statement, Mapping) or not statement_public_principal(statement):
            continue
        if not condition_restricts(statement, KMS_RESTRICTING_CONDITION_KEYS):
            found.append(str(statement.get("Sid") or f"statement {i + 1}"))
    return found


def _public(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    if which == "current" and "Policy" in state.unreadable:
        return []
    found = public_statements(config.get("Policy"))
    if not found:
        return []
    message = f"KMS key {state.identity.id}: the key policy lets anyone use it ({', '.join(found)})"
    return [Violation("public", message, ("Policy",))]


@register("kms-key-public", types=(KEY,), severity=Severity.CRITICAL)
def key_public(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A key policy that admits ``*`` without a condition pinning the caller to fixed values."""
    return guardrail_findings("kms-key-public", state, ctx, settings, _public)


def _rotation_off(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    if which == "current" and "Rotation" in state.unreadable:
        return []
    rotation = config.get("Rotation")
    # Rotation is null where AWS cannot rotate (asymmetric, HMAC, imported); a key that is
    # disabled or pending deletion encrypts nothing new.
    if not isinstance(rotation, Mapping) or rotation.get("KeyRotationEnabled") is not False:
        return []
    if config.get("KeyState") != "Enabled":
        return []
    message = f"KMS key {state.identity.id}: automatic key rotation is off"
    return [Violation("rotation off", message, ("Rotation",))]


@register("kms-rotation-disabled", types=(KEY,), severity=Severity.MEDIUM)
def rotation_disabled(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """An enabled symmetric customer key without automatic rotation."""
    return guardrail_findings("kms-rotation-disabled", state, ctx, settings, _rotation_off)
