"""KMS: every customer-managed key of a region, with its rotation, key policy, aliases and tags."""

from __future__ import annotations

from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ABSENT, ReadFailure, call, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead, read_fields
from driftwatch.model import CoverageGap, Resource, ResourceId, Scope

KEY = "kms/key"

KEY_METADATA = (
    "Arn",
    "CreationDate",
    "CustomKeyStoreId",
    "DeletionDate",
    "Description",
    "Enabled",
    "KeyId",
    "KeyManager",
    "KeySpec",
    "KeyState",
    "KeyUsage",
    "MultiRegion",
    "Origin",
)
"""The settings kept from ``DescribeKey``'s ``KeyMetadata``."""

POLICY_READ = FieldRead("Policy", "get_key_policy", lambda a: a.get("Policy"))
"""The key policy (a key has exactly one, named ``default``)."""

TAGS_READ = FieldRead(
    "Tags", "list_resource_tags", lambda items: {t["TagKey"]: t["TagValue"] for t in items}, items="Tags"
)

ROTATION_READ = FieldRead(
    "Rotation",
    "get_key_rotation_status",
    # NextRotationDate and OnDemandRotationStartDate move on every rotation: not configuration.
    lambda a: {k: a[k] for k in ("KeyRotationEnabled", "RotationPeriodInDays") if k in a},
)


def rotation_applies(metadata: dict[str, Any]) -> bool:
    """True for the keys AWS can rotate automatically: symmetric, with key material made by KMS."""
    return metadata.get("KeySpec") == "SYMMETRIC_DEFAULT" and metadata.get("Origin") == "AWS_KMS"


def collect_keys(ctx: AwsContext, region: str) -> Collection:
    """The customer-managed keys of one region; AWS-managed keys (``aws/s3`` ...) are left out."""
    scope = Scope("aws", ctx.account, region, KEY)
    client = ctx.client("kms", region)
    try:
        keys = paginate(client, "list_keys", "Keys")
    except ReadFailure as failure:
        return Collection(gaps=(failure.gap(scope),))
    aliases: dict[str, list[str]] | ReadFailure
    try:
        aliases = {}
        for alias in paginate(client, "list_aliases", "Aliases"):
            if alias.get("TargetKeyId"):
                aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
    except ReadFailure as failure:
        aliases = failure
    resources: list[Resource] = []
    gaps: list[CoverageGap] = []
    for resource, key_gaps in ctx.map(lambda key: _key(ctx, client, region, key, aliases), keys):
        if resource is not None:
            resources.append(resource)
        gaps.extend(key_gaps)
    # A key that could not be described may be a customer key: the listing is then incomplete and
    # deletes nothing.
    complete = not any(g.field == "KeyMetadata" for g in gaps)
    return Collection(tuple(resources), frozenset({scope}) if complete else frozenset(), tuple(gaps))


def _key(
    ctx: AwsContext,
    client: Any,
    region: str,
    key: dict[str, Any],
    aliases: dict[str, list[str]] | ReadFailure,
) -> tuple[Resource | None, list[CoverageGap]]:
    key_id, arn = key["KeyId"], key.get("KeyArn")
    identity = ResourceId("aws", ctx.account, region, KEY, key_id, arn)
    try:
        answer = call(client, "describe_key", KeyId=key_id)
    except ReadFailure as failure:
        # Without the metadata the key cannot even be told customer- from AWS-managed.
        return None, [failure.gap(identity.scope, identity, "KeyMetadata")]
    if answer is ABSENT:
        return None, []
    metadata = answer["KeyMetadata"]
    if metadata.get("KeyManager") != "CUSTOMER":
        return None, []
    fields = read_fields(client, identity, (TAGS_READ,), KeyId=key_id)
    reads = [(POLICY_READ, {"PolicyName": "default"})]
    if rotation_applies(metadata):
        reads.append((ROTATION_READ, {}))
    else:
        fields.config["Rotation"] = None  # not applicable: AWS rotates only symmetric KMS-made keys
    for read, extra in reads:
        more = read_fields(client, identity, (read,), KeyId=key_id, **extra)
        fields.config.update(more.config)
        fields.unreadable.update(more.unreadable)
        fields.gaps.extend(more.gaps)
    if isinstance(aliases, ReadFailure):
        fields.failed("Aliases", aliases)
    else:
        fields.config["Aliases"] = sorted(aliases.get(key_id, []))
    config = {k: metadata[k] for k in KEY_METADATA if k in metadata} | fields.config
    return Resource(identity, config, fields.unreadable), fields.gaps
