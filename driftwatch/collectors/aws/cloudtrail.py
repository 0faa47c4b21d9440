"""CloudTrail: every trail whose home is a region, with whether it is logging and what it records."""

from __future__ import annotations

from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ReadFailure, call
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead, read_fields
from driftwatch.model import CoverageGap, Resource, ResourceId, Scope

TRAIL = "cloudtrail/trail"

TRAIL_KEYS = (
    "CloudWatchLogsLogGroupArn",
    "CloudWatchLogsRoleArn",
    "HasCustomEventSelectors",
    "HasInsightSelectors",
    "HomeRegion",
    "IncludeGlobalServiceEvents",
    "IsMultiRegionTrail",
    "IsOrganizationTrail",
    "KmsKeyId",
    "LogFileValidationEnabled",
    "Name",
    "S3BucketName",
    "S3KeyPrefix",
    "SnsTopicARN",
    "TrailARN",
)
"""The settings kept from ``DescribeTrails``; a key AWS leaves out (no KMS key) is stored as null."""

STATUS_READS = (FieldRead("IsLogging", "get_trail_status", lambda a: bool(a.get("IsLogging"))),)
"""Only ``IsLogging``: the delivery times and errors in the status change on every delivery."""

SELECTOR_READS = (
    FieldRead(
        "EventSelectors",
        "get_event_selectors",
        lambda a: {k: a[k] for k in ("EventSelectors", "AdvancedEventSelectors") if k in a},
    ),
)


def collect_trails(ctx: AwsContext, region: str) -> Collection:
    """The trails created in ``region``; a multi-region trail is read once, in its home region."""
    scope = Scope("aws", ctx.account, region, TRAIL)
    client = ctx.client("cloudtrail", region)
    try:
        trails = call(client, "describe_trails", includeShadowTrails=False)["trailList"]
    except ReadFailure as failure:
        return Collection(gaps=(failure.gap(scope),))
    resources: list[Resource] = []
    gaps: list[CoverageGap] = []
    for resource, trail_gaps in ctx.map(lambda trail: _trail(ctx, client, region, trail), trails):
        resources.append(resource)
        gaps.extend(trail_gaps)
    return Collection(tuple(resources), frozenset({scope}), tuple(gaps))


def _trail(
    ctx: AwsContext, client: Any, region: str, trail: dict[str, Any]
) -> tuple[Resource, list[CoverageGap]]:
    arn = trail["TrailARN"]
    identity = ResourceId("aws", ctx.account, region, TRAIL, trail["Name"], arn)
    status = read_fields(client, identity, STATUS_READS, Name=arn)
    selectors = read_fields(client, identity, SELECTOR_READS, TrailName=arn)
    config = {k: trail.get(k) for k in TRAIL_KEYS} | status.config | selectors.config
    unreadable = {**status.unreadable, **selectors.unreadable}
    return Resource(identity, config, unreadable), status.gaps + selectors.gaps
