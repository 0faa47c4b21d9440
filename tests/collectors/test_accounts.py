"""Several accounts: assumed roles and an organization through moto's server, each account in its own
folder with its own manifest; an account or a region that cannot be read loses nothing."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from tests.conftest import Invoke, write_config
from tests.support.aws_faults import Fault, FaultProxy, running_fault_proxy

A, B = "111122223333", "444455556666"
ROLE = "arn:aws:iam::{account}:role/driftwatch-read-only"
MANIFEST = "snapshots/manifest.json"
TWO_ROLES = {"accounts": json.dumps([A, B]), "role_arn": json.dumps(ROLE)}


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")


def client(endpoint: str, service: str, account: str | None = None, region: str = "us-east-1") -> Any:
    """A client talking to moto directly, in moto's own account or, through a role, in ``account``."""
    keys: dict[str, str] = {}
    if account is not None:
        sts = _session().client("sts", region_name="us-east-1", endpoint_url=endpoint)
        role = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed")
        credentials = role["Credentials"]
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    return _session().client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        config=BotoConfig(s3={"addressing_style": "path"}),
        **keys,
    )


def configure(
    repo: Path, endpoint: str, services: tuple[str, ...], aws: dict[str, str], regions: tuple[str, ...]
) -> Path:
    """The test config aimed at ``endpoint``, reading ``services``, with the [aws] keys in ``aws``."""
    path = write_config(repo, endpoint, regions)
    text = path.read_text(encoding="utf-8")
    for key, value in {"services": json.dumps(list(services)), **aws}.items():
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}".replace("\\", "\\\\"), text, count=1)
        assert found == 1, key
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def proxy(aws: str) -> Iterator[FaultProxy]:
    with running_fault_proxy(aws) as running:
        yield running


