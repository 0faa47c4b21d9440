"""IAM role trust: a trust policy that lets principals outside the trusted accounts assume the role."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from driftwatch.model import Finding, Severity, TrustedAccounts
from driftwatch.policy import normalise_policy, pinned_values
from driftwatch.rules import (
    Context,
    ResourceState,
    RuleSettings,
    Violation,
    Which,
    guardrail_findings,
    register,
)

ROLE = "iam/role"
_ACCOUNT_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")
_ACCOUNT_ID = re.compile(r"^\d{12}$")


def outside_principals(document: Any, own_account: str, trusted: TrustedAccounts) -> list[tuple[str, str]]:
    """Each principal of a trust policy that lies outside ``own_account``, the trusted accounts and
    the trusted organisation, as ``(principal, why)``; ``*`` comes first when present.

    A statement whose condition pins ``aws:PrincipalOrgID`` to the trusted organisation, or
    ``aws:PrincipalAccount`` to trusted accounts, admits no outsider. AWS service principals
    are not outsiders. A web identity provider admits anyone it authenticates unless the
    condition pins the subject (``<provider>:sub``; ``:aud`` for Cognito and the like).
    """
    if not isinstance(document, Mapping):
        return []
    accounts = trusted.accounts | {own_account}
    found: list[tuple[str, str]] = []
    for statement in normalise_policy(document)["Statement"]:
        if not isinstance(statement, Mapping) or str(statement.get("Effect", "")).lower() != "allow":
            continue
        if _pinned_to_trusted(statement, accounts, trusted.organization_id):
            continue
        external_id = pinned_values(statement, "sts:ExternalId") is not None
        if "NotPrincipal" in statement:
            found.append(("NotPrincipal", "everyone except the principals listed"))
            continue
        principal = statement.get("Principal")
        if not isinstance(principal, Mapping):
            continue
        for value in principal.get("AWS", []):
            why = _aws_principal(str(value), accounts, external_id)
            if why:
                found.append((str(value), why))
        for value in principal.get("Federated", []):
            why = _federated(str(value), statement, accounts)
            if why:
                found.append((str(value), why))
        for value in principal.get("CanonicalUser", []):
            if value == "*":
                found.append(("*", "anyone"))
    return sorted(set(found), key=lambda p: (p[0] != "*", p))


def _pinned_to_trusted(
    statement: Mapping[str, Any], accounts: frozenset[str], organization: str | None
) -> bool:
    orgs = pinned_values(statement, "aws:PrincipalOrgID")
    if organization and orgs is not None and orgs <= {organization}:
        return True
    pinned = pinned_values(statement, "aws:PrincipalAccount")
    return pinned is not None and bool(pinned) and pinned <= accounts


def _aws_principal(value: str, accounts: frozenset[str], external_id: bool) -> str | None:
    if value == "*":
        return "anyone with AWS credentials"
    match = _ACCOUNT_ARN.match(value)
    account = match.group(1) if match else (value if _ACCOUNT_ID.match(value) else None)
    if account is None or account in accounts:
        return None  # a unique id (AROA..., AIDA...) names a deleted principal: it admits nobody
    why = f"account {account} is not a trusted account"
    return why + " (an sts:ExternalId condition is set)" if external_id else why


def _federated(value: str, statement: Mapping[str, Any], accounts: frozenset[str]) -> str | None:
    match = _ACCOUNT_ARN.match(value)
    if match and match.group(1) not in accounts:
        return f"identity provider of account {match.group(1)}, not a trusted account"
    if ":saml-provider/" in value:
        return None  # the account's own SAML provider: its users are the account's
    provider = value.split(":oidc-provider/", 1)[1] if ":oidc-provider/" in value else value
    keys = [f"{provider}:sub"] if ":oidc-provider/" in value else [f"{provider}:sub", f"{provider}:aud"]
    for key in keys:
        values = pinned_values(statement, key) or _narrow_patterns(statement, key)
        if values:
            return None
    return f"any identity {provider} authenticates (no condition pins {keys[0]})"


def _narrow_patterns(statement: Mapping[str, Any], key: str) -> frozenset[str] | None:
    """``StringLike`` values such as ``repo:acme/app:*``: a wildcard after a fixed owner still pins
    the subject to that owner (a prefix with a ``/``), whereas ``*`` or ``repo:*`` admit anyone."""
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return None
    values = (condition.get("stringlike") or {}).get(key.lower())
    if not isinstance(values, list) or not values:
        return None
    for value in map(str, values):
        prefix = re.split(r"[*?]", value, maxsplit=1)[0]
        if "/" not in prefix:
            return None
    return frozenset(map(str, values))


def _trusts_outsiders(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    document = config.get("AssumeRolePolicyDocument")
    name = config.get("RoleName", state.identity.id)
    violations = []
    for principal, why in outside_principals(document, state.identity.account, ctx.trusted):
        everyone = principal in ("*", "NotPrincipal")
        severity = settings.severity_param("anyone_severity") if everyone else None
        message = f"role {name} can be assumed by {principal}: {why}"
        violations.append(Violation(f"trust {principal}", message, ("AssumeRolePolicyDocument",), severity))
    return violations


@register(
    "iam-role-trust-external",
    types=(ROLE,),
    severity=Severity.HIGH,
    params={"anyone_severity": "critical"},
)
def role_trust_external(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A role whose trust policy admits principals outside the accounts driftwatch reads, the
    configured ``[aws] trusted_accounts`` and ``organization_id``."""
    return guardrail_findings("iam-role-trust-external", state, ctx, settings, _trusts_outsiders)
