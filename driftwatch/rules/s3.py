"""S3 rules: a bucket's effective public exposure, and a public access block weakened."""

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
from driftwatch.rules.s3_exposure import BucketExposure, evaluate_bucket_exposure

BUCKET = "s3/bucket"
ACCOUNT_BLOCK = "s3/account-public-access-block"
BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
NEUTRALISING_FLAGS = ("IgnorePublicAcls", "RestrictPublicBuckets")
EXPOSURE_PATHS = ("Acl", "Policy", "PolicyStatus", "PublicAccessBlock", "ObjectOwnership")


def _account_block(state: ResourceState, ctx: Context, which: Which) -> tuple[Mapping[str, Any] | None, bool]:
    blocks = ctx.of_type(state.identity.account, ACCOUNT_BLOCK)
    if not blocks:
        return None, False
    block = blocks[0]
    config = block.config(which) if which != "baseline" or block.baseline is not None else block.current
    unreadable = which == "current" and "PublicAccessBlock" in block.unreadable
    return config, unreadable


def _exposure(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    account_block, account_unreadable = _account_block(state, ctx, which)
    unreadable = state.unreadable if which == "current" else {}
    exposure = evaluate_bucket_exposure(
        config, account_block, unreadable=unreadable, account_block_unreadable=account_unreadable
    )
    name = config.get("Name", state.identity.id)
    if exposure.status == "public":
        return [_public(exposure, f"bucket {name} is", settings)]
    if exposure.status == "unknown":
        # A read failed: judge the last known settings, so an exposure never vanishes with access.
        last_known = evaluate_bucket_exposure(config, account_block)
        if last_known.status == "public":
            why = "; ".join(exposure.unknown_because) or "a read failed"
            prefix = f"bucket {name} cannot be verified now ({why}); at the last successful read it was"
            return [_public(last_known, prefix, settings)]
    return []


def _public(exposure: BucketExposure, prefix: str, settings: RuleSettings) -> Violation:
    held = (
        ("write-acp", exposure.acl_writable),
        ("write", exposure.write),
        ("read", exposure.read),
        ("read-acp", exposure.acl_readable),
    )
    kinds = [kind for kind, yes in held if yes]
    data_exposed = exposure.read or exposure.write or exposure.acl_writable
    severity = None if data_exposed else settings.severity_param("acl_only_severity")
    what = "public" if data_exposed else "exposing its ACL publicly"
    message = f"{prefix} {what} ({', '.join(kinds)}): " + "; ".join(exposure.via)
    return Violation("public " + ",".join(kinds), message, EXPOSURE_PATHS, severity)


@register(
    "s3-bucket-public",
    types=(BUCKET,),
    severity=Severity.CRITICAL,
    params={"acl_only_severity": "low"},
    reads=(ACCOUNT_BLOCK,),
)
def bucket_public(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A bucket that anyone outside the account can read or write, all settings considered."""
    return guardrail_findings("s3-bucket-public", state, ctx, settings, _exposure)


def block_flags(config: Mapping[str, Any] | None) -> dict[str, bool] | None:
    """The four flags of a config's ``PublicAccessBlock`` (``null`` = all off), or None if unknown."""
    if config is None or "PublicAccessBlock" not in config:
        return None
    block = config["PublicAccessBlock"] or {}
    return {flag: bool(block.get(flag, False)) for flag in BLOCK_FLAGS}


def _weakened(reference: Mapping[str, Any] | None, now: Mapping[str, Any] | None) -> list[str]:
    before, after = block_flags(reference), block_flags(now)
    if before is None or after is None:
        return []
    return [flag for flag in BLOCK_FLAGS if before[flag] and not after[flag]]


@register(
    "s3-public-access-block-weakened",
    types=(BUCKET, ACCOUNT_BLOCK),
    severity=Severity.HIGH,
    params={"minor_severity": "medium"},
)
def block_weakened(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A public access block flag turned off, or the whole block removed, at bucket or account level."""
    if state.current is None or "PublicAccessBlock" in state.unreadable:
        return []  # a block we could not read is unknown, never "removed" (case 18)
    against, reference, source = state.reference()
    weakened = _weakened(reference, state.current)
    if not weakened:
        return []
    removed = state.current.get("PublicAccessBlock") is None
    serious = removed or any(flag in NEUTRALISING_FLAGS for flag in weakened)
    severity = settings.severity if serious else settings.severity_param("minor_severity")
    where = "account-level" if state.identity.type == ACCOUNT_BLOCK else f"bucket {state.identity.id}"
    if removed:
        message = f"{where} Block Public Access removed (it had {', '.join(weakened)} on)"
    else:
        message = f"{where} Block Public Access weakened: {', '.join(weakened)} turned off"
    if not serious:
        message += " (future public grants no longer rejected; existing grants were never blocked by these)"
    changes = tuple(c for c in source if c.path.startswith("PublicAccessBlock") or c.path == "")
    new = against == "previous" or _weakened(reference, state.previous) != weakened
    return [
        Finding(
            "s3-public-access-block-weakened",
            severity,
            state.identity,
            message,
            against,
            changes,
            new_since_previous=new,
            subject="PublicAccessBlock",
        )
    ]


@register("s3-acls-reenabled", types=(BUCKET,), severity=Severity.MEDIUM)
def acls_reenabled(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """Object ownership moved off BucketOwnerEnforced: ACLs count again, although no grant changed."""
    if state.current is None or "ObjectOwnership" in state.unreadable:
        return []
    against, reference, source = state.reference()
    if reference is None or reference.get("ObjectOwnership") != "BucketOwnerEnforced":
        return []
    now = state.current.get("ObjectOwnership")
    if now == "BucketOwnerEnforced":
        return []
    message = (
        f"bucket {state.identity.id}: ACLs re-enabled (object ownership {now or 'not configured'}, "
        "was BucketOwnerEnforced); ACL grants now count towards exposure again"
    )
    changes = tuple(c for c in source if c.path == "ObjectOwnership")
    new = against == "previous" or (state.previous or {}).get("ObjectOwnership") == "BucketOwnerEnforced"
    return [
        Finding(
            "s3-acls-reenabled",
            settings.severity,
            state.identity,
            message,
            against,
            changes,
            new_since_previous=new,
            subject="ObjectOwnership",
        )
    ]