def run(invoke: Invoke, config: Path) -> tuple[int, dict[str, Any], str]:
    result = invoke("-c", str(config), "run", "--format", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr


def read(repo: Path, path: str) -> Any:
    return json.loads((repo / path).read_text(encoding="utf-8"))


def files(repo: Path) -> dict[str, str]:
    """Every file under snapshots/ but the manifests, with its text."""
    return {
        p.relative_to(repo).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted((repo / "snapshots").rglob("*.json"))
        if p.name != "manifest.json"
    }


NOT_ALERTS = ("--", ".", ":!alert-state.json")
"""Pathspec for what a run recorded of the account: everything but the alert state."""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_two_accounts_through_roles_and_one_whose_role_cannot_be_assumed(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    for account, bucket, user in ((A, "alpha-logs", "alice"), (B, "beta-logs", "bob")):
        client(aws, "s3", account).create_bucket(Bucket=bucket)
        client(aws, "iam", account).create_user(UserName=user)
    config = configure(
        state_repo,
        proxy.url,
        ("s3", "iam"),
        TWO_ROLES,
        ("us-east-1",),
    )

    code, report, stderr = run(invoke, config)

    assert code == 0, stderr
    assert report["coverage_gaps"] == []
    assert sorted(p for p in files(state_repo) if "/bucket/" in p or "/user/" in p) == [
        f"snapshots/aws/{A}/global/iam/user/alice.json",
        f"snapshots/aws/{A}/global/s3/bucket/alpha-logs.json",
        f"snapshots/aws/{B}/global/iam/user/bob.json",
        f"snapshots/aws/{B}/global/s3/bucket/beta-logs.json",
    ]
    assert sorted((c.params["RoleArn"], c.params["RoleSessionName"]) for c in proxy.calls("AssumeRole")) == [
        (ROLE.format(account=A), "driftwatch"),
        (ROLE.format(account=B), "driftwatch"),
    ]
    assert read(state_repo, MANIFEST)["accounts"] == {
        A: f"read: role {ROLE.format(account=A)}",
        B: f"read: role {ROLE.format(account=B)}",
    }
    own = read(state_repo, f"snapshots/aws/{B}/manifest.json")
    assert (own["account"], own["reached"], own["gaps"]) == (B, f"role {ROLE.format(account=B)}", [])
    assert own["scopes"] == {
        f"aws/{B}/global/iam/{kind}": "read"
        for kind in ("account-summary", "password-policy", "user", "role", "group", "policy")
    } | {f"aws/{B}/global/s3/{kind}": "read" for kind in ("account-public-access-block", "bucket")}
    b_manifest = (state_repo / f"snapshots/aws/{B}/manifest.json").read_text(encoding="utf-8")
    b_files = {p: t for p, t in files(state_repo).items() if f"/aws/{B}/" in p}
    head = git(state_repo, "rev-parse", "HEAD").strip()

    # B's role can no longer be assumed; B's bucket goes for real (unseen) and A gains a user.
    client(aws, "s3", B).delete_bucket(Bucket="beta-logs")
    client(aws, "iam", A).create_user(UserName="carol")
    denied = proxy.add_fault(Fault("sts", "AssumeRole", params={"RoleArn": ROLE.format(account=B)}))

    code, report, stderr = run(invoke, config)

    expected = {
        "scope": f"aws/{B}",
        "api_call": "sts.assume_role",
        "kind": "denied",
        "code": "AccessDenied",
        "message": f"role {ROLE.format(account=B)} could not be used: Access Denied; nothing of account {B} "
        f"was read; {len(b_files)} resource(s) kept as last read, not deleted",
        "resource": None,
        "field": None,
    }
    assert code == 0, stderr
    assert denied.hits == 1
    assert report["coverage_gaps"] == [expected]  # one event for the account, not one per scope
    assert {p: t for p, t in files(state_repo).items() if f"/aws/{B}/" in p} == b_files
    assert (state_repo / f"snapshots/aws/{B}/manifest.json").read_text(encoding="utf-8") == b_manifest
    manifest = read(state_repo, MANIFEST)
    assert manifest["gaps"] == [expected]
    assert manifest["accounts"] == {
        A: f"read: role {ROLE.format(account=A)}",
        B: "not read: denied (AccessDenied)",
    }
    assert manifest["scopes"][f"aws/{B}"] == "not read: denied (AccessDenied)"
    assert git(state_repo, "diff", "--name-status", head, "HEAD", *NOT_ALERTS).splitlines() == [
        f"A\tsnapshots/aws/{A}/global/iam/user/carol.json",
        f"M\t{MANIFEST}",
    ]
    assert "last-verified.json" not in git(state_repo, "diff", "--name-only", head, "HEAD")


def test_a_throttled_region_in_two_accounts_deletes_nothing_while_the_rest_updates(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    groups: dict[tuple[str, str], str] = {}
    for account in (A, B):
        for region in ("us-east-1", "eu-west-1"):
            ec2 = client(aws, "ec2", account, region)
            groups[(account, region)] = ec2.create_security_group(GroupName="app", Description="app")[
                "GroupId"
            ]
    config = configure(
        state_repo,
        proxy.url,
        ("ec2",),
        TWO_ROLES,
        ("us-east-1", "eu-west-1"),
    )
    assert run(invoke, config)[0] == 0
    before = files(state_repo)
    eu = {account: {p for p in before if f"/aws/{account}/eu-west-1/" in p} for account in (A, B)}
    assert [len(eu[A]), len(eu[B])] == [2, 2]  # "app" and the default group
    head = git(state_repo, "rev-parse", "HEAD").strip()
    client(aws, "ec2", A, "eu-west-1").delete_security_group(GroupId=groups[(A, "eu-west-1")])  # unseen
    client(aws, "ec2", A, "us-east-1").create_tags(
        Resources=[groups[(A, "us-east-1")]], Tags=[{"Key": "Name", "Value": "app-v2"}]
    )
    throttled = proxy.add_fault(
        Fault(
            "ec2",
            "DescribeSecurityGroups",
            code="Throttling",
            status=400,
            message="Rate exceeded",
            region="eu-west-1",
        )
    )

    code, report, stderr = run(invoke, config)

    assert code == 0, stderr
    assert throttled.hits == 4  # two attempts ([aws] max_attempts = 2 in the tests) in each account
    assert sorted(report["coverage_gaps"], key=json.dumps) == [
        {
            "scope": f"aws/{account}/eu-west-1/ec2/security-group",
            "api_call": "ec2.describe_security_groups",
            "kind": "throttled",
            "code": "Throttling",
            "message": "Rate exceeded; 2 resource(s) kept as last read, not deleted",
            "resource": None,
            "field": None,
        }
        for account in (A, B)
    ]
    after = files(state_repo)
    changed = f"snapshots/aws/{A}/us-east-1/ec2/security-group/{groups[(A, 'us-east-1')]}.json"
    assert after == {**before, changed: after[changed]}
    assert json.loads(after[changed])["config"]["Tags"] == {"Name": "app-v2"}
    for account in (A, B):
        scopes = read(state_repo, f"snapshots/aws/{account}/manifest.json")["scopes"]
        assert scopes == {
            f"aws/{account}/us-east-1/ec2/security-group": "read",
            f"aws/{account}/eu-west-1/ec2/security-group": "not read: throttled (Throttling)",
            f"aws/{account}/us-east-1/ec2/instance": "read",
            f"aws/{account}/eu-west-1/ec2/instance": "read",
        }
    assert sorted(git(state_repo, "diff", "--name-status", head, "HEAD", *NOT_ALERTS).splitlines()) == sorted(
        [
            f"M\t{MANIFEST}",
            f"M\tsnapshots/aws/{A}/manifest.json",
            f"M\tsnapshots/aws/{B}/manifest.json",
            f"M\t{changed}",
        ]
    )


def test_every_active_account_of_the_organization(
    invoke: Invoke, aws: str, state_repo: Path, proxy: FaultProxy
) -> None:
    management = client(aws, "sts").get_caller_identity()["Account"]
    organizations = client(aws, "organizations")
    organizations.create_organization(FeatureSet="ALL")
    member, closed = (
        organizations.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        for name in ("member", "closed")
    )
    organizations.close_account(AccountId=closed)
    client(aws, "iam").create_user(UserName="admin")
    client(aws, "iam", member).create_user(UserName="dev")
    config = configure(
        state_repo,
        proxy.url,
        ("iam",),
        {"organization": "true", "role_arn": json.dumps(ROLE)},
        ("us-east-1",),
    )

    code, report, stderr = run(invoke, config)

    assert code == 0, stderr
    assert report["coverage_gaps"] == []
    assert read(state_repo, MANIFEST)["accounts"] == {
        management: "read: credentials",  # the management account needs no role
        member: f"read: role {ROLE.format(account=member)}",
    }
    assert [c.params["RoleArn"] for c in proxy.calls("AssumeRole")] == [ROLE.format(account=member)]
    assert sorted(p for p in files(state_repo) if "/iam/user/" in p) == [
        f"snapshots/aws/{account}/global/iam/user/{user}.json"
        for account, user in sorted(((management, "admin"), (member, "dev")))
    ]


def test_profiles_each_read_as_their_own_account(
    invoke: Invoke, aws: str, state_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = []
    for account, profile in ((A, "team-a"), (B, "team-b")):
        client(aws, "iam", account).create_user(UserName=profile)
        sts = _session().client("sts", region_name="us-east-1", endpoint_url=aws)
        keys = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/sso", RoleSessionName="sso")[
            "Credentials"
        ]
        lines += [
            f"[{profile}]",
            f"aws_access_key_id = {keys['AccessKeyId']}",
            f"aws_secret_access_key = {keys['SecretAccessKey']}",
            f"aws_session_token = {keys['SessionToken']}",
        ]
    credentials = tmp_path / "credentials"
    credentials.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    config = configure(state_repo, aws, ("iam",), {"profiles": '["team-a", "team-b"]'}, ("us-east-1",))

    code, report, stderr = run(invoke, config)

    assert code == 0, stderr
    assert read(state_repo, MANIFEST)["accounts"] == {A: "read: profile team-a", B: "read: profile team-b"}
    assert sorted(p for p in files(state_repo) if "/iam/user/" in p) == [
        f"snapshots/aws/{A}/global/iam/user/team-a.json",
        f"snapshots/aws/{B}/global/iam/user/team-b.json",
    ]

    configure(state_repo, aws, ("iam",), {"profiles": '["team-a", "team-c"]'}, ("us-east-1",))
    code, report, stderr = run(invoke, config)

    assert (code, report) == (1, {})
    assert stderr == "driftwatch: [aws] profiles: team-c: The config profile (team-c) could not be found\n"
