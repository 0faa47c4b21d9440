"""EC2 rules: EBS snapshots and AMIs shared with everyone, and account defaults weakened."""

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

ACCOUNT_SETTINGS = "ec2/account-settings"
SNAPSHOT = "ebs/snapshot"
IMAGE = "ami/image"
_SNAPSHOT_BLOCK = {"unblocked": 0, "block-new-sharing": 1, "block-all-sharing": 2}
_IMAGE_BLOCK = {"unblocked": 0, "block-new-sharing": 1}


def region_setting(state: ResourceState, ctx: Context, which: Which, field: str) -> Any:
    """``field`` of the account settings in the resource's region, as at ``which``; None if unknown.

    A setting that could not be read now is unknown now, whatever its last known value (case 18):
    a block that may have been lifted does not make a public snapshot private.
    """
    for settings in ctx.of_type(state.identity.account, ACCOUNT_SETTINGS):
        if settings.identity.region != state.identity.region:
            continue
        if which == "current" and field in settings.unreadable:
            return None
        config = settings.config(which) if which != "baseline" or settings.baseline is not None else None
        config = config if config is not None else settings.current
        return (config or {}).get(field)
    return None


def _shared_with_all(permissions: Any) -> bool:
    return isinstance(permissions, list) and any(
        isinstance(p, Mapping) and p.get("Group") == "all" for p in permissions
    )


def _snapshot_public(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    if not _shared_with_all(config.get("CreateVolumePermissions")):
        return []
    # block-all-sharing makes snapshots already shared with everyone private again;
    # block-new-sharing only refuses new public sharing (EC2 User Guide, "Block public access").
    if region_setting(state, ctx, which, "SnapshotBlockPublicAccess") == "block-all-sharing":
        return []
    size = config.get("VolumeSize")
    message = (
        f"EBS snapshot {state.identity.id} (volume {config.get('VolumeId', '?')}, {size} GiB) is public: "
        "any AWS account can create a volume from it and read its data"
    )
    return [Violation("public", message, ("CreateVolumePermissions",))]


@register("ebs-snapshot-public", types=(SNAPSHOT,), severity=Severity.CRITICAL)
def snapshot_public(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """An EBS snapshot whose volume permission is shared with group "all", unless blocked for the region."""
    return guardrail_findings("ebs-snapshot-public", state, ctx, settings, _snapshot_public)


def _image_public(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    # AMI block public access only refuses new public sharing: an AMI already public stays so.
    if not (config.get("Public") is True or _shared_with_all(config.get("LaunchPermissions"))):
        return []
    message = (
        f"AMI {state.identity.id} ({config.get('Name', '')}) is public: any AWS account can launch it "
        "and copy the data on its snapshots"
    )
    return [Violation("public", message, ("Public", "LaunchPermissions"))]


@register("ami-public", types=(IMAGE,), severity=Severity.CRITICAL)
def image_public(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """An AMI that is public (launch permission for group "all")."""
    return guardrail_findings("ami-public", state, ctx, settings, _image_public)


def weakened_defaults(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """What got weaker from ``before`` to ``after`` in an ``ec2/account-settings`` document."""
    if before is None or after is None:
        return []
    weaker = []
    if before.get("EbsEncryptionByDefault") is True and after.get("EbsEncryptionByDefault") is False:
        weaker.append("EBS encryption by default turned off")
    tokens_before, tokens_after = _tokens(before), _tokens(after)
    if tokens_before == "required" and tokens_after not in (None, "required"):
        weaker.append(f"IMDSv2 no longer required by default (HttpTokens {tokens_after}): IMDSv1 is back")
    for field, ranks in (
        ("SnapshotBlockPublicAccess", _SNAPSHOT_BLOCK),
        ("ImageBlockPublicAccess", _IMAGE_BLOCK),
    ):
        old, new = before.get(field), after.get(field)
        if old in ranks and new in ranks and ranks[new] < ranks[old]:
            weaker.append(f"{field} {old} -> {new}")
    return weaker


def _tokens(config: Mapping[str, Any]) -> str | None:
    defaults = config.get("InstanceMetadataDefaults")
    if not isinstance(defaults, Mapping):
        return None  # unknown or not offered in the region
    return str(defaults.get("HttpTokens", "no-preference"))


@register("ec2-defaults-weakened", types=(ACCOUNT_SETTINGS,), severity=Severity.HIGH)
def defaults_weakened(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """EBS encryption by default off, IMDSv2 no longer required, or snapshot/AMI public access unblocked."""
    if state.current is None:
        return []
    against, reference, source = state.reference()
    # A setting that could not be read now keeps its last known value: no change to judge.
    current = {k: v for k, v in state.current.items() if k not in state.unreadable}
    weaker = weakened_defaults(reference, current)
    if not weaker:
        return []
    region = state.identity.region
    fields = (
        "EbsEncryptionByDefault",
        "InstanceMetadataDefaults",
        "SnapshotBlockPublicAccess",
        "ImageBlockPublicAccess",
    )
    changes = tuple(c for c in source if c.path == "" or c.path.startswith(fields))
    new = against == "previous" or weakened_defaults(reference, state.previous) != weaker
    message = f"EC2 account defaults in {region} weakened: " + "; ".join(weaker)
    return [
        Finding("ec2-defaults-weakened", settings.severity, state.identity, message, against, changes, new)
    ]
