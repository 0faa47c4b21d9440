"""Seeding moto with one of each IAM, CloudTrail, KMS and RDS resource type that driftwatch reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

ACCOUNT = "123456789012"  # moto's account
EXTERNAL = "444455556666"
TRAIL_BUCKET = "example-trail-logs"


def trust_policy(*principals: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    """A trust policy letting the AWS ``principals`` assume a role."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": list(principals)}}
    statement["Action"] = "sts:AssumeRole"
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def allow(action: str, resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": action, "Resource": resource}}
    )


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed_coverage` created."""

    key_id: str
    policy_arn: str


def clients(endpoint: str, region: str = "us-east-1") -> dict[str, Any]:
    """iam, cloudtrail, kms, rds and s3 clients aimed at ``endpoint`` in ``region``."""
    names = ("iam", "cloudtrail", "kms", "rds")
    made = {n: boto3.client(n, region_name=region, endpoint_url=endpoint) for n in names}
    made["s3"] = boto3.client(
        "s3", region_name=region, endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"})
    )
    return made


def seed_coverage(endpoint: str) -> Seeded:
    """A role (trusting its own account), a group, a customer-managed policy, a logging trail, a
    rotated private KMS key, and a private, encrypted DB instance and cluster with TLS enforced."""
    c = clients(endpoint)
    iam = c["iam"]
    iam.create_role(
        RoleName="deployer",
        AssumeRolePolicyDocument=json.dumps(trust_policy(f"arn:aws:iam::{ACCOUNT}:root")),
        Description="CI deploys",
        Tags=[{"Key": "team", "Value": "platform"}],
    )
    iam.put_role_policy(RoleName="deployer", PolicyName="deploy", PolicyDocument=allow("ecs:UpdateService"))
    policy_arn = iam.create_policy(PolicyName="read-reports", PolicyDocument=allow("s3:GetObject"))["Policy"][
        "Arn"
    ]
    iam.attach_role_policy(RoleName="deployer", PolicyArn=policy_arn)
    iam.create_group(GroupName="analysts")
    iam.create_user(UserName="ana")
    iam.add_user_to_group(GroupName="analysts", UserName="ana")
    iam.attach_group_policy(GroupName="analysts", PolicyArn=policy_arn)
    iam.put_group_policy(
        GroupName="analysts", PolicyName="metrics", PolicyDocument=allow("cloudwatch:GetMetricData")
    )

    c["s3"].create_bucket(Bucket=TRAIL_BUCKET)
    trail = c["cloudtrail"]
    trail.create_trail(
        Name="org-audit", S3BucketName=TRAIL_BUCKET, IsMultiRegionTrail=True, EnableLogFileValidation=True
    )
    trail.start_logging(Name="org-audit")

    kms = c["kms"]
    key_id = kms.create_key(Description="application data", Tags=[{"TagKey": "team", "TagValue": "core"}])[
        "KeyMetadata"
    ]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    kms.create_alias(AliasName="alias/app-data", TargetKeyId=key_id)

    rds = c["rds"]
    rds.create_db_parameter_group(
        DBParameterGroupName="pg-tls", DBParameterGroupFamily="postgres16", Description="TLS"
    )
    force_ssl = [{"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}]
    rds.modify_db_parameter_group(DBParameterGroupName="pg-tls", Parameters=force_ssl)
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="orders",
        MasterUserPassword="example-not-a-password",
        AllocatedStorage=20,
        PubliclyAccessible=False,
        StorageEncrypted=True,
        DeletionProtection=True,
        DBParameterGroupName="pg-tls",
    )
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="cpg-tls", DBParameterGroupFamily="aurora-postgresql16", Description="TLS"
    )
    rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName="cpg-tls", Parameters=force_ssl)
    rds.create_db_cluster(
        DBClusterIdentifier="ledger",
        Engine="aurora-postgresql",
        MasterUsername="ledger",
        MasterUserPassword="example-not-a-password",
        StorageEncrypted=True,
        DeletionProtection=True,
        DBClusterParameterGroupName="cpg-tls",
    )
    return Seeded(key_id, policy_arn)
