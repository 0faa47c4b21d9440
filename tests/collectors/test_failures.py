"""Failed AWS reads end to end: denied, throttled, unreachable or disabled-region reads are never state.

moto cannot answer AccessDenied, throttling or "region not enabled", so these tests put a
fault-injecting proxy (tests/support/aws_faults.py) between driftwatch and moto's server.
"""

from __future__ import annotations

import functools
import json
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from tests.conftest import CliResult, Invoke, write_config
from tests.support.aws_faults import Fault, FaultProxy, running_fault_proxy

ACCOUNT = "123456789012"  # moto's account
SNAP = f"snapshots/aws/{ACCOUNT}"
MANIFEST = "snapshots/manifest.json"
OWN_MANIFEST = f"{SNAP}/manifest.json"  # the account's own, beside the run's
BUCKET_SCOPE = f"aws/{ACCOUNT}/global/s3/bucket"
USER_SCOPE = f"aws/{ACCOUNT}/global/iam/user"
ACCOUNT_BLOCK_KEY = f"aws:{ACCOUNT}:global:s3/account-public-access-block/account"
ALL_ON = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
LOGS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "OwnAccount",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::example-logs/*",
        }
    ],
}
STORED_LOGS_POLICY = {  # LOGS_POLICY as snapshots/README.md says it is stored
    "Statement": [
        {
            "Action": ["s3:getobject"],
            "Effect": "Allow",
            "Principal": {"AWS": [ROOT]},
            "Resource": ["arn:aws:s3:::example-logs/*"],
            "Sid": "OwnAccount",
        }
    ],
    "Version": "2012-10-17",
}
EVERY_SERVICE = ("s3", "ec2", "iam")
APPROVER = "Alice Admin <alice@example.com>"


@dataclass(frozen=True)
class Account:
    """What the seeded moto account holds, and clients to change it behind driftwatch's back."""

    s3: Any
    iam: Any
    ec2: dict[str, Any]
    groups: dict[str, str]  # region -> id of the "app" security group
    endpoint: str

    def sg_path(self, region: str, group_id: str | None = None) -> str:
        return f"{SNAP}/{region}/ec2/security-group/{group_id or self.groups[region]}.json"

    def default_group(self, region: str) -> str:
        """The id of the group moto creates in every region's default VPC."""
        groups = client(self.endpoint, "ec2", region).describe_security_groups(GroupNames=["default"])
        return str(groups["SecurityGroups"][0]["GroupId"])


def bucket_path(name: str) -> str:
    return f"{SNAP}/global/s3/bucket/{name}.json"


def user_path(name: str) -> str:
    return f"{SNAP}/global/iam/user/{name}.json"


def region_scope(region: str) -> str:
    """The scope of a whole region of the account: how a region not enabled is reported."""
    return f"aws/{ACCOUNT}/{region}"


def sg_scope(region: str) -> str:
    return f"aws/{ACCOUNT}/{region}/ec2/security-group"


@functools.cache
def _session() -> boto3.session.Session:
    # One session for the whole module: loading the service models once keeps the tests fast.
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")


def client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    """A boto3 client talking to moto directly (not through the proxy)."""
    return _session().client(
        service, region_name=region, endpoint_url=endpoint, config=BotoConfig(s3={"addressing_style": "path"})
    )


def seed(endpoint: str, services: tuple[str, ...] = EVERY_SERVICE) -> Account:
    """Two buckets with every block flag on, an app security group per region, two IAM users."""
    s3, iam = client(endpoint, "s3"), client(endpoint, "iam")
    ec2: dict[str, Any] = {}
    groups: dict[str, str] = {}
    if "s3" in services:
        s3.create_bucket(Bucket="example-logs")
        s3.put_bucket_policy(Bucket="example-logs", Policy=json.dumps(LOGS_POLICY))
        s3.create_bucket(Bucket="example-data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_tagging(Bucket="example-data", Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
        for bucket in ("example-logs", "example-data"):
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=ALL_ON)
    if "ec2" in services:
        ec2 = {region: client(endpoint, "ec2", region) for region in ("us-east-1", "eu-west-1")}
        for region, regional in ec2.items():
            group = regional.create_security_group(GroupName="app", Description="app servers")["GroupId"]
            regional.create_tags(Resources=[group], Tags=[{"Key": "Name", "Value": "app"}])
            groups[region] = group
    if "iam" in services:
        iam.create_user(UserName="alice")
        iam.create_login_profile(UserName="alice", Password="Example-Passw0rd!")
        device = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]
        iam.enable_mfa_device(
            UserName="alice",
            SerialNumber=device["SerialNumber"],
            AuthenticationCode1="123456",
            AuthenticationCode2="654321",
        )
        iam.create_user(UserName="bob")
    return Account(s3, iam, ec2, groups, endpoint)


def configure(
    repo: Path,
    endpoint: str,
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1"),
    services: tuple[str, ...] = EVERY_SERVICE,
) -> Path:
    """The test config aimed at ``endpoint``, reading only ``services`` (fewer calls, faster tests)."""
    path = write_config(repo, endpoint, regions)
    listed = ", ".join(f'"{s}"' for s in services)
    path.write_text(
        re.sub(
            r"^services = \[.*\]$", f"services = [{listed}]", path.read_text(encoding="utf-8"), flags=re.M
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def proxy(aws: str) -> Iterator[FaultProxy]:
    with running_fault_proxy(aws) as running:
        yield running


@pytest.fixture
def account(aws: str) -> Account:
    return seed(aws)


@pytest.fixture
def config(state_repo: Path, proxy: FaultProxy) -> Path:
    """The state repository's config, aimed at moto through the proxy, every service."""
    return configure(state_repo, proxy.url)


def run(invoke: Invoke, config: Path) -> tuple[CliResult, dict[str, Any]]:
    result = invoke("-c", str(config), "run", "--format", "json")
    return result, json.loads(result.stdout) if result.stdout.strip() else {}


def approve_all(invoke: Invoke, config: Path) -> None:
    result = invoke("-c", str(config), "approve", "--all", "--reason", "x", "--author", APPROVER)
    assert result.exit_code == 0, result.stderr


NOT_ALERTS = ("--", ".", ":!alert-state.json")
"""Pathspec for what a run recorded of the account: everything but the alert state."""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def snapshot_files(repo: Path) -> dict[str, str]:
    """Every resource file under snapshots/ (the manifest left out) with its text."""
    return {
        p.relative_to(repo).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted((repo / "snapshots").rglob("*.json"))
        if p.name != "manifest.json"
    }


def read(repo: Path, path: str) -> Any:
    return json.loads((repo / path).read_text(encoding="utf-8"))


def kept(files: dict[str, str], scope: str) -> str:
    """The note a scope-level gap carries: how many files of the scope were kept, not deleted."""
    count = sum(1 for path in files if path.startswith(f"snapshots/{scope}/"))
    return f"; {count} resource(s) kept as last read, not deleted"


def gap(
    scope: str,
    api_call: str,
    kind: str,
    code: str,
    message: str,
    resource: str | None = None,
    field: str | None = None,
) -> dict[str, Any]:
    """A coverage gap as both the manifest and the JSON report write it."""
    return {
        "scope": scope,
        "api_call": api_call,
        "kind": kind,
        "code": code,
        "message": message,
        "resource": resource,
        "field": field,
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- case 18: denied is unknown, "not configured" is a state ---------------------------------------


def test_case_18a_denied_public_access_block_keeps_the_last_known_value(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    seed(aws, ("s3",))
    config = configure(state_repo, proxy.url, services=("s3",))
    first, _ = run(invoke, config)
    assert first.exit_code == 0, first.stderr
    approve_all(invoke, config)
    logs = bucket_path("example-logs")
    before = (state_repo / logs).read_text(encoding="utf-8")
    assert read(state_repo, logs)["config"]["PublicAccessBlock"] == ALL_ON
    head = git(state_repo, "rev-parse", "HEAD").strip()

    fault = proxy.add_fault(Fault("s3", "GetPublicAccessBlock", bucket="example-logs"))
    denied, report = run(invoke, config)

    expected_gap = gap(
        BUCKET_SCOPE,
        "s3.get_public_access_block",
        "denied",
        "AccessDenied",
        "Access Denied",
        "arn:aws:s3:::example-logs",
        "PublicAccessBlock",
    )
    assert denied.exit_code == 0, denied.stderr
    assert fault.hits == 1  # AccessDenied is not retried
    assert (state_repo / logs).read_text(encoding="utf-8") == before
    assert read(state_repo, MANIFEST)["gaps"] == [expected_gap]
    assert read(state_repo, MANIFEST)["scopes"][BUCKET_SCOPE] == "read"
    assert report["coverage_gaps"] == [expected_gap]
    assert report["findings"] == []  # no "block removed", no "became public", no drift
    assert report["resources_changed"] == 0
    assert (
        git(state_repo, "diff", "--name-status", head, "HEAD", *NOT_ALERTS)
        == f"M\t{OWN_MANIFEST}\nM\t{MANIFEST}\n"
    )
    message = git(state_repo, "log", "-1", "--format=%B", "--", "snapshots")  # HEAD: the alerts told
    assert (
        "! arn:aws:s3:::example-logs field PublicAccessBlock: s3.get_public_access_block failed "
        "(denied: AccessDenied) Access Denied\n"
    ) in message
    assert "Driftwatch-Changed: 0\nDriftwatch-Gaps: 1\n" in message
    checked = invoke("-c", str(config), "check", "--format", "json")  # the same verdict from the repository
    assert checked.exit_code == 0, checked.stderr
    assert json.loads(checked.stdout)["coverage_gaps"] == [expected_gap]
    assert json.loads(checked.stdout)["findings"] == []

    proxy.clear()
    restored, report = run(invoke, config)
    assert restored.exit_code == 0, restored.stderr
    assert report["findings"] == [] and report["coverage_gaps"] == [] and report["resources_changed"] == 0
    assert (state_repo / logs).read_text(encoding="utf-8") == before
    assert read(state_repo, MANIFEST)["gaps"] == []
    assert (
        # HEAD~2: the run's commit, then its alerts' delivery (the gap ended)
        git(state_repo, "diff", "--name-status", "HEAD~2", "HEAD", *NOT_ALERTS)
        == f"M\t{OWN_MANIFEST}\nM\t{MANIFEST}\n"
    )


def test_case_18b_removed_public_access_block_is_stored_as_null_and_reported(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    account = seed(aws, ("s3",))
    config = configure(state_repo, proxy.url, services=("s3",))
    assert run(invoke, config)[0].exit_code == 0
    approve_all(invoke, config)
    head = git(state_repo, "rev-parse", "HEAD").strip()
    account.s3.delete_public_access_block(Bucket="example-logs")

    result, report = run(invoke, config)

    logs = bucket_path("example-logs")
    assert result.exit_code == 2, result.stderr  # a high finding, [check] fail_on = "high"
    assert read(state_repo, logs)["config"]["PublicAccessBlock"] is None
    assert report["coverage_gaps"] == [] and read(state_repo, MANIFEST)["gaps"] == []
    assert [
        (f["rule"], f["severity"], f["resource"], f["against"], f["message"], f["changes"])
        for f in report["findings"]
    ] == [
        (
            "s3-public-access-block-weakened",
            "high",
            "arn:aws:s3:::example-logs",
            "baseline",
            "bucket example-logs Block Public Access removed (it had BlockPublicAcls, "
            "IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets on)",
            [{"path": "PublicAccessBlock", "before": ALL_ON, "after": None, "against": "baseline"}],
        )
    ]
    assert git(state_repo, "diff", "--name-status", head, "HEAD", *NOT_ALERTS) == f"M\t{logs}\n"
    assert (
        git(state_repo, "log", "-1", "--format=%s", "--", "snapshots")
        == "driftwatch: 1 changed, 0 added, 0 removed (s3 1)\n"
    )


# -- a listing that fails keeps every file of its scope --------------------------------------------


def test_denied_listings_keep_every_file_of_their_scope_while_other_scopes_update(
    invoke: Invoke, config: Path, state_repo: Path, proxy: FaultProxy, account: Account
) -> None:
    assert run(invoke, config)[0].exit_code == 0
    head, before = git(state_repo, "rev-parse", "HEAD").strip(), snapshot_files(state_repo)
    assert sorted(p for p in before if "/s3/bucket/" in p) == [
        bucket_path("example-data"),
        bucket_path("example-logs"),
    ]
    assert sorted(p for p in before if "/iam/user/" in p) == [user_path("alice"), user_path("bob")]
    assert sorted(p for p in before if "/eu-west-1/" in p) == sorted(
        [account.sg_path("eu-west-1"), account.sg_path("eu-west-1", account.default_group("eu-west-1"))]
    )
    alice = read(state_repo, user_path("alice"))["config"]
    assert alice["LoginProfile"] == {"PasswordResetRequired": False}
    assert alice["MFADevices"] == [f"arn:aws:iam::{ACCOUNT}:mfa/alice"]
    # Deleted for real, but unseen: the listings that would show it are denied.
    account.s3.delete_bucket_policy(Bucket="example-logs")
    account.s3.delete_bucket(Bucket="example-logs")
    account.ec2["eu-west-1"].delete_security_group(GroupId=account.groups["eu-west-1"])
    account.iam.delete_user(UserName="bob")
    account.ec2["us-east-1"].create_tags(
        Resources=[account.groups["us-east-1"]], Tags=[{"Key": "Name", "Value": "app-v2"}]
    )
    faults = [
        proxy.add_fault(Fault("s3", "ListBuckets")),
        proxy.add_fault(
            Fault(
                "ec2",
                "DescribeSecurityGroups",
                code="UnauthorizedOperation",
                message="You are not authorized to perform this operation.",
                region="eu-west-1",
            )
        ),
        proxy.add_fault(
            Fault("iam", "ListUsers", message="User is not authorized to perform: iam:ListUsers")
        ),
    ]

    result, report = run(invoke, config)

    expected = sorted(
        [
            gap(
                BUCKET_SCOPE,
                "s3.list_buckets",
                "denied",
                "AccessDenied",
                "Access Denied" + kept(before, BUCKET_SCOPE),
            ),
            gap(
                sg_scope("eu-west-1"),
                "ec2.describe_security_groups",
                "denied",
                "UnauthorizedOperation",
                "You are not authorized to perform this operation." + kept(before, sg_scope("eu-west-1")),
            ),
            gap(
                USER_SCOPE,
                "iam.list_users",
                "denied",
                "AccessDenied",
                "User is not authorized to perform: iam:ListUsers" + kept(before, USER_SCOPE),
            ),
        ],
        key=json.dumps,
    )
    assert result.exit_code == 0, result.stderr
    assert [f.hits for f in faults] == [1, 1, 1]  # denials are not retried
    after = snapshot_files(state_repo)
    assert after == {**before, account.sg_path("us-east-1"): after[account.sg_path("us-east-1")]}
    assert read(state_repo, account.sg_path("us-east-1"))["config"]["Tags"] == {"Name": "app-v2"}
    manifest = read(state_repo, MANIFEST)
    assert {
        scope: manifest["scopes"][scope]
        for scope in (BUCKET_SCOPE, USER_SCOPE, sg_scope("eu-west-1"), sg_scope("us-east-1"))
    } == {
        BUCKET_SCOPE: "not read: denied (AccessDenied)",
        USER_SCOPE: "not read: denied (AccessDenied)",
        sg_scope("eu-west-1"): "not read: denied (UnauthorizedOperation)",
        sg_scope("us-east-1"): "read",
    }
    assert manifest["gaps"] == expected
    assert sorted(report["coverage_gaps"], key=json.dumps) == expected
    assert all(c["path"] != "" for f in report["findings"] for c in f["changes"])  # nothing "deleted"
    assert (
        git(state_repo, "diff", "--name-status", head, "HEAD", *NOT_ALERTS)
        == f"M\t{OWN_MANIFEST}\nM\t{account.sg_path('us-east-1')}\nM\t{MANIFEST}\n"
    )
    assert (
        git(state_repo, "log", "-1", "--format=%s", "--", "snapshots")
        == "driftwatch: 1 changed, 0 added, 0 removed (ec2 1)\n"
    )


# -- throttling --------------------------------------------------------------------------------------


def test_throttling_retried_once_is_clean_and_persistent_throttling_is_a_gap(
    invoke: Invoke, config: Path, state_repo: Path, proxy: FaultProxy, account: Account
) -> None:
    once = [
        proxy.add_fault(
            Fault(
                "ec2",
                "DescribeSecurityGroups",
                code="RequestLimitExceeded",
                status=503,
                message="Request limit exceeded.",
                region="us-east-1",
                times=1,
            )
        ),
        proxy.add_fault(
            Fault(
                "s3",
                "GetBucketPolicy",
                code="SlowDown",
                status=503,
                times=1,
                message="Please reduce your request rate.",
                bucket="example-logs",
            )
        ),
    ]

    result, report = run(invoke, config)

    assert result.exit_code == 0, result.stderr
    assert [f.hits for f in once] == [1, 1]
    assert [c.status for c in proxy.calls("DescribeSecurityGroups") if c.region == "us-east-1"] == [503, 200]
    assert [c.status for c in proxy.calls("GetBucketPolicy") if c.bucket == "example-logs"] == [503, 200]
    assert report["coverage_gaps"] == [] and read(state_repo, MANIFEST)["gaps"] == []
    assert read(state_repo, bucket_path("example-logs"))["config"]["Policy"] == STORED_LOGS_POLICY
    assert read(state_repo, account.sg_path("us-east-1"))["config"]["Tags"] == {"Name": "app"}

    proxy.clear()
    before = snapshot_files(state_repo)
    changed_policy = {**LOGS_POLICY, "Statement": [{**LOGS_POLICY["Statement"][0], "Sid": "Changed"}]}
    account.s3.put_bucket_policy(Bucket="example-logs", Policy=json.dumps(changed_policy))  # unseen
    slow = proxy.add_fault(
        Fault(
            "s3",
            "GetBucketPolicy",
            code="SlowDown",
            status=503,
            message="Please reduce your request rate.",
            bucket="example-logs",
        )
    )
    throttled = proxy.add_fault(
        Fault("iam", "ListUsers", code="Throttling", status=400, message="Rate exceeded")
    )

    result, report = run(invoke, config)

    expected = sorted(
        [
            gap(
                BUCKET_SCOPE,
                "s3.get_bucket_policy",
                "throttled",
                "SlowDown",
                "Please reduce your request rate.",
                "arn:aws:s3:::example-logs",
                "Policy",
            ),
            gap(
                USER_SCOPE,
                "iam.list_users",
                "throttled",
                "Throttling",
                "Rate exceeded" + kept(before, USER_SCOPE),
            ),
        ],
        key=json.dumps,
    )
    assert result.exit_code == 0, result.stderr
    assert snapshot_files(state_repo) == before
    assert read(state_repo, bucket_path("example-logs"))["config"]["Policy"] == STORED_LOGS_POLICY
    manifest = read(state_repo, MANIFEST)
    assert manifest["gaps"] == expected
    assert manifest["scopes"][USER_SCOPE] == "not read: throttled (Throttling)"
    assert sorted(report["coverage_gaps"], key=json.dumps) == expected
    # `max_attempts = 2` in [aws] (the test config) means two attempts in all, as AWS's own
    # `max_attempts` setting and AWS_MAX_ATTEMPTS do.
    assert (slow.hits, throttled.hits) == (2, 2)


# -- case 19: regions not enabled, credentials rejected ----------------------------------------------


def test_case_19_a_region_not_enabled_is_skipped_and_rejected_credentials_elsewhere_fail_the_run(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    account = seed(aws, ("ec2",))
    config = configure(state_repo, proxy.url, ("us-east-1", "ap-east-1"), services=("ec2",))
    # A first run that could not ask which regions are enabled read ap-east-1 (moto answers there).
    proxy.add_fault(
        Fault(
            "ec2",
            "DescribeRegions",
            code="UnauthorizedOperation",
            message="You are not authorized to perform this operation.",
        )
    )
    assert run(invoke, config)[0].exit_code == 0
    hk = {p: t for p, t in snapshot_files(state_repo).items() if "/ap-east-1/" in p}
    assert list(hk) == [account.sg_path("ap-east-1", account.default_group("ap-east-1"))]
    head = git(state_repo, "rev-parse", "HEAD").strip()
    proxy.clear()

    result, report = run(invoke, config)

    expected_gap = gap(
        region_scope("ap-east-1"),
        "ec2.describe_regions",
        "region-disabled",
        "NotOptedIn",
        f"region ap-east-1 is not enabled for account {ACCOUNT}; skipped; "
        "1 resource(s) kept as last read, not deleted",  # one event, not N deletions (case 19)
    )
    assert result.exit_code == 0, result.stderr
    assert [c.region for c in proxy.calls("DescribeSecurityGroups")] == ["us-east-1"]
    assert {p: t for p, t in snapshot_files(state_repo).items() if "/ap-east-1/" in p} == hk
    assert report["coverage_gaps"] == [expected_gap]
    manifest = read(state_repo, MANIFEST)
    assert manifest["gaps"] == [expected_gap]
    assert manifest["scopes"][sg_scope("us-east-1")] == "read"
    # Its exact wording is test_case_19_manifest_says_skipped_for_a_region_not_enabled's subject.
    assert manifest["scopes"][region_scope("ap-east-1")].startswith(("skipped", "not read"))
    assert (
        git(state_repo, "diff", "--name-status", head, "HEAD", *NOT_ALERTS)
        == f"A\tlast-verified.json\nM\t{OWN_MANIFEST}\nM\t{MANIFEST}\n"
    )  # now a complete read

    # The same error in an enabled region is a real credential problem: the run fails, nothing is written.
    head, before = git(state_repo, "rev-parse", "HEAD"), snapshot_files(state_repo)
    manifest_text = (state_repo / MANIFEST).read_text(encoding="utf-8")
    proxy.add_fault(
        Fault(
            "ec2",
            "DescribeSecurityGroups",
            code="UnrecognizedClientException",
            status=400,
            message="The security token included in the request is invalid.",
            region="us-east-1",
        )
    )

    result, report = run(invoke, config)

    assert result.exit_code == 1
    assert report == {}
    assert result.stderr == (
        "driftwatch: ec2.describe_security_groups in us-east-1: AWS rejected the credentials "
        "(UnrecognizedClientException: The security token included in the request is invalid.). "
        "Check the profile or environment credentials driftwatch runs with.\n"
    )
    assert git(state_repo, "rev-parse", "HEAD") == head
    assert snapshot_files(state_repo) == before
    assert (state_repo / MANIFEST).read_text(encoding="utf-8") == manifest_text
    assert git(state_repo, "status", "--porcelain", "--", "snapshots") == ""


def test_case_19_every_region_means_those_enabled_and_one_no_longer_enabled_is_one_event(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    account = seed(aws, ("ec2",))
    # A first run that could not ask which regions are enabled read ap-east-1 (moto answers there).
    config = configure(state_repo, proxy.url, ("us-east-1", "ap-east-1"), services=("ec2",))
    proxy.add_fault(Fault("ec2", "DescribeRegions", code="UnauthorizedOperation", message="not authorized"))
    assert run(invoke, config)[0].exit_code == 0
    hk = {p: t for p, t in snapshot_files(state_repo).items() if "/ap-east-1/" in p}
    assert list(hk) == [account.sg_path("ap-east-1", account.default_group("ap-east-1"))]
    proxy.clear()

    config = configure(state_repo, proxy.url, ("*",), services=("ec2",))
    result, report = run(invoke, config)

    regions = boto3.client("ec2", region_name="us-east-1", endpoint_url=aws).describe_regions(AllRegions=True)
    enabled = {r["RegionName"] for r in regions["Regions"] if r["OptInStatus"] != "not-opted-in"}
    assert "ap-east-1" not in enabled and len(enabled) > 10
    assert result.exit_code == 0, result.stderr
    assert {c.region for c in proxy.calls("DescribeSecurityGroups")} == enabled  # from the account
    assert {p: t for p, t in snapshot_files(state_repo).items() if "/ap-east-1/" in p} == hk
    assert report["coverage_gaps"] == [
        gap(
            region_scope("ap-east-1"),
            "ec2.describe_regions",
            "region-disabled",
            "NotOptedIn",
            f"region ap-east-1 is no longer enabled for account {ACCOUNT}; 1 resource(s) unreachable, "
            "kept as last read, not deleted",
        )
    ]  # and no gap for the other regions not enabled: "every region" does not ask for them


def test_case_19_manifest_says_skipped_for_a_region_not_enabled(
    invoke: Invoke, state_repo: Path, proxy: FaultProxy
) -> None:
    config = configure(state_repo, proxy.url, ("us-east-1", "ap-east-1"), services=("ec2",))

    result, _ = run(invoke, config)

    assert result.exit_code == 0, result.stderr
    # The value snapshots/README.md documents for this scope ("manifest.json" section).
    assert read(state_repo, MANIFEST)["scopes"][region_scope("ap-east-1")] == "skipped: region not enabled"


def test_case_19_rejected_credentials_in_a_region_of_unknown_status_skip_only_that_region(
    invoke: Invoke, state_repo: Path, proxy: FaultProxy
) -> None:
    """DescribeRegions is denied, and ap-east-1 answers as EC2 does in a region not enabled.

    STS and us-east-1 accepted the same credentials, so the credentials are fine: the region
    must be skipped as probably not enabled (case 19), not abort the whole run.
    """
    config = configure(state_repo, proxy.url, ("us-east-1", "ap-east-1"), services=("ec2",))
    proxy.add_fault(
        Fault(
            "ec2",
            "DescribeRegions",
            code="UnauthorizedOperation",
            message="You are not authorized to perform this operation.",
        )
    )
    proxy.add_fault(
        Fault(
            "ec2",
            "DescribeSecurityGroups",
            code="AuthFailure",
            status=401,
            region="ap-east-1",
            message="AWS was not able to validate the provided access credentials",
        )
    )

    result, report = run(invoke, config)

    assert result.exit_code == 0, result.stderr
    assert read(state_repo, MANIFEST)["scopes"][sg_scope("us-east-1")] == "read"
    assert [
        (g["kind"], g["code"]) for g in report["coverage_gaps"] if g["scope"] == sg_scope("ap-east-1")
    ] == [("region-disabled", "AuthFailure")]


# -- case 4, variant C: the account-level block cannot be read ---------------------------------------


def test_case_4c_denied_account_block_makes_a_public_acl_unknown_not_private(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    config = configure(state_repo, proxy.url, services=("s3",))
    s3 = seed(aws, ("s3",)).s3
    s3.create_bucket(Bucket="example-legacy")
    s3.put_bucket_acl(Bucket="example-legacy", ACL="public-read")
    s3.put_bucket_policy(
        Bucket="example-legacy",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::example-legacy/*",
                    }
                ],
            }
        ),
    )
    s3.put_public_access_block(
        Bucket="example-legacy",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False,
        },
    )
    proxy.add_fault(Fault("s3control", "GetPublicAccessBlock"))

    result, report = run(invoke, config)

    assert result.exit_code == 0, result.stderr
    assert [f for f in report["findings"] if f["rule"] == "s3-bucket-public"] == []
    assert report["coverage_gaps"] == [
        gap(
            f"aws/{ACCOUNT}/global/s3/account-public-access-block",
            "s3control.get_public_access_block",
            "denied",
            "AccessDenied",
            "Access Denied",
            ACCOUNT_BLOCK_KEY,
            "PublicAccessBlock",
        )
    ]
    assert not (state_repo / f"{SNAP}/global/s3/account-public-access-block/account.json").exists()
    legacy = read(state_repo, bucket_path("example-legacy"))["config"]
    assert legacy["PublicAccessBlock"]["IgnorePublicAcls"] is False
    assert {
        "Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
        "Permission": "READ",
    } in legacy["Acl"]["Grants"]

    # Once the account-level block can be read (none configured), the same bucket is public.
    proxy.clear()
    result, report = run(invoke, config)
    assert result.exit_code == 2
    assert [
        (f["rule"], f["severity"], f["resource"], f["message"])
        for f in report["findings"]
        if f["rule"] == "s3-bucket-public"
    ] == [
        (
            "s3-bucket-public",
            "critical",
            "arn:aws:s3:::example-legacy",
            "bucket example-legacy is public (read): ACL grants READ to AllUsers (anyone on the "
            "internet); a policy statement allows s3:getobject to everyone",
        )
    ]


# -- the endpoint is down ----------------------------------------------------------------------------


def test_endpoint_down_or_dropping_connections_never_deletes_or_rewrites_history(
    invoke: Invoke, config: Path, state_repo: Path, proxy: FaultProxy, account: Account
) -> None:
    assert run(invoke, config)[0].exit_code == 0
    head, before = git(state_repo, "rev-parse", "HEAD").strip(), snapshot_files(state_repo)
    manifest = (state_repo / MANIFEST).read_text(encoding="utf-8")
    account.s3.delete_bucket_policy(Bucket="example-logs")
    account.s3.delete_bucket(Bucket="example-logs")
    good_config = config.read_text(encoding="utf-8")
    port = closed_port()
    config.write_text(
        good_config.replace(proxy.url, f"http://127.0.0.1:{port}").replace(
            "connect_timeout = 10.0", "connect_timeout = 1.0"
        ),
        encoding="utf-8",
    )

    result, report = run(invoke, config)

    assert result.exit_code == 1 and report == {}
    assert result.stderr == (
        "driftwatch: sts.get_caller_identity failed, so the account is unknown: Could "
        f'not connect to the endpoint URL: "http://127.0.0.1:{port}/"\n'
    )
    assert git(state_repo, "rev-parse", "HEAD").strip() == head
    assert snapshot_files(state_repo) == before
    assert (state_repo / MANIFEST).read_text(encoding="utf-8") == manifest

    # The endpoint accepts connections and closes them without an answer.
    config.write_text(good_config, encoding="utf-8")
    proxy.down = True
    result, report = run(invoke, config)
    assert result.exit_code == 1 and report == {}
    assert result.stderr.startswith(
        "driftwatch: sts.get_caller_identity failed, so the account is unknown: "
        "Connection was closed before we received a valid response"
    )
    assert git(state_repo, "rev-parse", "HEAD").strip() == head
    assert snapshot_files(state_repo) == before

    # It answers STS, then drops every other connection.
    proxy.clear()
    for service in ("s3", "s3control", "iam", "ec2"):
        proxy.add_fault(Fault(service, "*", disconnect=True))

    result, report = run(invoke, config)

    assert result.exit_code == 0, result.stderr
    assert snapshot_files(state_repo) == before  # example-logs is gone, but was not seen to go
    assert git(state_repo, "rev-parse", "HEAD~2").strip() == head  # history only grows: a run, its alerts
    assert (
        git(state_repo, "diff", "--name-status", head, "HEAD", *NOT_ALERTS)
        == f"M\t{OWN_MANIFEST}\nM\t{MANIFEST}\n"
    )
    scopes = read(state_repo, MANIFEST)["scopes"]
    assert "read" not in scopes.values()
    assert all(
        scopes[s].startswith("not read: ")
        for s in (BUCKET_SCOPE, USER_SCOPE, sg_scope("us-east-1"), sg_scope("eu-west-1"))
    )
    assert ("s3.list_buckets", None) in [(g["api_call"], g["resource"]) for g in report["coverage_gaps"]]
    # A connection closed without an answer is the endpoint being unreachable, not an API error.
    assert {g["kind"] for g in report["coverage_gaps"]} == {"unreachable"}


def test_case_19_a_region_not_enabled_listed_first_does_not_fail_the_run(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    seed(aws, ("ec2",))
    config = configure(state_repo, proxy.url, ("ap-east-1", "us-east-1"), services=("ec2",))
    for service, code in (("sts", "InvalidClientTokenId"), ("ec2", "AuthFailure")):
        message = "The security token included in the request is invalid."
        proxy.add_fault(Fault(service, "*", code=code, status=403, message=message, region="ap-east-1"))

    result, report = run(invoke, config)

    assert result.exit_code == 0, result.stderr
    assert [(g["kind"], g["scope"]) for g in report["coverage_gaps"]] == [
        ("region-disabled", region_scope("ap-east-1"))
    ]
    assert [c.region for c in proxy.calls("GetCallerIdentity")] == ["us-east-1"]
    assert read(state_repo, MANIFEST)["scopes"][sg_scope("us-east-1")] == "read"


# -- a listing that fails on a later page; bounded concurrency; botocore's retry mode --------------


def test_a_listing_refused_on_its_second_page_keeps_every_resource_and_is_one_gap(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=aws)
    for i in range(105):  # moto answers ListTopics 100 at a time
        sns.create_topic(Name=f"events-{i:03}")
    config = configure(state_repo, proxy.url, ("us-east-1",), services=("sns",))
    assert run(invoke, config)[0].exit_code == 0
    before = snapshot_files(state_repo)
    assert sum("/sns/topic/" in p for p in before) == 105
    sns.delete_topic(TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:events-000")  # really gone, but unseen
    page_two = proxy.add_fault(
        Fault(
            "sns",
            "ListTopics",
            code="Throttling",
            status=400,
            message="Rate exceeded",
            params={"NextToken": None},
        )
    )

    result, report = run(invoke, config)

    assert result.exit_code == 0, result.stderr
    assert page_two.hits == 2
    # Run 1 read two pages; run 2 read the first, and the second was refused at both attempts.
    assert [c.status for c in proxy.calls("ListTopics")] == [200, 200, 200, 400, 400]
    assert snapshot_files(state_repo) == before  # a partial listing deletes nothing
    assert [(g["scope"], g["kind"], g["code"]) for g in report["coverage_gaps"]] == [
        (f"aws/{ACCOUNT}/us-east-1/sns/topic", "throttled", "Throttling")
    ]


def test_reads_run_concurrently_within_the_bound_of_max_workers(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws)
    for i in range(8):
        s3.create_bucket(Bucket=f"data-{i}")
    config = configure(state_repo, proxy.url, ("us-east-1", "eu-west-1"), services=("s3", "sqs", "sns"))
    config.write_text(config.read_text().replace("max_workers = 8", "max_workers = 2"))
    proxy.delay = 0.05

    assert run(invoke, config)[0].exit_code == 0

    # Two units (service, region) at a time, each with two per-resource reads at a time.
    assert 2 <= proxy.most_at_once <= 4


def test_the_shipped_config_uses_botocores_adaptive_retry(tmp_path: Path) -> None:
    from driftwatch.collectors.aws.context import AwsContext, make_session
    from driftwatch.config import load_config
    from driftwatch.defaults import default_text

    path = tmp_path / "driftwatch.toml"
    path.write_text(default_text("config.example.toml"), encoding="utf-8")
    settings = load_config(path).aws
    client = AwsContext(settings, make_session(settings), None).client("s3", "us-east-1")  # type: ignore[arg-type]
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 8}
