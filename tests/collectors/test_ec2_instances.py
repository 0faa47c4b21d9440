"""EC2 instances through moto's server: the stored document, IMDSv1 found, and IMDSv2 as a new default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import Invoke
from tests.test_cli import APPROVER

ACCOUNT = "123456789012"  # moto's account
IMAGE = "ami-12c6146b"  # one of moto's images


def ec2(endpoint: str) -> Any:
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)


def launch(endpoint: str, tokens: str) -> str:
    answer = ec2(endpoint).run_instances(
        ImageId=IMAGE,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        MetadataOptions={"HttpTokens": tokens, "HttpEndpoint": "enabled"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "web"}]}],
    )
    return str(answer["Instances"][0]["InstanceId"])


def run(invoke: Invoke, repo: Path) -> list[dict[str, Any]]:
    result = invoke("-c", str(repo / "driftwatch.toml"), "run", "--format", "json")
    assert result.exit_code in (0, 2), result.stderr
    return list(json.loads(result.stdout)["findings"])


def stored(repo: Path, instance: str) -> dict[str, Any]:
    path = repo / "snapshots/aws" / ACCOUNT / "us-east-1/ec2/instance" / f"{instance}.json"
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["config"]
    return config


def test_an_instance_that_goes_back_to_imdsv1_is_found_and_a_stop_start_is_no_drift(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    instance = launch(aws, "required")
    assert [f["rule"] for f in run(invoke, state_repo) if f["resource"].endswith(instance)] == [
        "unapproved-resource"
    ]
    document = stored(state_repo, instance)
    assert document["MetadataOptions"] == {
        "HttpEndpoint": "enabled",
        "HttpProtocolIpv6": "disabled",
        "HttpPutResponseHopLimit": 1,
        "HttpTokens": "required",
        "InstanceMetadataTags": "disabled",
    }
    assert (document["InstanceType"], document["ImageId"], document["Tags"]) == (
        "t3.micro",
        IMAGE,
        {"team": "web"},
    )
    assert "State" not in document and "LaunchTime" not in document
    approved = invoke(
        "-c", str(state_repo / "driftwatch.toml"), "approve", "--all", "--reason", "r", "--author", APPROVER
    )
    assert approved.exit_code == 0, approved.stderr

    ec2(aws).stop_instances(InstanceIds=[instance])
    ec2(aws).start_instances(InstanceIds=[instance])
    assert run(invoke, state_repo) == []  # a restart moves its state and launch time, not its settings

    # Every option is given: moto (unlike EC2) forgets the ones a modification leaves out.
    ec2(aws).modify_instance_metadata_options(
        InstanceId=instance,
        HttpTokens="optional",
        HttpEndpoint="enabled",
        HttpPutResponseHopLimit=1,
        HttpProtocolIpv6="disabled",
        InstanceMetadataTags="disabled",
    )
    (finding,) = run(invoke, state_repo)
    assert (finding["rule"], finding["severity"], finding["new"]) == ("ec2-imdsv1-enabled", "high", True)
    assert finding["message"].startswith(f"EC2 instance {instance}: its metadata service answers without")
    assert [(c["path"], c["before"], c["after"]) for c in finding["changes"]] == [
        ("MetadataOptions.HttpTokens", "required", "optional")
    ]


def test_a_new_instance_that_is_imdsv2_only_where_the_older_ones_are_not_is_labelled_a_new_default(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    older = launch(aws, "optional")
    run(invoke, state_repo)
    config = str(state_repo / "driftwatch.toml")
    assert invoke("-c", config, "approve", "--all", "--reason", "r", "--author", APPROVER).exit_code == 0
    newer = launch(aws, "required")
    found = {f["resource"].rsplit("/", 1)[1]: f for f in run(invoke, state_repo)}
    assert set(found) == {newer}  # the older one is an approved exception
    assert found[newer]["rule"] == "unapproved-resource"
    assert found[newer]["known_change"]["id"] == "aws-ec2-imds-account-defaults-2024"
    assert older not in found
