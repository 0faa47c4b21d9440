"""A synthetic account of N resources, read through driftwatch's collector interface.

S3 buckets, security groups and IAM users are shaped like what the AWS collector builds from
boto3's answers (datetimes, policies as JSON strings, tags), with the volatile parts a real read
has (request metadata, last-used dates), so that normalisation does its real work.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.model import GLOBAL_REGION, Resource, ResourceId, Scope

ACCOUNT = "111122223333"
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
BUCKET, GROUP, USER = "s3/bucket", "ec2/security-group", "iam/user"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _bucket(i: int) -> tuple[ResourceId, dict[str, Any]]:
    name = f"acme-data-{i:06d}-{('logs', 'assets', 'backups', 'exports')[i % 4]}"
    arn = f"arn:aws:s3:::{name}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "AllowAnalytics",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/analytics-{i % 17}"},
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [arn, f"{arn}/*"],
            },
        ],
    }
    config = {
        "Name": name,
        "Region": REGIONS[i % len(REGIONS)],
        "Acl": {
            "Owner": {"ID": "7d2d0f3e" * 8},
            "Grants": [
                {"Grantee": {"ID": "7d2d0f3e" * 8, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}
            ],
        },
        "Policy": json.dumps(policy),
        "PolicyStatus": {"IsPublic": False},
        "PublicAccessBlock": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
        "ObjectOwnership": "ObjectWriter",
        "Encryption": {
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{i:08d}-aaaa-bbbb-cccc-0123",
                    },
                    "BucketKeyEnabled": False,
                }
            ]
        },
        "Versioning": {"Status": "Enabled"} if i % 3 else {},
        "Logging": {"TargetBucket": "acme-access-logs", "TargetPrefix": f"{name}/"} if i % 2 else None,
        "Website": None,
        "Tags": {"team": f"team-{i % 40}", "cost-center": f"cc-{i % 113}", "env": ("prod", "dev")[i % 2]},
    }
    return ResourceId("aws", ACCOUNT, GLOBAL_REGION, BUCKET, name, arn), config


def _group(i: int) -> tuple[ResourceId, dict[str, Any]]:
    region = REGIONS[i % len(REGIONS)]
    group_id = f"sg-{i:017x}"
    config = {
        "Description": f"service {i} instances",
        "GroupId": group_id,
        "GroupName": f"svc-{i}",
        "OwnerId": ACCOUNT,
        "VpcId": f"vpc-{i % 50:017x}",
        "Ingress": {
            "tcp/443": sorted(["10.0.0.0/8", f"sg-{(i + 1):017x}"]),
            "tcp/22": [f"10.{i % 250}.0.0/16"],
            f"tcp/{8000 + i % 1000}": [f"sg-{(i + 7):017x}", "172.16.0.0/12"],
        },
        "Egress": {"all": ["0.0.0.0/0"]},
        "PeerDescriptions": {
            "ingress tcp/443 10.0.0.0/8": "corporate network",
            f"ingress tcp/22 10.{i % 250}.0.0/16": "bastion subnet",
        },
        "Tags": {"Name": f"svc-{i}", "team": f"team-{i % 40}", "managed-by": "terraform"},
    }
    arn = f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/{group_id}"
    return ResourceId("aws", ACCOUNT, region, GROUP, group_id, arn), config


def _user(i: int) -> tuple[ResourceId, dict[str, Any]]:
    name = f"user.{i:06d}"
    arn = f"arn:aws:iam::{ACCOUNT}:user/people/{name}"
    created = EPOCH + timedelta(hours=i)
    inline = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::acme-{i}/*"}],
    }
    config = {
        "Arn": arn,
        "CreateDate": created,
        "Path": "/people/",
        "UserName": name,
        "LoginProfile": {"PasswordResetRequired": False},
        "MFADevices": [f"arn:aws:iam::{ACCOUNT}:mfa/{name}"],
        "AccessKeys": [
            {"AccessKeyId": f"AKIA{i:016d}", "CreateDate": created + timedelta(days=3), "Status": "Active"}
        ],
        "AttachedPolicies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "Groups": [f"developers-{i % 12}", "everyone"],
        "Tags": {"team": f"team-{i % 40}", "email": f"{name}@example.com"},
        "InlinePolicies": {"own-bucket": json.dumps(inline)},
    }
    return ResourceId("aws", ACCOUNT, GLOBAL_REGION, USER, name, arn), config


_MAKERS = (_bucket, _group, _user, _bucket, _group)  # 40% buckets, 40% groups, 20% users


class SyntheticCollector:
    """A collector over a synthetic account of ``size`` resources; scenarios change it in place."""

    def __init__(self, size: int, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.resources: list[tuple[ResourceId, dict[str, Any]]] = [_MAKERS[i % 5](i) for i in range(size)]
        self.reads = 0

    def collect(self) -> Collection:
        """Every resource as read now: the same settings, new volatile fields on every read."""
        self.reads += 1
        now = EPOCH + timedelta(days=self.reads)
        resources = []
        for identity, config in self.resources:
            raw = {**config, "ResponseMetadata": {"RequestId": f"{self.random.getrandbits(64):016x}"}}
            observations: dict[str, Any] = {}
            if identity.type == USER:
                raw["PasswordLastUsed"] = now  # an observation: kept for rules, never drift
            resources.append(Resource(identity, raw, {}, observations))
        scopes = frozenset(Scope("aws", ACCOUNT, r, GROUP) for r in REGIONS) | {
            Scope("aws", ACCOUNT, GLOBAL_REGION, BUCKET),
            Scope("aws", ACCOUNT, GLOBAL_REGION, USER),
        }
        return Collection(tuple(resources), frozenset(scopes), (), {"synthetic": "1"})

    def change_some(self, count: int, label: str) -> list[str]:
        """A realistic change to ``count`` resources picked at random: a tag edited by a person."""
        picked = self.random.sample(range(len(self.resources)), count)
        for index in picked:
            identity, config = self.resources[index]
            self.resources[index] = (identity, {**config, "Tags": {**config["Tags"], "changed-by": label}})
        return [self.resources[i][0].key for i in picked]

    def provider_default_change(self) -> None:
        """One field of every resource changes, as when the provider changes a default.

        Buckets move to BucketOwnerEnforced (AWS's 2023 default), security groups gain the IPv6
        default egress, users are asked to reset their password.
        """
        for index, (identity, config) in enumerate(self.resources):
            if identity.type == BUCKET:
                config = {**config, "ObjectOwnership": "BucketOwnerEnforced"}
            elif identity.type == GROUP:
                config = {**config, "Egress": {"all": ["0.0.0.0/0", "::/0"]}}
            else:
                config = {**config, "LoginProfile": {"PasswordResetRequired": True}}
            self.resources[index] = (identity, config)
