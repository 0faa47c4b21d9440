"""The minimal read-only IAM policy shipped in the package covers exactly the calls the collector makes."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from driftwatch.collectors.aws import AwsCollector
from driftwatch.config import SERVICES, load_config
from tests.conftest import TEST_SERVICES, write_config
from tests.support import aws_seed
from tests.support.aws_faults import running_fault_proxy
from tests.support.coverage_seed import seed_coverage

# How each API operation the collector calls is authorised (the IAM action differs for a few).
ACTIONS = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
    ("sts", "GetCallerIdentity"): None,  # needs no permission
}
MOTO_LACKS = {
    "ec2.get_instance_metadata_defaults",
    "ec2.get_snapshot_block_public_access_state",
    "ec2.get_image_block_public_access_state",
}
"""Calls moto's server does not implement: each is a coverage gap, and still a call to allow."""


def action(service: str, operation: str) -> str | None:
    return ACTIONS.get((service, operation), f"{service}:{operation}")


def seed(endpoint: str) -> None:
    s3: Any = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"})
    )
    s3.create_bucket(Bucket="policy-check")
    iam: Any = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    iam.create_user(UserName="alice")
    iam.create_access_key(UserName="alice")
    iam.put_user_policy(
        UserName="alice",
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    # One resource of each regional type, so that every per-resource call is made.
    aws_seed.create_function(endpoint, "orders-api")
    lam = aws_seed.client(endpoint, "lambda")  # an alias: its URL and policy are read too
    lam.create_alias(FunctionName="orders-api", Name="live", FunctionVersion="$LATEST")
    aws_seed.public_snapshot(endpoint, public=False)
    aws_seed.public_image(endpoint, "golden", public=False)
    aws_seed.client(endpoint, "sns").create_topic(Name="alerts")
    aws_seed.client(endpoint, "sqs").create_queue(QueueName="jobs")
    aws_seed.recording_config(endpoint)
    aws_seed.client(endpoint, "guardduty").create_detector(Enable=True)


def test_the_shipped_policy_allows_every_call_and_nothing_more(tmp_path: Path, aws: str) -> None:
    seed(aws)
    organizations: Any = boto3.client("organizations", endpoint_url=aws, region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    organizations.create_account(AccountName="member", Email="member@example.com")
    seed_coverage(aws)  # roles, groups, policies, a trail, a KMS key, a DB instance and cluster
    policy = json.loads((files("driftwatch") / "defaults" / "iam-policy.json").read_text(encoding="utf-8"))
    read_only, accounts = policy["Statement"]
    calls: dict[str, set[tuple[str, str]]] = {}
    with running_fault_proxy(aws) as proxy:
        for name, extra, services in (
            ("one", "", SERVICES),  # the account of the credentials, every service
            (
                "organization",
                'organization = true\nrole_arn = "arn:aws:iam::{account}:role/read"\n',
                TEST_SERVICES,
            ),
        ):
            (tmp_path / name).mkdir()
            path = write_config(tmp_path / name, proxy.url, ("us-east-1", "eu-west-1"), services=services)
            text = path.read_text(encoding="utf-8").replace("organization = false\n", "")
            text = text.replace("max_attempts = 2", "max_attempts = 1")  # moto's 500s: no retry
            path.write_text(text.replace('role_arn = ""\n', extra), encoding="utf-8")
            collection = AwsCollector(load_config(path).aws).collect()
            lacking = (
                {(c, r) for c in MOTO_LACKS for r in ("us-east-1", "eu-west-1")} if name == "one" else set()
            )
            assert {(g.api_call, g.scope.region) for g in collection.gaps} == lacking
            calls[name] = {(c.service, c.operation) for c in proxy.calls()}
            proxy.clear()
    needed = {
        name: {a for a in (action(*call) for call in seen) if a is not None} for name, seen in calls.items()
    }
    # What driftwatch needs in every account it reads...
    assert needed["one"] == set(read_only["Action"])
    # ...and, to reach the others, in the account of the credentials it runs with.
    assert needed["organization"] - needed["one"] == set(accounts["Action"])
    assert all((s["Effect"], s["Resource"]) == ("Allow", "*") for s in policy["Statement"])
