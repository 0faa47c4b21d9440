"""EC2 instances: what each one runs as, where, and how its metadata service answers (IMDSv1 or not)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ReadFailure, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import tag_map
from driftwatch.collectors.aws.listed import pick
from driftwatch.model import JSONValue, Resource, ResourceId, Scope

INSTANCE = "ec2/instance"

INSTANCE_KEYS = (
    "EbsOptimized",
    "ImageId",
    "InstanceId",
    "InstanceType",
    "KeyName",
    "SubnetId",
    "VpcId",
)
"""Settings kept from ``DescribeInstances``. The state (running, stopped), the addresses and the
``LaunchTime`` that change with it, and the like move on their own and are left out."""

METADATA_KEYS = (
    "HttpEndpoint",
    "HttpProtocolIpv6",
    "HttpPutResponseHopLimit",
    "HttpTokens",
    "InstanceMetadataTags",
)
"""The metadata service's settings (``MetadataOptions`` without its ``State`` of being applied)."""

_GONE = frozenset({"shutting-down", "terminated"})
"""Instance states that mean the instance is going or gone: it is left out, as a deleted one is."""


def instance_config(instance: Mapping[str, Any]) -> dict[str, JSONValue]:
    """The canonical ``ec2/instance`` document for one DescribeInstances entry."""
    config = pick(instance, INSTANCE_KEYS)
    config["MetadataOptions"] = pick(instance.get("MetadataOptions") or {}, METADATA_KEYS)
    config["IamInstanceProfile"] = (instance.get("IamInstanceProfile") or {}).get("Arn")
    config["SecurityGroups"] = sorted(g["GroupId"] for g in instance.get("SecurityGroups", []))
    config["Tags"] = tag_map(instance.get("Tags"))
    config["FirstLaunchTime"] = first_launch(instance)
    return config


def first_launch(instance: Mapping[str, Any]) -> JSONValue:
    """When the instance was first launched: its root volume's attach time, which a stop and
    start keeps (``LaunchTime`` is the last start). None when the root device is not EBS."""
    root = instance.get("RootDeviceName")
    for mapping in instance.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root and "AttachTime" in (mapping.get("Ebs") or {}):
            return mapping["Ebs"]["AttachTime"]
    return None


def collect_instances(ctx: AwsContext, region: str) -> Collection:
    """Every EC2 instance of one region that is not being terminated."""
    scope = Scope("aws", ctx.account, region, INSTANCE)
    try:
        reservations = paginate(ctx.client("ec2", region), "describe_instances", "Reservations")
    except ReadFailure as failure:
        return Collection(gaps=(failure.gap(scope),))
    resources = tuple(
        Resource(
            ResourceId(
                "aws",
                ctx.account,
                region,
                INSTANCE,
                i["InstanceId"],
                f"arn:aws:ec2:{region}:{ctx.account}:instance/{i['InstanceId']}",
            ),
            instance_config(i),
        )
        for reservation in reservations
        for i in reservation.get("Instances", [])
        if (i.get("State") or {}).get("Name") not in _GONE
    )
    return Collection(resources, frozenset({scope}))
