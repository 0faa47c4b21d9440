"""The AWS collector and the whole pipeline against moto's server: exact stored documents and findings.

Covers the canonical shapes of snapshots/README.md and, end to end, aws-semantics.md cases 5, 6, 8,
10, 11, 13, 15 and 21. Every AWS call goes to moto's HTTP server (the ``aws`` fixture).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config

from driftwatch import __version__
from driftwatch.collectors.aws import AwsCollector
from driftwatch.collectors.aws.context import keep_requests_on_endpoint
from driftwatch.collectors.aws.ec2 import security_group_config
from driftwatch.config import load_config
from driftwatch.model import Resource, ResourceId
from driftwatch.normalise import Redactor, file_text, normalise_resource
from tests.conftest import managed_policies

ACCOUNT = "123456789012"  # moto's account
REGIONS = ("us-east-1", "eu-west-1")  # what the state_repo fixture's config reads
REGIONAL_TYPES = (
    "ec2/security-group",
    "ec2/instance",
    "cloudtrail/trail",
    "kms/key",
    "rds/db-instance",
    "rds/db-cluster",
)
REDACTION_KEY = b"test-redaction-key"  # DRIFTWATCH_REDACTION_KEY in conftest's TEST_ENV
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
APPROVER = "Sec Admin <sec@example.com>"

WEB_POLICY = {  # a single statement object, a scalar action in odd case, Principal "*"
    "Version": "2012-10-17",
    "Statement": {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "S3:GetObject",
        "Resource": "arn:aws:s3:::example-web/*",
    },
}
REPORTS_V1 = {  # case 13, as first put
    "Version": "2012-10-17",
    "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-reports/*"},
}
REPORTS_V2 = {  # case 13, the same policy re-put in another spelling
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["S3:getobject"], "Resource": ["arn:aws:s3:::example-reports/*"]}
    ],
}
REPORTS_CANONICAL = {
    "Statement": [
        {"Action": ["s3:getobject"], "Effect": "Allow", "Resource": ["arn:aws:s3:::example-reports/*"]}
    ],
    "Version": "2012-10-17",
}


# -- clients, seeding and reading the state repository ----------------------------------------------


@dataclass(frozen=True)
class Clients:
    """boto3 clients aimed at moto's server."""

    endpoint: str
    s3: Any
    s3control: Any
    iam: Any
    ec2: dict[str, Any]


@pytest.fixture
def clients(aws: str) -> Clients:
    def client(service: str, region: str = "us-east-1", **extra: Any) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=aws, **extra)

    s3control = client("s3control")
    keep_requests_on_endpoint(s3control, aws)
    return Clients(
        aws,
        client("s3", config=Config(s3={"addressing_style": "path"})),
        s3control,
        client("iam"),
        {region: client("ec2", region) for region in REGIONS},
    )


def grant_to(grantee: dict[str, str], permission: str) -> dict[str, Any]:
    return {"Grantee": grantee, "Permission": permission}


def group(uri: str) -> dict[str, str]:
    return {"Type": "Group", "URI": uri}


