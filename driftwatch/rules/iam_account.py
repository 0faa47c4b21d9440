"""IAM account rules: the root user's MFA and access keys, and a weakened password policy."""

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

SUMMARY = "iam/account-summary"
PASSWORD_POLICY = "iam/password-policy"
_SUMMARY_PATH = ("SummaryMap",)


def _summary(config: Mapping[str, Any], state: ResourceState, which: Which) -> Mapping[str, Any] | None:
    if which == "current" and "SummaryMap" in state.unreadable:
        return None  # unknown, reported as a coverage gap, never "missing"
    summary = config.get("SummaryMap")
    return summary if isinstance(summary, Mapping) else None


def _root_without_mfa(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    summary = _summary(config, state, which)
    if summary is None or summary.get("AccountMFAEnabled") != 0:
        return []
    # Root credentials removed centrally (AWS Organizations) leave no password to protect: that is
    # not "MFA disabled". Without AccountPasswordPresent (emulators) the password is unknown.
    if summary.get("AccountPasswordPresent") != 1:
        return []
    message = f"account {state.identity.account}: the root user has a password and no MFA device"
    return [Violation("root without mfa", message, _SUMMARY_PATH)]


@register("root-mfa-missing", types=(SUMMARY,), severity=Severity.CRITICAL)
def root_mfa_missing(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """The root user can sign in with a password and has no MFA (root credentials removed
    centrally are not reported)."""
    return guardrail_findings("root-mfa-missing", state, ctx, settings, _root_without_mfa)


def _root_keys(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    summary = _summary(config, state, which)
    if summary is None or not summary.get("AccountAccessKeysPresent"):
        return []
    message = f"account {state.identity.account}: the root user has access keys"
    return [Violation("root access keys", message, _SUMMARY_PATH)]


@register("root-access-keys-present", types=(SUMMARY,), severity=Severity.CRITICAL)
def root_access_keys_present(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """The root user has access keys."""
    return guardrail_findings("root-access-keys-present", state, ctx, settings, _root_keys)


_REQUIREMENTS = (
    "RequireLowercaseCharacters",
    "RequireNumbers",
    "RequireSymbols",
    "RequireUppercaseCharacters",
)


def password_policy_weakenings(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[str]:
    """How the password policy ``after`` is weaker than ``before`` (``None``: no policy at all)."""
    if before is None:
        return []
    if after is None:
        return ["password policy removed"]
    weaker: list[str] = []
    old_length, new_length = before.get("MinimumPasswordLength"), after.get("MinimumPasswordLength")
    if int(new_length or 0) < int(old_length or 0):
        weaker.append(f"MinimumPasswordLength {old_length} -> {new_length}")
    weaker += [f"{key} turned off" for key in _REQUIREMENTS if before.get(key) and not after.get(key)]
    for key in ("MaxPasswordAge", "PasswordReusePrevention"):
        old, new = before.get(key), after.get(key)
        if not old:
            continue
        # A longer maximum age is weaker; a shorter reuse history is weaker; either removed is weaker.
        if not new or (new > old if key == "MaxPasswordAge" else new < old):
            weaker.append(f"{key} {old} -> {new if new else 'none'}")
    return weaker


@register("iam-password-policy-weakened", types=(PASSWORD_POLICY,), severity=Severity.MEDIUM)
def password_policy_weakened(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """The account's password policy is weaker than approved (or than at the last run): shorter,
    fewer character classes, longer maximum age, shorter reuse history, or removed."""
    if state.current is None or "PasswordPolicy" in state.unreadable:
        return []  # a policy we could not read is unknown, never "removed" (case 18)
    against, reference, source = state.reference()
    if reference is None or "PasswordPolicy" not in reference:
        return []
    weaker = password_policy_weakenings(reference.get("PasswordPolicy"), state.current.get("PasswordPolicy"))
    if not weaker:
        return []
    message = f"account {state.identity.account}: password policy weakened: " + "; ".join(weaker)
    changes = tuple(c for c in source if c.path.startswith("PasswordPolicy") or c.path == "")
    before = (state.previous or {}).get("PasswordPolicy") if state.previous is not None else None
    new = (
        against == "previous" or password_policy_weakenings(reference.get("PasswordPolicy"), before) != weaker
    )
    return [
        Finding(
            "iam-password-policy-weakened",
            settings.severity,
            state.identity,
            message,
            against,
            changes,
            new_since_previous=new,
        )
    ]
