"""EC2 account settings per region, EBS snapshots and AMIs: the account's defaults and what it shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead, tag_map
from driftwatch.collectors.aws.listed import ListedType, collect_listed, collect_settings, pick
from driftwatch.model import JSONValue

ACCOUNT_SETTINGS = "ec2/account-settings"
SNAPSHOT = "ebs/snapshot"
IMAGE = "ami/image"

UNSUPPORTED = "unsupported"
"""Stored for a setting whose API this region (or partition) does not offer: a state, not a gap."""
_NO_SUCH_API = frozenset({"InvalidAction", "UnsupportedOperation"})


def _metadata_defaults(answer: Mapping[str, Any]) -> JSONValue:
    # {} is "no account-level default": each launch then uses the AMI's or the instance type's.
    return {k: v for k, v in answer.get("AccountLevel", {}).items() if k != "ManagedBy"}


ACCOUNT_SETTINGS_READS = (
    FieldRead(
        "EbsEncryptionByDefault", "get_ebs_encryption_by_default", lambda a: a["EbsEncryptionByDefault"]
    ),
    FieldRead(
        "InstanceMetadataDefaults",
        "get_instance_metadata_defaults",
        _metadata_defaults,
        absent=UNSUPPORTED,
        absent_codes=_NO_SUCH_API,
    ),
    FieldRead(
        "SnapshotBlockPublicAccess",
        "get_snapshot_block_public_access_state",
        lambda a: a["State"],
        absent=UNSUPPORTED,
        absent_codes=_NO_SUCH_API,
    ),
    FieldRead(
        "ImageBlockPublicAccess",
        "get_image_block_public_access_state",
        lambda a: a["ImageBlockPublicAccessState"],
        absent=UNSUPPORTED,
        absent_codes=_NO_SUCH_API,
    ),
)
"""Each field of an ``ec2/account-settings`` document and the call that reads it."""


def collect_account_settings(ctx: AwsContext, region: str) -> Collection:
    """The region's EC2 account-level defaults: EBS encryption, IMDS, snapshot and AMI public access."""
    return collect_settings(ctx, region, ACCOUNT_SETTINGS, "ec2", ACCOUNT_SETTINGS_READS)


def _snapshot(item: Mapping[str, Any]) -> dict[str, JSONValue]:
    keys = ("SnapshotId", "VolumeId", "VolumeSize", "Encrypted", "KmsKeyId", "Description", "OwnerId")
    return pick(item, keys) | {"Tags": tag_map(item.get("Tags"))}


SNAPSHOTS = ListedType(
    type=SNAPSHOT,
    client="ec2",
    list_operation="describe_snapshots",
    items="Snapshots",
    # The filter repeats "self" for emulators that ignore OwnerIds (moto does).
    list_arguments=lambda account: {
        "OwnerIds": ["self"],
        "Filters": [{"Name": "owner-id", "Values": [account]}],
    },
    identify=lambda s, _account, region: (
        s["SnapshotId"],
        f"arn:aws:ec2:{region}::snapshot/{s['SnapshotId']}",
    ),
    base=_snapshot,
    reads=(
        FieldRead(
            "CreateVolumePermissions",
            "describe_snapshot_attribute",
            lambda a: a.get("CreateVolumePermissions", []),
        ),
    ),
    arguments=lambda s: {"SnapshotId": s["SnapshotId"], "Attribute": "createVolumePermission"},
    gone_codes=frozenset({"InvalidSnapshot.NotFound"}),
)
"""``ebs/snapshot``: the account's own snapshots and who may create volumes from them."""


def _image(item: Mapping[str, Any]) -> dict[str, JSONValue]:
    keys = ("ImageId", "Name", "Description", "Public", "OwnerId", "Architecture", "RootDeviceType")
    devices = [
        {"DeviceName": d.get("DeviceName"), **pick(d.get("Ebs", {}), ("SnapshotId", "Encrypted", "KmsKeyId"))}
        for d in item.get("BlockDeviceMappings", [])
        if "Ebs" in d
    ]
    return pick(item, (*keys, "ImdsSupport", "DeprecationTime")) | {
        "BlockDeviceMappings": devices,
        "Tags": tag_map(item.get("Tags")),
    }


IMAGES = ListedType(
    type=IMAGE,
    client="ec2",
    list_operation="describe_images",
    items="Images",
    list_arguments=lambda _account: {"Owners": ["self"]},
    identify=lambda i, _account, region: (i["ImageId"], f"arn:aws:ec2:{region}::image/{i['ImageId']}"),
    base=_image,
    reads=(
        FieldRead("LaunchPermissions", "describe_image_attribute", lambda a: a.get("LaunchPermissions", [])),
    ),
    arguments=lambda i: {"ImageId": i["ImageId"], "Attribute": "launchPermission"},
    gone_codes=frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"}),
)
"""``ami/image``: the account's own AMIs and who may launch them."""


def collect_snapshots(ctx: AwsContext, region: str) -> Collection:
    """Every EBS snapshot the account owns in one region, with its volume permissions."""
    return collect_listed(ctx, region, SNAPSHOTS)


def collect_images(ctx: AwsContext, region: str) -> Collection:
    """Every AMI the account owns in one region, with its launch permissions."""
    return collect_listed(ctx, region, IMAGES)
