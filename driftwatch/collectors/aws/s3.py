"""S3: every bucket's access, encryption, versioning, logging and tags, and the account-level block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ABSENT, ReadFailure, call, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead, read_fields, tag_map
from driftwatch.model import GLOBAL_REGION, CoverageGap, Resource, ResourceId, Scope

BUCKET = "s3/bucket"
ACCOUNT_BLOCK = "s3/account-public-access-block"


def _acl(answer: Mapping[str, Any]) -> dict[str, Any]:
    # DisplayName is being retired by AWS and adds noise; the canonical ID identifies the grantee.
    def grantee(g: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in g.items() if k != "DisplayName"}

    return {
        "Owner": {"ID": answer.get("Owner", {}).get("ID")},
        "Grants": [
            {"Grantee": grantee(g.get("Grantee", {})), "Permission": g.get("Permission")}
            for g in answer.get("Grants", [])
        ],
    }


BUCKET_READS = (
    FieldRead("Acl", "get_bucket_acl", _acl),
    FieldRead("Policy", "get_bucket_policy", lambda a: a["Policy"]),
    FieldRead("PolicyStatus", "get_bucket_policy_status", lambda a: a["PolicyStatus"]),
    FieldRead("PublicAccessBlock", "get_public_access_block", lambda a: a["PublicAccessBlockConfiguration"]),
    FieldRead(
        "ObjectOwnership",
        "get_bucket_ownership_controls",
        lambda a: a["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
    ),
    FieldRead("Encryption", "get_bucket_encryption", lambda a: a["ServerSideEncryptionConfiguration"]),
    FieldRead(
        "Versioning",
        "get_bucket_versioning",
        lambda a: {k: a[k] for k in ("Status", "MFADelete") if k in a},
        absent={},
    ),
    FieldRead("Logging", "get_bucket_logging", lambda a: a.get("LoggingEnabled")),
    FieldRead(
        "Website", "get_bucket_website", lambda a: {k: v for k, v in a.items() if k != "ResponseMetadata"}
    ),
    FieldRead("Tags", "get_bucket_tagging", lambda a: tag_map(a.get("TagSet")), absent={}),
)
"""Each field of an ``s3/bucket`` document and the call that reads it (snapshots/README.md)."""


def collect_s3(ctx: AwsContext) -> Collection:
    """Every bucket of the account, read concurrently, plus the account-level public access block."""
    scope = Scope("aws", ctx.account, GLOBAL_REGION, BUCKET)
    client = ctx.client("s3", ctx.home_region)
    account_block = _account_block(ctx)
    try:
        buckets = paginate(client, "list_buckets", "Buckets")
    except ReadFailure as failure:
        return account_block.merge(Collection(gaps=(failure.gap(scope),)))
    names = [b["Name"] for b in buckets]
    resources: list[Resource] = []
    gaps: list[CoverageGap] = []
    for resource, bucket_gaps in ctx.map(lambda name: _bucket(ctx, name), names):
        if resource is not None:
            resources.append(resource)
        gaps.extend(bucket_gaps)
    return account_block.merge(Collection(tuple(resources), frozenset({scope}), tuple(gaps)))


def _bucket(ctx: AwsContext, name: str) -> tuple[Resource | None, list[CoverageGap]]:
    identity = ResourceId("aws", ctx.account, GLOBAL_REGION, BUCKET, name, f"arn:aws:s3:::{name}")
    home = ctx.client("s3", ctx.home_region)
    gaps: list[CoverageGap] = []
    unreadable: dict[str, str] = {}
    region: str | None
    try:
        location = call(home, "get_bucket_location", Bucket=name)
        region = (location.get("LocationConstraint") or "us-east-1") if location is not ABSENT else None
        if region == "EU":  # the legacy name of eu-west-1
            region = "eu-west-1"
    except ReadFailure as failure:
        if failure.code == "NoSuchBucket":
            return None, []  # deleted between the listing and this read: really gone
        region = None
        unreadable["Region"] = failure.code
        gaps.append(failure.gap(identity.scope, identity, "Region"))
    client = ctx.client("s3", region or ctx.home_region)
    fields = read_fields(client, identity, BUCKET_READS, Bucket=name)
    if any(code == "NoSuchBucket" for code in fields.unreadable.values()):
        return None, []
    config: dict[str, Any] = {"Name": name, **fields.config}
    if region is not None:
        config["Region"] = region
    return Resource(identity, config, {**unreadable, **fields.unreadable}), gaps + fields.gaps


def _account_block(ctx: AwsContext) -> Collection:
    identity = ResourceId("aws", ctx.account, GLOBAL_REGION, ACCOUNT_BLOCK, "account")
    read = FieldRead(
        "PublicAccessBlock", "get_public_access_block", lambda a: a["PublicAccessBlockConfiguration"]
    )
    fields = read_fields(ctx.client("s3control", ctx.home_region), identity, (read,), AccountId=ctx.account)
    resource = Resource(identity, fields.config, fields.unreadable)
    scopes = frozenset() if fields.unreadable else frozenset({identity.scope})
    return Collection((resource,), scopes, tuple(fields.gaps))