def owner_id(c: Clients, bucket: str) -> str:
    return str(c.s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"])


def put_grants(c: Clients, bucket: str, *grants: dict[str, Any]) -> str:
    """Replace the bucket's ACL by the owner's FULL_CONTROL plus ``grants``; return the owner id."""
    owner = owner_id(c, bucket)
    me = {"Type": "CanonicalUser", "ID": owner, "DisplayName": "webfile"}
    c.s3.put_bucket_acl(
        Bucket=bucket,
        AccessControlPolicy={
            "Owner": {"ID": owner, "DisplayName": "webfile"},
            "Grants": [grant_to(me, "FULL_CONTROL"), *grants],
        },
    )
    return owner


def create_bucket(c: Clients, name: str, region: str = "us-east-1") -> None:
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    c.s3.create_bucket(Bucket=name, **extra)


def new_vpc(c: Clients, region: str = "us-east-1") -> str:
    return str(c.ec2[region].create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"])


def new_group(c: Clients, name: str, vpc: str, region: str = "us-east-1", description: str = "") -> str:
    answer = c.ec2[region].create_security_group(GroupName=name, Description=description or name, VpcId=vpc)
    return str(answer["GroupId"])


def tcp(port: int, *cidrs: str, to_port: int | None = None) -> dict[str, Any]:
    """One IpPermissions entry for a TCP port from IPv4 and IPv6 CIDRs."""
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": to_port or port,
        "IpRanges": [{"CidrIp": c} for c in cidrs if ":" not in c],
        "Ipv6Ranges": [{"CidrIpv6": c} for c in cidrs if ":" in c],
    }


def config_file(repo: Path) -> str:
    return str(repo / "driftwatch.toml")


def run_json(invoke: Any, repo: Path) -> dict[str, Any]:
    """``driftwatch run --format json``: the parsed report (exit 0 or 2, no coverage gap)."""
    result = invoke("-c", config_file(repo), "run", "--format", "json")
    assert result.exit_code in (0, 2), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["coverage_gaps"] == [], report["coverage_gaps"]
    return report


def approve_all(invoke: Any, repo: Path) -> None:
    result = invoke("-c", config_file(repo), "approve", "--all", "--reason", "reviewed", "--author", APPROVER)
    assert result.exit_code == 0, result.stderr


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def commit_count(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD"))


def snapshot_file(repo: Path, type_: str, id_: str, region: str = "global") -> Path:
    return repo / "snapshots" / "aws" / ACCOUNT / region / type_ / f"{quote(id_, safe='-_.')}.json"


def stored(repo: Path, type_: str, id_: str, region: str = "global") -> dict[str, Any]:
    """A stored resource document, checked to be in canonical file form."""
    text = snapshot_file(repo, type_, id_, region).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    assert text == file_text(document), "not canonical: sorted keys, two-space indent, final newline"
    return document


def findings_for(report: dict[str, Any], resource: str, rule: str | None = None) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["resource"] == resource and rule in (None, f["rule"])]


def sg_arn(group_id: str, region: str = "us-east-1") -> str:
    return f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/{group_id}"


def redacted(value: str, key: bytes = REDACTION_KEY) -> str:
    return f"[redacted hmac-sha256:{hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]}]"


# -- the seeded account of the shape tests -----------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """Ids that moto chose while seeding."""

    owner: str
    vpc: str
    app: str
    bastion: str
    alice_key: dict[str, Any]
    svc_key: dict[str, Any]


def seed_account(c: Clients) -> Seeded:
    """Buckets with every sub-resource set or unset, a bastion group, two users, no password policy."""
    create_bucket(c, "example-logs", "eu-west-1")
    owner = put_grants(
        c, "example-logs", grant_to(group(LOG_DELIVERY), "WRITE"), grant_to(group(LOG_DELIVERY), "READ_ACP")
    )
    create_bucket(c, "example-web", "eu-west-1")
    c.s3.put_bucket_policy(Bucket="example-web", Policy=json.dumps(WEB_POLICY))
    c.s3.put_public_access_block(
        Bucket="example-web",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    c.s3.put_bucket_ownership_controls(
        Bucket="example-web", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    c.s3.put_bucket_encryption(
        Bucket="example-web",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}
            ]
        },
    )
    c.s3.put_bucket_versioning(Bucket="example-web", VersioningConfiguration={"Status": "Enabled"})
    c.s3.put_bucket_logging(
        Bucket="example-web",
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "example-logs", "TargetPrefix": "web/"}},
    )
    c.s3.put_bucket_website(
        Bucket="example-web", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
    )
    c.s3.put_bucket_tagging(
        Bucket="example-web",
        Tagging={"TagSet": [{"Key": "team", "Value": "web"}, {"Key": "cost-centre", "Value": "42"}]},
    )
    create_bucket(c, "example-plain")  # us-east-1, nothing configured

    ec2 = c.ec2["eu-west-1"]
    vpc = new_vpc(c, "eu-west-1")
    app = new_group(c, "app", vpc, "eu-west-1", "app servers")
    bastion = new_group(c, "bastion", vpc, "eu-west-1", "bastion hosts")
    ec2.create_tags(Resources=[bastion], Tags=[{"Key": "Name", "Value": "bastion"}])
    ec2.authorize_security_group_ingress(
        GroupId=bastion,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "office"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
            tcp(443, "2001:db8:1234::/48"),
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": app, "Description": "app servers"}],
            },
            {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
            {"IpProtocol": "udp", "FromPort": 1024, "ToPort": 65535, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ],
    )

    iam = c.iam
    iam.create_user(UserName="alice", Path="/people/", Tags=[{"Key": "team", "Value": "platform"}])
    iam.create_login_profile(UserName="alice", Password="Example-Passw0rd!")
    iam.update_login_profile(UserName="alice", Password="Example-Passw0rd!", PasswordResetRequired=True)
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(
        UserName="alice", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    alice_key = iam.create_access_key(UserName="alice")["AccessKey"]
    iam.attach_user_policy(UserName="alice", PolicyArn=READ_ONLY)
    iam.create_group(GroupName="admins")
    iam.add_user_to_group(GroupName="admins", UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="reports", PolicyDocument=json.dumps(REPORTS_V1))
    iam.create_user(UserName="svc-deploy")
    svc_key = iam.create_access_key(UserName="svc-deploy")["AccessKey"]
    return Seeded(owner, vpc, app, bastion, alice_key, svc_key)


def key_entry(key: dict[str, Any], status: str = "Active") -> dict[str, Any]:
    return {"AccessKeyId": key["AccessKeyId"], "CreateDate": key["CreateDate"].isoformat(), "Status": status}


def owner_acl(owner: str, *grants: dict[str, Any]) -> dict[str, Any]:
    """The canonical ``Acl``: grants without DisplayName, sorted as canonical JSON text."""
    all_grants = [grant_to({"ID": owner, "Type": "CanonicalUser"}, "FULL_CONTROL"), *grants]
    return {
        "Grants": sorted(all_grants, key=lambda g: json.dumps(g, sort_keys=True, separators=(",", ":"))),
        "Owner": {"ID": owner},
    }


# -- the collector, then the stored documents after a real run -----------------------------------------


def test_collect_then_store_seeded_account(clients: Clients, state_repo: Path, invoke: Any) -> None:
    with managed_policies(clients.iam.meta.endpoint_url):  # alice has an AWS managed policy
        seeded = seed_account(clients)

    collection = AwsCollector(load_config(state_repo / "driftwatch.toml").aws).collect()

    assert collection.gaps == ()
    assert {(s.region, s.type) for s in collection.scopes_read} == {
        ("global", "s3/bucket"),
        ("global", "s3/account-public-access-block"),
        ("global", "iam/user"),
        ("global", "iam/password-policy"),
        ("global", "iam/account-summary"),
        ("global", "iam/role"),
        ("global", "iam/group"),
        ("global", "iam/policy"),
        *((region, type_) for region in REGIONS for type_ in REGIONAL_TYPES),
    }
    assert all(not r.unreadable for r in collection.resources)
    by_key = {r.identity.key: r for r in collection.resources}
    web = by_key["arn:aws:s3:::example-web"]
    assert web.identity == ResourceId(
        "aws", ACCOUNT, "global", "s3/bucket", "example-web", "arn:aws:s3:::example-web"
    )
    bastion_arn = sg_arn(seeded.bastion, "eu-west-1")
    assert by_key[bastion_arn].identity == ResourceId(
        "aws", ACCOUNT, "eu-west-1", "ec2/security-group", seeded.bastion, bastion_arn
    )
    alice = by_key[f"arn:aws:iam::{ACCOUNT}:user/people/alice"]
    assert alice.identity == ResourceId(
        "aws", ACCOUNT, "global", "iam/user", "alice", f"arn:aws:iam::{ACCOUNT}:user/people/alice"
    )
    for kind in ("s3/account-public-access-block", "iam/password-policy", "iam/account-summary"):
        assert by_key[f"aws:{ACCOUNT}:global:{kind}/account"].identity == ResourceId(
            "aws", ACCOUNT, "global", kind, "account"
        )
    # Raw-ish: the policy is still the JSON text AWS returned, the dates are datetimes.
    assert web.config["Policy"] == json.dumps(WEB_POLICY)
    assert web.config["Acl"] == {
        "Owner": {"ID": seeded.owner},
        "Grants": [grant_to({"ID": seeded.owner, "Type": "CanonicalUser"}, "FULL_CONTROL")],
    }
    assert web.config["Tags"] == {"team": "web", "cost-centre": "42"}
    assert by_key["arn:aws:s3:::example-plain"].config["Versioning"] == {}
    assert by_key[f"aws:{ACCOUNT}:global:s3/account-public-access-block/account"].config == {
        "PublicAccessBlock": None
    }
    assert by_key[f"aws:{ACCOUNT}:global:iam/password-policy/account"].config == {"PasswordPolicy": None}
    assert alice.config["InlinePolicies"] == {"reports": REPORTS_V1}
    assert alice.config["AccessKeys"] == [
        {
            "AccessKeyId": seeded.alice_key["AccessKeyId"],
            "CreateDate": seeded.alice_key["CreateDate"],
            "Status": "Active",
        }
    ]
    assert normalise_resource(web, Redactor(REDACTION_KEY)).config["Policy"] == {
        "Statement": [
            {
                "Action": ["s3:getobject"],
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Resource": ["arn:aws:s3:::example-web/*"],
                "Sid": "PublicRead",
            }
        ],
        "Version": "2012-10-17",
    }

    clients.s3control.put_public_access_block(
        AccountId=ACCOUNT,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False,
        },
    )
    clients.iam.update_account_password_policy(
        MinimumPasswordLength=14,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        MaxPasswordAge=90,
        PasswordReusePrevention=24,
    )
    run_json(invoke, state_repo)

    assert stored(state_repo, "s3/bucket", "example-web") == {
        "identity": {
            "account": ACCOUNT,
            "arn": "arn:aws:s3:::example-web",
            "id": "example-web",
            "provider": "aws",
            "region": "global",
            "type": "s3/bucket",
        },
        "config": {
            "Acl": owner_acl(seeded.owner),
            "Encryption": {
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                        "BucketKeyEnabled": False,
                    }
                ]
            },
            "Logging": {"TargetBucket": "example-logs", "TargetPrefix": "web/"},
            "Name": "example-web",
            "ObjectOwnership": "BucketOwnerEnforced",
            "Policy": {
                "Statement": [
                    {
                        "Action": ["s3:getobject"],
                        "Effect": "Allow",
                        "Principal": {"AWS": ["*"]},
                        "Resource": ["arn:aws:s3:::example-web/*"],
                        "Sid": "PublicRead",
                    }
                ],
                "Version": "2012-10-17",
            },
            "PolicyStatus": {"IsPublic": True},
            "PublicAccessBlock": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": False,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": False,
            },
            "Region": "eu-west-1",
            "Tags": {"cost-centre": "42", "team": "web"},
            "Versioning": {"Status": "Enabled"},
            "Website": {"IndexDocument": {"Suffix": "index.html"}},
        },
    }
    assert stored(state_repo, "s3/bucket", "example-plain")["config"] == {
        "Acl": owner_acl(seeded.owner),
        "Encryption": None,
        "Logging": None,
        "Name": "example-plain",
        "ObjectOwnership": None,
        "Policy": None,
        "PolicyStatus": None,
        "PublicAccessBlock": None,
        "Region": "us-east-1",
        "Tags": {},
        "Versioning": {},
        "Website": None,
    }
    assert stored(state_repo, "s3/bucket", "example-logs")["config"]["Acl"] == owner_acl(
        seeded.owner, grant_to(group(LOG_DELIVERY), "READ_ACP"), grant_to(group(LOG_DELIVERY), "WRITE")
    )
    assert stored(state_repo, "s3/account-public-access-block", "account") == {
        "identity": {
            "account": ACCOUNT,
            "arn": None,
            "id": "account",
            "provider": "aws",
            "region": "global",
            "type": "s3/account-public-access-block",
        },
        "config": {
            "PublicAccessBlock": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": False,
                "RestrictPublicBuckets": False,
            }
        },
    }

    assert stored(state_repo, "ec2/security-group", seeded.bastion, "eu-west-1") == {
        "identity": {
            "account": ACCOUNT,
            "arn": bastion_arn,
            "id": seeded.bastion,
            "provider": "aws",
            "region": "eu-west-1",
            "type": "ec2/security-group",
        },
        "config": {
            "Description": "bastion hosts",
            "Egress": {"all": ["0.0.0.0/0"]},
            "GroupId": seeded.bastion,
            "GroupName": "bastion",
            "Ingress": {
                "icmp/8:-1": ["10.0.0.0/8"],
                "tcp/22": ["10.0.0.0/8", "::/0"],
                "tcp/443": ["2001:db8:1234::/48"],
                "tcp/5432": [seeded.app],
                "udp/1024-65535": ["10.0.0.0/8"],
            },
            "OwnerId": ACCOUNT,
            "PeerDescriptions": {
                "ingress tcp/22 10.0.0.0/8": "office",
                f"ingress tcp/5432 {seeded.app}": "app servers",
            },
            "Tags": {"Name": "bastion"},
            "VpcId": seeded.vpc,
        },
    }

    created = {u["UserName"]: u["CreateDate"].isoformat() for u in clients.iam.list_users()["Users"]}
    svc_arn = f"arn:aws:iam::{ACCOUNT}:user/svc-deploy"
    assert stored(state_repo, "iam/user", "svc-deploy") == {
        "identity": {
            "account": ACCOUNT,
            "arn": svc_arn,
            "id": "svc-deploy",
            "provider": "aws",
            "region": "global",
            "type": "iam/user",
        },
        "config": {
            "AccessKeys": [key_entry(seeded.svc_key)],
            "Arn": svc_arn,
            "AttachedPolicies": [],
            "CreateDate": created["svc-deploy"],
            "Groups": [],
            "InlinePolicies": {},
            "LoginProfile": None,
            "MFADevices": [],
            "Path": "/",
            "Tags": {},
            "UserName": "svc-deploy",
        },
    }
    assert stored(state_repo, "iam/password-policy", "account") == {
        "identity": {
            "account": ACCOUNT,
            "arn": None,
            "id": "account",
            "provider": "aws",
            "region": "global",
            "type": "iam/password-policy",
        },
        "config": {
            "PasswordPolicy": {
                "AllowUsersToChangePassword": False,
                "ExpirePasswords": True,
                "HardExpiry": False,
                "MaxPasswordAge": 90,
                "MinimumPasswordLength": 14,
                "PasswordReusePrevention": 24,
                "RequireLowercaseCharacters": True,
                "RequireNumbers": True,
                "RequireSymbols": True,
                "RequireUppercaseCharacters": True,
            }
        },
    }
    assert stored(state_repo, "iam/account-summary", "account")["config"] == {
        "SummaryMap": {
            "AccountAccessKeysPresent": 0,
            "AccountMFAEnabled": 0,
            "AccountSigningCertificatesPresent": 0,
        }
    }

    alice_doc = stored(state_repo, "iam/user", "alice")["config"]
    inline = alice_doc.pop("InlinePolicies")
    assert alice_doc == {
        "AccessKeys": [key_entry(seeded.alice_key)],
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/people/alice",
        "AttachedPolicies": [READ_ONLY],
        "CreateDate": created["alice"],
        "Groups": ["admins"],
        "LoginProfile": {"PasswordResetRequired": True},
        "MFADevices": [f"arn:aws:iam::{ACCOUNT}:mfa/alice"],
        "Path": "/people/",
        "Tags": {"team": "platform"},
        "UserName": "alice",
    }
    # Last, so that everything above is checked even while it fails: the inline policy in canonical form.
    assert inline == {"reports": REPORTS_CANONICAL}


# -- security groups end to end (cases 8, 10, 11) ------------------------------------------------------


def test_case_11_rule_shapes_and_order_then_one_precise_change(
    clients: Clients, state_repo: Path, invoke: Any
) -> None:
    ec2 = clients.ec2["us-east-1"]
    vpc = new_vpc(clients)
    grouped, single, web = (new_group(clients, name, vpc) for name in ("grouped", "one-by-one", "web"))
    ec2.authorize_security_group_ingress(
        GroupId=grouped,
        IpPermissions=[tcp(443, "10.0.0.0/8", "192.168.0.0/16"), tcp(22, "10.1.0.0/16", "10.2.0.0/16")],
    )
    for permission in (
        tcp(22, "10.2.0.0/16"),
        tcp(443, "192.168.0.0/16"),
        tcp(22, "10.1.0.0/16"),
        tcp(443, "10.0.0.0/8"),
    ):
        ec2.authorize_security_group_ingress(GroupId=single, IpPermissions=[permission])
    ec2.authorize_security_group_ingress(
        GroupId=web, IpPermissions=[tcp(443, "10.0.0.0/8"), tcp(22, "10.1.0.0/16")]
    )
    run_json(invoke, state_repo)

    def ingress(group_id: str) -> Any:
        return stored(state_repo, "ec2/security-group", group_id, "us-east-1")["config"]["Ingress"]

    same = {"tcp/22": ["10.1.0.0/16", "10.2.0.0/16"], "tcp/443": ["10.0.0.0/8", "192.168.0.0/16"]}
    assert (ingress(grouped), ingress(single)) == (same, same)

    approve_all(invoke, state_repo)
    ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[tcp(22, "10.1.0.0/16")])
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[tcp(22, "0.0.0.0/0")])
    report = run_json(invoke, state_repo)

    assert report["resources_changed"] == 1
    found = findings_for(report, sg_arn(web))
    assert [(f["rule"], f["severity"], f["against"]) for f in found] == [
        ("sg-open-to-world", "critical", "baseline")
    ]
    assert found[0]["changes"] == [
        {
            "path": 'Ingress["tcp/22"]',
            "before": ["10.1.0.0/16"],
            "after": ["0.0.0.0/0"],
            "against": "baseline",
        }
    ]
    assert ingress(web) == {"tcp/22": ["0.0.0.0/0"], "tcp/443": ["10.0.0.0/8"]}
    history = invoke("-c", config_file(state_repo), "history", web, "--format", "json")
    assert history.exit_code == 0, history.stderr
    last = [e for e in json.loads(history.stdout)["entries"] if e["kind"] == "snapshot"][-1]
    assert last["changes"] == [
        {"path": 'Ingress["tcp/22"]', "before": ["10.1.0.0/16"], "after": ["0.0.0.0/0"]}
    ]


def test_case_8_ipv6_world_is_as_open_as_ipv4_world(clients: Clients, state_repo: Path, invoke: Any) -> None:
    ec2 = clients.ec2["us-east-1"]
    vpc = new_vpc(clients)
    bastion = new_group(clients, "bastion", vpc)
    ec2.authorize_security_group_ingress(
        GroupId=bastion, IpPermissions=[tcp(22, "10.0.0.0/8", "::/0"), tcp(443, "2001:db8:1234::/48")]
    )
    v4, v6 = new_group(clients, "drift-v4", vpc), new_group(clients, "drift-v6", vpc)
    for sg in (v4, v6):
        ec2.authorize_security_group_ingress(
            GroupId=sg, IpPermissions=[tcp(22, "10.0.0.0/8"), tcp(8080, "10.0.0.0/8")]
        )

    first = run_json(invoke, state_repo)

    found = findings_for(first, sg_arn(bastion), "sg-open-to-world")
    assert [(f["severity"], f["against"]) for f in found] == [("critical", "guardrail")]
    assert "tcp/22 from ::/0" in found[0]["message"]
    assert "443" not in found[0]["message"]
    assert findings_for(first, sg_arn(v4), "sg-open-to-world") == []

    approve_all(invoke, state_repo)
    ec2.authorize_security_group_ingress(
        GroupId=v4, IpPermissions=[tcp(22, "0.0.0.0/0"), tcp(8080, "0.0.0.0/0")]
    )
    ec2.authorize_security_group_ingress(GroupId=v6, IpPermissions=[tcp(22, "::/0"), tcp(8080, "::/0")])
    drifted = run_json(invoke, state_repo)

    def opened(sg: str) -> dict[str, tuple[str, Any]]:
        return {
            change["path"]: (f["severity"], change["after"])
            for f in findings_for(drifted, sg_arn(sg), "sg-open-to-world")
            for change in f["changes"]
        }

    assert opened(v4) == {
        'Ingress["tcp/22"]': ("critical", ["0.0.0.0/0", "10.0.0.0/8"]),
        'Ingress["tcp/8080"]': ("high", ["0.0.0.0/0", "10.0.0.0/8"]),
    }
    assert opened(v6) == {
        'Ingress["tcp/22"]': ("critical", ["10.0.0.0/8", "::/0"]),
        'Ingress["tcp/8080"]': ("high", ["10.0.0.0/8", "::/0"]),
    }
    assert findings_for(drifted, sg_arn(bastion)) == []  # approved as it is


def test_case_10_default_egress_is_not_open_to_world(clients: Clients, state_repo: Path, invoke: Any) -> None:
    sg = new_group(clients, "app", new_vpc(clients))

    first = run_json(invoke, state_repo)

    assert stored(state_repo, "ec2/security-group", sg, "us-east-1")["config"]["Egress"] == {
        "all": ["0.0.0.0/0"]
    }
    assert [f for f in first["findings"] if f["rule"] == "sg-open-to-world"] == []
    assert [f["rule"] for f in findings_for(first, sg_arn(sg))] == ["unapproved-resource"]

    approve_all(invoke, state_repo)
    clients.ec2["us-east-1"].revoke_security_group_egress(
        GroupId=sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    result = invoke("-c", config_file(state_repo), "run", "--format", "json")

    assert result.exit_code == 0, result.stderr  # medium is below the default fail_on (high)
    found = findings_for(json.loads(result.stdout), sg_arn(sg))
    assert [(f["rule"], f["severity"]) for f in found] == [("baseline-drift", "medium")]
    assert found[0]["changes"] == [
        {"path": "Egress.all", "before": ["0.0.0.0/0"], "after": None, "against": "baseline"}
    ]


def test_security_group_peer_in_another_account_keeps_its_owner() -> None:
    # moto refuses a group of an account it does not hold, so this shape is checked on the collector's input.
    config = security_group_config(
        {
            "GroupId": "sg-0example0008",
            "GroupName": "db",
            "OwnerId": "111122223333",
            "VpcId": "vpc-0example1111",
            "IpPermissions": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 5432,
                    "ToPort": 5432,
                    "UserIdGroupPairs": [
                        {"UserId": "444455556666", "GroupId": "sg-0example0999", "Description": "partner"},
                        {"UserId": "111122223333", "GroupId": "sg-0example0001"},
                    ],
                }
            ],
            "IpPermissionsEgress": [],
        }
    )

    assert config["Ingress"] == {"tcp/5432": ["444455556666/sg-0example0999", "sg-0example0001"]}
    assert config["PeerDescriptions"] == {"ingress tcp/5432 444455556666/sg-0example0999": "partner"}


# -- policy spellings (case 13) -------------------------------------------------------------------------


def test_case_13_policy_respellings_make_no_commit(clients: Clients, state_repo: Path, invoke: Any) -> None:
    def bucket_policy(bucket: str, principal: Any) -> None:
        clients.s3.put_bucket_policy(
            Bucket=bucket,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": principal,
                            "Action": "s3:GetObject",
                            "Resource": f"arn:aws:s3:::{bucket}/*",
                        }
                    ],
                }
            ),
        )

    def text(type_: str, id_: str) -> str:
        return snapshot_file(state_repo, type_, id_).read_text(encoding="utf-8")

    for bucket, principal in (("example-reports", "*"), ("example-exports", {"AWS": ["*"]})):
        create_bucket(clients, bucket)
        bucket_policy(bucket, principal)
    clients.iam.create_user(UserName="reports-reader")
    clients.iam.put_user_policy(
        UserName="reports-reader", PolicyName="reports", PolicyDocument=json.dumps(REPORTS_V1)
    )
    run_json(invoke, state_repo)
    bucket_before, user_before = text("s3/bucket", "example-reports"), text("iam/user", "reports-reader")
    commits = commit_count(state_repo)

    bucket_policy("example-reports", {"AWS": "*"})
    clients.iam.put_user_policy(
        UserName="reports-reader", PolicyName="reports", PolicyDocument=json.dumps(REPORTS_V2)
    )
    report = run_json(invoke, state_repo)

    # The bucket policy: "*", {"AWS": "*"} and {"AWS": ["*"]} are one principal.
    assert text("s3/bucket", "example-reports") == bucket_before
    for bucket in ("example-reports", "example-exports"):
        assert stored(state_repo, "s3/bucket", bucket)["config"]["Policy"] == {
            "Statement": [
                {
                    "Action": ["s3:getobject"],
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Resource": [f"arn:aws:s3:::{bucket}/*"],
                }
            ],
            "Version": "2012-10-17",
        }
    # The user's inline policy: a statement object or a list, scalars or lists, any letter case in actions.
    assert text("iam/user", "reports-reader") == user_before
    assert commit_count(state_repo) == commits
    assert report["resources_changed"] == 0
    assert stored(state_repo, "iam/user", "reports-reader")["config"]["InlinePolicies"] == {
        "reports": REPORTS_CANONICAL
    }


# -- volatile fields versus real changes (case 15) -------------------------------------------------------


def test_case_15_only_real_changes_make_commits(clients: Clients, state_repo: Path, invoke: Any) -> None:
    with managed_policies(clients.iam.meta.endpoint_url):  # alice has an AWS managed policy
        seeded = seed_account(clients)
    first = run_json(invoke, state_repo)
    commits = commit_count(state_repo)
    head = git(state_repo, "rev-parse", "HEAD").strip()  # the first run's snapshot, then its alerts' delivery

    second = run_json(invoke, state_repo)  # every response carries new request ids and dates

    assert commit_count(state_repo) == commits
    assert (second["resources_changed"], second["commit"]) == (0, head)
    assert git(state_repo, "rev-parse", "HEAD~1").strip() == first["commit"]
    assert git(state_repo, "status", "--porcelain", "--", "snapshots", "last-verified.json") == ""

    approve_all(invoke, state_repo)
    commits = commit_count(state_repo)
    user, key = f"arn:aws:iam::{ACCOUNT}:user/svc-deploy", seeded.svc_key
    clients.iam.update_access_key(UserName="svc-deploy", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    deactivated = run_json(invoke, state_repo)

    assert commit_count(state_repo) == commits + 2  # the run's, then its alerts' delivery
    assert (
        git(state_repo, "log", "-1", "--format=%s", "HEAD~1")
        == "driftwatch: 1 changed, 0 added, 0 removed (iam 1)\n"
    )
    found = findings_for(deactivated, user)
    assert [(f["rule"], f["severity"]) for f in found] == [("baseline-drift", "medium")]
    assert found[0]["changes"] == [
        {
            "path": "AccessKeys",
            "before": [key_entry(key)],
            "after": [key_entry(key, "Inactive")],
            "against": "baseline",
        }
    ]

    second_key = clients.iam.create_access_key(UserName="svc-deploy")["AccessKey"]
    added = run_json(invoke, state_repo)

    assert commit_count(state_repo) == commits + 3  # the same finding, quiet: no delivery to record
    keys = sorted([key_entry(key, "Inactive"), key_entry(second_key)], key=lambda k: k["AccessKeyId"])
    assert stored(state_repo, "iam/user", "svc-deploy")["config"]["AccessKeys"] == keys
    assert [(f["rule"], f["changes"]) for f in findings_for(added, user)] == [
        (
            "baseline-drift",
            [{"path": "AccessKeys", "before": [key_entry(key)], "after": keys, "against": "baseline"}],
        )
    ]


# -- S3 exposure end to end (cases 5 and 6) and approvals ------------------------------------------------


def test_cases_5_and_6_acl_grantees_and_object_ownership(
    clients: Clients, state_repo: Path, invoke: Any
) -> None:
    create_bucket(clients, "example-shared")
    put_grants(clients, "example-shared", grant_to(group(AUTHENTICATED_USERS), "READ"))
    create_bucket(clients, "example-logs")
    put_grants(clients, "example-logs", grant_to(group(LOG_DELIVERY), "WRITE"))
    create_bucket(clients, "example-enforced")
    clients.s3.put_bucket_ownership_controls(
        Bucket="example-enforced", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )

    first = run_json(invoke, state_repo)

    shared = findings_for(first, "arn:aws:s3:::example-shared", "s3-bucket-public")
    assert [f["severity"] for f in shared] == ["critical"]
    assert "AuthenticatedUsers" in shared[0]["message"]
    assert findings_for(first, "arn:aws:s3:::example-logs", "s3-bucket-public") == []
    assert findings_for(first, "arn:aws:s3:::example-enforced", "s3-bucket-public") == []

    approve_all(invoke, state_repo)
    acl_before = stored(state_repo, "s3/bucket", "example-enforced")["config"]["Acl"]
    clients.s3.put_bucket_ownership_controls(
        Bucket="example-enforced", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    second = run_json(invoke, state_repo)

    assert second["resources_changed"] == 1
    assert stored(state_repo, "s3/bucket", "example-enforced")["config"]["Acl"] == acl_before
    found = findings_for(second, "arn:aws:s3:::example-enforced")
    # Case 6: "ACLs re-enabled" (guardrail weakened, medium), not public.
    assert [(f["rule"], f["severity"]) for f in found] == [("s3-acls-reenabled", "medium")]
    assert found[0]["changes"] == [
        {
            "path": "ObjectOwnership",
            "before": "BucketOwnerEnforced",
            "after": "ObjectWriter",
            "against": "baseline",
        }
    ]


def test_approved_public_website_is_not_reported(clients: Clients, state_repo: Path, invoke: Any) -> None:
    create_bucket(clients, "example-site")
    clients.s3.put_bucket_website(
        Bucket="example-site", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
    )
    clients.s3.put_bucket_policy(
        Bucket="example-site",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "Site",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::example-site/*",
                    }
                ],
            }
        ),
    )
    arn = "arn:aws:s3:::example-site"
    first = run_json(invoke, state_repo)
    assert [(f["severity"], f["against"]) for f in findings_for(first, arn, "s3-bucket-public")] == [
        ("critical", "guardrail")
    ]

    approval = invoke(
        "-c",
        config_file(state_repo),
        "approve",
        arn,
        "--reason",
        "website",
        "--author",
        "Web Team <web@example.com>",
    )
    assert approval.exit_code == 0, approval.stderr
    check = invoke("-c", config_file(state_repo), "check", "--format", "json")

    assert check.exit_code == 0, check.stdout + check.stderr
    assert findings_for(json.loads(check.stdout), arn) == []
    assert git(state_repo, "log", "-1", "--format=%an <%ae>") == "Web Team <web@example.com>\n"
    trailers = git(state_repo, "log", "-1", "--format=%(trailers:only,unfold)")
    assert trailers.strip().splitlines() == [
        "Approved-by: Web Team <web@example.com>",
        "Reason: website",
        f"Driftwatch-Approved: {arn}",
        f"Driftwatch-Version: {__version__}",
    ]
    assert git(state_repo, "show", "--name-only", "--format=", "HEAD").split() == [
        f"baselines/aws/{ACCOUNT}/global/s3/bucket/example-site.json"
    ]
    baseline = state_repo / "baselines" / "aws" / ACCOUNT / "global" / "s3" / "bucket" / "example-site.json"
    assert baseline.read_text(encoding="utf-8") == snapshot_file(
        state_repo, "s3/bucket", "example-site"
    ).read_text(encoding="utf-8")


# -- secrets (case 21) -------------------------------------------------------------------------------------


LAMBDA_ID = ResourceId(
    "aws",
    "111122223333",
    "eu-west-1",
    "lambda/function",
    "orders-api",
    "arn:aws:lambda:eu-west-1:111122223333:function:orders-api",
)


def lambda_configuration(password: str = "EXAMPLE-NOT-A-REAL-PASSWORD-1") -> dict[str, Any]:
    return {
        "FunctionName": "orders-api",
        "Runtime": "python3.12",
        "LastModified": "2025-04-30T12:00:00.000+0000",
        "Environment": {
            "Variables": {
                "DB_HOST": "orders.cluster-example.eu-west-1.rds.amazonaws.com",
                "DB_PASSWORD": password,
                "PAYMENT_API_KEY": "EXAMPLE-NOT-A-REAL-KEY-2",
                "AWS_CA_BUNDLE": "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
                "DB_SECRET_NAME": "prod/orders/db",
            }
        },
    }


def test_case_21_lambda_environment_secrets_are_redacted() -> None:
    redactor = Redactor(REDACTION_KEY)

    normalised = normalise_resource(Resource(LAMBDA_ID, lambda_configuration()), redactor)

    assert normalised.config["Environment"] == {
        "Variables": {
            "AWS_CA_BUNDLE": redacted("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"),
            "DB_HOST": redacted("orders.cluster-example.eu-west-1.rds.amazonaws.com"),
            "DB_PASSWORD": redacted("EXAMPLE-NOT-A-REAL-PASSWORD-1"),
            "DB_SECRET_NAME": redacted("prod/orders/db"),
            "PAYMENT_API_KEY": redacted("EXAMPLE-NOT-A-REAL-KEY-2"),
        }
    }
    again = normalise_resource(Resource(LAMBDA_ID, lambda_configuration()), redactor)
    assert again.config == normalised.config  # same value, same key: same text, so no false change
    changed = normalise_resource(
        Resource(LAMBDA_ID, lambda_configuration("EXAMPLE-NOT-A-REAL-PASSWORD-3")), redactor
    )
    changed_password = changed.config["Environment"]["Variables"]["DB_PASSWORD"]
    assert changed_password.startswith("[redacted hmac-sha256:")
    assert changed_password != normalised.config["Environment"]["Variables"]["DB_PASSWORD"]
    other_key = normalise_resource(Resource(LAMBDA_ID, lambda_configuration()), Redactor(b"another-key"))
    assert other_key.config["Environment"]["Variables"]["DB_PASSWORD"] == redacted(
        "EXAMPLE-NOT-A-REAL-PASSWORD-1", b"another-key"
    )
    text = file_text({"config": normalised.config, "observations": normalised.observations})
    for plaintext in ("EXAMPLE-NOT-A-REAL-PASSWORD-1", "EXAMPLE-NOT-A-REAL-KEY-2"):
        assert plaintext not in text


def test_case_21_secret_bucket_tag_never_reaches_git(clients: Clients, state_repo: Path, invoke: Any) -> None:
    def tag(password: str) -> None:
        clients.s3.put_bucket_tagging(
            Bucket="example-orders",
            Tagging={
                "TagSet": [{"Key": "db_password", "Value": password}, {"Key": "team", "Value": "orders"}]
            },
        )

    create_bucket(clients, "example-orders")
    tag("EXAMPLE-NOT-A-REAL-PASSWORD-1")
    outputs = [invoke("-c", config_file(state_repo), "run", "--format", "json")]

    assert stored(state_repo, "s3/bucket", "example-orders")["config"]["Tags"] == {
        "db_password": redacted("EXAMPLE-NOT-A-REAL-PASSWORD-1"),
        "team": "orders",
    }
    approve_all(invoke, state_repo)
    tag("EXAMPLE-NOT-A-REAL-PASSWORD-2")
    outputs.append(invoke("-c", config_file(state_repo), "run", "--format", "json"))

    found = findings_for(json.loads(outputs[-1].stdout), "arn:aws:s3:::example-orders")
    assert [(f["rule"], f["changes"]) for f in found] == [
        (
            "baseline-drift",
            [
                {
                    "path": "Tags.db_password",
                    "before": redacted("EXAMPLE-NOT-A-REAL-PASSWORD-1"),
                    "after": redacted("EXAMPLE-NOT-A-REAL-PASSWORD-2"),
                    "against": "baseline",
                }
            ],
        )
    ]
    assert [out.exit_code for out in outputs] == [0, 0], [out.stderr for out in outputs]
    history = git(state_repo, "log", "-p", "--all")
    for plaintext in ("EXAMPLE-NOT-A-REAL-PASSWORD-1", "EXAMPLE-NOT-A-REAL-PASSWORD-2"):
        assert plaintext not in history
        assert all(plaintext not in out.stdout + out.stderr for out in outputs)
    assert redacted("EXAMPLE-NOT-A-REAL-PASSWORD-2") in history


def test_case_15_last_used_dates_are_observations_kept_outside_git(
    clients: Clients, state_repo: Path, invoke: Any
) -> None:
    clients.iam.create_user(UserName="svc-deploy")
    key = clients.iam.create_access_key(UserName="svc-deploy")["AccessKey"]["AccessKeyId"]
    run_json(invoke, state_repo)
    observations = json.loads((state_repo / ".driftwatch/observations.json").read_text())
    used = observations[f"arn:aws:iam::{ACCOUNT}:user/svc-deploy"]["AccessKeyLastUsed"]
    assert list(used) == [key]
    stored_user = (state_repo / f"snapshots/aws/{ACCOUNT}/global/iam/user/svc-deploy.json").read_text()
    assert "LastUsed" not in stored_user


def test_every_service_the_config_accepts_has_a_collector() -> None:
    from driftwatch.collectors.aws.services import AWS_SERVICES
    from driftwatch.config import SERVICES

    assert sorted(s.name for s in AWS_SERVICES) == sorted(SERVICES)


def test_the_types_check_config_knows_are_the_types_each_service_reads() -> None:
    from driftwatch.collectors.aws.services import AWS_SERVICES
    from driftwatch.resource_types import AWS_TYPES

    assert {s.name: s.types for s in AWS_SERVICES} == AWS_TYPES
