"""Provider default changes and reverted fixes, end to end: moto's server, real git, the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from driftwatch.approve import approve
from driftwatch.collectors import Collection
from driftwatch.config import load_config
from driftwatch.defaults import initial_files
from driftwatch.model import Resource, ResourceId, Scope, Severity
from driftwatch.runner import run_once
from driftwatch.store import StateRepo, init_repo
from tests.conftest import Invoke, write_config
from tests.test_cli import APPROVER, git, make_public, s3

ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def buckets(endpoint: str, count: int) -> list[str]:
    client = s3(endpoint)
    names = [f"data-{i:02}" for i in range(count)]
    for name in names:
        client.create_bucket(Bucket=name)
        client.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=ALL_ON)
    return names


def encrypt(endpoint: str, names: list[str]) -> None:
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}
    for name in names:
        s3(endpoint).put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [rule]})


def findings_of(invoke: Invoke, config: str, *args: str) -> list[dict[str, Any]]:
    result = invoke("-c", config, *args, "--format", "json")
    assert result.exit_code in (0, 2), result.stderr
    return list(json.loads(result.stdout)["findings"])


def test_every_bucket_encrypted_in_one_run_is_one_finding_approved_in_one_commit(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    names = buckets(aws, 6)
    config = str(state_repo / "driftwatch.toml")
    assert invoke("-c", config, "run").exit_code == 0
    assert (
        invoke("-c", config, "approve", "--all", "--reason", "reviewed", "--author", APPROVER).exit_code == 0
    )
    encrypt(aws, names)
    (group,) = findings_of(invoke, config, "run")
    assert (group["rule"], group["severity"], group["new"]) == ("provider-default-change", "info", True)
    assert group["related"] == [f"arn:aws:s3:::{name}" for name in names]
    assert group["known_change"]["id"] == "aws-s3-default-encryption-2023"
    assert group["known_change"]["date"] == "2023-01-05"
    assert [c["path"] for c in group["changes"]] == ["Encryption"]
    # Still one finding while it is not approved; then one commit approves the whole group.
    (again,) = findings_of(invoke, config, "check")
    assert again["id"] == group["id"]
    # The console report gives the id and the command that approves the group.
    text = invoke("-c", config, "check").stdout
    assert f"approve this change on all of them: driftwatch approve --finding {group['id']} --reason" in text
    approved = invoke(
        "-c", config, "approve", "--finding", group["id"], "--reason", "AWS default", "--author", APPROVER
    )
    assert approved.stdout.startswith("Approved 6 resource(s)"), approved.stderr
    assert git(state_repo, "log", "-1", "--format=%s").strip() == "approve: 6 resource(s)"
    assert findings_of(invoke, config, "run") == []
    unknown = invoke(
        "-c", config, "approve", "--finding", "0123456789ab", "--reason", "x", "--author", APPROVER
    )
    assert (
        unknown.exit_code == 1 and "--finding 0123456789ab: no current finding has this id" in unknown.stderr
    )


def test_approving_a_group_approves_only_its_change_and_other_drift_stays_a_finding(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    names = buckets(aws, 6)
    config = str(state_repo / "driftwatch.toml")
    invoke("-c", config, "run")
    invoke("-c", config, "approve", "--all", "--reason", "reviewed", "--author", APPROVER)
    encrypt(aws, names)
    make_public(aws, names[0])  # at the same time, one of them is made public
    found = findings_of(invoke, config, "run")
    (group,) = [f for f in found if f["rule"] == "provider-default-change"]
    assert ("s3-bucket-public", "arn:aws:s3:::data-00") in [(f["rule"], f["resource"]) for f in found]
    approved = invoke(
        "-c", config, "approve", "--finding", group["id"], "--reason", "AWS default", "--author", APPROVER
    )
    assert approved.exit_code == 0, approved.stderr
    assert "Only the fleet-wide change (Encryption) is approved on 6 of them" in approved.stdout
    assert "approved exceptions" not in approved.stdout
    body = git(state_repo, "log", "-1", "--format=%B")
    assert "+ arn:aws:s3:::data-00 (only Encryption)" in body
    after = findings_of(invoke, config, "run")
    assert {(f["rule"], f["resource"]) for f in after} >= {
        ("s3-bucket-public", "arn:aws:s3:::data-00"),
        ("s3-public-access-block-weakened", "arn:aws:s3:::data-00"),
    }
    assert all(f["resource"] == "arn:aws:s3:::data-00" for f in after)
    assert not [c for f in after for c in f["changes"] if c["path"].startswith("Encryption")]
    file = state_repo / "baselines/aws/123456789012/global/s3/bucket/data-00.json"
    baseline = json.loads(file.read_text())
    assert baseline["config"]["Encryption"] is not None and baseline["config"]["Policy"] is None


def test_a_few_buckets_encrypted_are_ordinary_drift(state_repo: Path, aws: str, invoke: Invoke) -> None:
    names = buckets(aws, 4)  # fewer than min_resources: never grouped
    config = str(state_repo / "driftwatch.toml")
    invoke("-c", config, "run")
    invoke("-c", config, "approve", "--all", "--reason", "reviewed", "--author", APPROVER)
    encrypt(aws, names[:2])
    found = findings_of(invoke, config, "run")
    # AWS encrypted every bucket that had no default encryption; two are still without: an edit.
    assert sorted((f["rule"], f["resource"], f["severity"], f["known_change"]) for f in found) == [
        ("baseline-drift", "arn:aws:s3:::data-00", "medium", None),
        ("baseline-drift", "arn:aws:s3:::data-01", "medium", None),
    ]
    # Once every such bucket is encrypted, each is recognised as AWS's 2023 default, one by one.
    encrypt(aws, names[2:])
    found = findings_of(invoke, config, "run")
    assert len(found) == 4 and {(f["severity"], (f["known_change"] or {}).get("id")) for f in found} == {
        ("info", "aws-s3-default-encryption-2023")
    }


def test_a_script_tagging_every_bucket_is_a_fleet_wide_change_not_a_provider_default(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    names = buckets(aws, 6)
    config = str(state_repo / "driftwatch.toml")
    invoke("-c", config, "run")
    invoke("-c", config, "approve", "--all", "--reason", "reviewed", "--author", APPROVER)
    for name in names:
        s3(aws).put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team", "Value": "platform"}]})
    (group,) = findings_of(invoke, config, "run")
    assert (group["rule"], group["severity"], group["known_change"]) == ("fleet-wide-change", "medium", None)
    assert group["related"] == [f"arn:aws:s3:::{name}" for name in names]
    assert group["message"].startswith("the same change on 6 of 6 s3/bucket in one run (Tags.team). ")
    assert "provider default change explains" in group["message"]
    assert "Looks like a provider default change" not in group["message"]
    # Approving it approves the tags; a bucket not approved yet has no baseline to add them to.
    s3(aws).create_bucket(Bucket="late")
    invoke("-c", config, "run")
    s3(aws).put_bucket_tagging(Bucket="late", Tagging={"TagSet": [{"Key": "team", "Value": "platform"}]})
    (group,) = [f for f in findings_of(invoke, config, "run") if f["rule"] == "fleet-wide-change"]
    assert "arn:aws:s3:::late" in group["related"]
    approved = invoke(
        "-c", config, "approve", "--finding", group["id"], "--reason", "new tagging", "--author", APPROVER
    )
    assert approved.stdout.startswith("Approved 6 resource(s)"), approved.stderr
    assert "not approved: arn:aws:s3:::late: no approved baseline yet (approve it by name)" in approved.stderr
    left = findings_of(invoke, config, "check")
    assert [(f["rule"], f["resource"]) for f in left] == [("unapproved-resource", "arn:aws:s3:::late")]


def test_six_buckets_made_public_by_one_script_stay_six_critical_findings(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    names = buckets(aws, 6)
    config = str(state_repo / "driftwatch.toml")
    invoke("-c", config, "run")
    invoke("-c", config, "approve", "--all", "--reason", "reviewed", "--author", APPROVER)
    for name in names:
        make_public(aws, name)
    found = findings_of(invoke, config, "run")
    public = [(f["resource"], f["severity"]) for f in found if f["rule"] == "s3-bucket-public"]
    assert public == [(f"arn:aws:s3:::{name}", "critical") for name in names]
    assert not [f for f in found if f["rule"] in ("provider-default-change", "fleet-wide-change")]


def test_a_bucket_made_public_again_after_an_approved_fix_names_the_fix(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    (name,) = buckets(aws, 1)
    config = str(state_repo / "driftwatch.toml")
    make_public(aws, name)
    invoke("-c", config, "run")
    invoke(
        "-c",
        config,
        "approve",
        "--all",
        "--reason",
        "launch page",
        "--author",
        "Bob Builder <bob@example.com>",
    )
    client = s3(aws)
    client.delete_bucket_policy(Bucket=name)
    client.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=ALL_ON)
    invoke("-c", config, "run")
    fixed = invoke("-c", config, "approve", name, "--reason", "close the leak", "--author", APPROVER)
    assert fixed.exit_code == 0, fixed.stderr
    fix_commit = git(state_repo, "rev-parse", "HEAD").strip()
    fix_day = datetime.now(UTC).date().isoformat()
    make_public(aws, name)  # the very policy the fix removed
    found = findings_of(invoke, config, "run")
    first = found[0]
    assert (first["rule"], first["severity"]) == ("s3-bucket-public", "critical")
    assert first["reverted"]["commit"] == fix_commit and first["reverted"]["author"] == "Alice Admin"
    assert first["message"].startswith(
        f"reverted to public (fixed on {fix_day} in {fix_commit[:7]} by Alice Admin): bucket {name} is public"
    )
    weakened = next(f for f in found if f["rule"] == "s3-public-access-block-weakened")
    assert weakened["message"].startswith("Block Public Access weakened again (fixed on")
    text = invoke("-c", config, "check").stdout
    assert text.index("reverted to public") < text.index("Block Public Access weakened again")


class FixedCollector:
    """A collector that returns the resources it is given, as a newer botocore would shape them."""

    def __init__(self, resources: list[Resource], botocore: str) -> None:
        self.resources, self.botocore = resources, botocore

    def collect(self) -> Collection:
        scope = Scope("aws", "123456789012", "global", "s3/bucket")
        return Collection(tuple(self.resources), frozenset({scope}), (), {"botocore": self.botocore})


def test_a_field_added_by_an_sdk_upgrade_is_one_info_finding_not_drift(tmp_path: Path) -> None:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    config = load_config(write_config(repo, None))

    def fleet(extra: bool) -> list[Resource]:
        resources = []
        for i in range(5):
            identity = ResourceId("aws", "123456789012", "global", "s3/bucket", f"b{i}", f"arn:aws:s3:::b{i}")
            settings: dict[str, Any] = {"Name": f"b{i}", "Versioning": {}}
            resources.append(
                Resource(identity, {**settings, "BucketNamespace": "global"} if extra else settings)
            )
        return resources

    run_once(config, FixedCollector(fleet(False), "1.35.0"), [])
    approve(StateRepo(repo), (), everything=True, reason="reviewed", author=("Alice", "alice@example.com"))
    report = run_once(config, FixedCollector(fleet(True), "1.36.2"), []).report
    (finding,) = report.findings  # no baseline-drift on the five buckets
    assert (finding.rule, finding.severity, len(finding.related)) == (
        "provider-default-change",
        Severity.INFO,
        5,
    )
    assert finding.message.startswith(
        "botocore 1.35.0 -> 1.36.2 added BucketNamespace to every s3/bucket (5)"
    )
    manifest = json.loads((repo / "snapshots/manifest.json").read_text())
    assert manifest["tool_versions"]["botocore"] == "1.36.2"


def test_a_field_an_sdk_upgrade_added_to_a_few_buckets_stays_one_info_finding_in_later_runs(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    config = load_config(write_config(repo, None))

    def fleet(*extra: str) -> list[Resource]:
        resources = []
        for i in range(3):  # fewer than min_resources
            identity = ResourceId("aws", "123456789012", "global", "s3/bucket", f"b{i}", f"arn:aws:s3:::b{i}")
            settings: dict[str, Any] = {"Name": f"b{i}", "Versioning": {}}
            resources.append(Resource(identity, {**settings, **{key: "global" for key in extra}}))
        return resources

    run_once(config, FixedCollector(fleet(), "1.35.0"), [])
    approve(StateRepo(repo), (), everything=True, reason="reviewed", author=("Alice", "alice@example.com"))
    upgraded = run_once(config, FixedCollector(fleet("BucketNamespace"), "1.36.2"), []).report
    # The next runs read with the same SDK: the new field is still schema, not three drifts.
    for _ in range(2):
        later = run_once(config, FixedCollector(fleet("BucketNamespace"), "1.36.2"), []).report
        (finding,) = later.findings
        assert (finding.rule, finding.severity, finding.id) == (
            "provider-default-change",
            Severity.INFO,
            upgraded.findings[0].id,
        )
        assert finding.message.startswith(
            "botocore 1.35.0 -> 1.36.2 added BucketNamespace to every s3/bucket (3)"
        )
    # A key that appears later, with no upgrade in its run, is a change of settings.
    added = run_once(config, FixedCollector(fleet("BucketNamespace", "Owner"), "1.36.2"), []).report
    assert sorted(f.rule for f in added.findings) == ["baseline-drift"] * 3 + ["provider-default-change"]
    assert all("Owner" in f.message for f in added.findings if f.rule == "baseline-drift")


def test_a_security_group_opened_again_after_an_approved_fix_is_critical_and_first(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    ec2 = boto3.client("ec2", endpoint_url=aws, region_name="us-east-1")
    group = ec2.create_security_group(GroupName="app", Description="app servers")["GroupId"]
    world = [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=world)
    (name,) = buckets(aws, 1)
    config = str(state_repo / "driftwatch.toml")
    invoke("-c", config, "run")
    invoke(
        "-c", config, "approve", "--all", "--reason", "launch", "--author", "Bob Builder <bob@example.com>"
    )
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=world)
    invoke("-c", config, "run")
    fixed = invoke("-c", config, "approve", group, "--reason", "close 8080 (SEC-7)", "--author", APPROVER)
    assert fixed.exit_code == 0, fixed.stderr
    fix_commit = git(state_repo, "rev-parse", "HEAD").strip()
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=world)  # the fix undone
    make_public(aws, name)  # a critical finding that undoes no fix
    found = findings_of(invoke, config, "run")
    first = found[0]
    # Port 8080 is not an admin port: high when opened, critical when a fix is undone.
    assert (first["rule"], first["severity"]) == ("sg-open-to-world", "critical")
    assert first["reverted"]["commit"] == fix_commit
    assert first["message"].startswith(f"re-opened to the world (fixed on {datetime.now(UTC).date()}")
    assert ("s3-bucket-public", "critical") in [(f["rule"], f["severity"]) for f in found[1:]]
    text = invoke("-c", config, "check").stdout
    assert text.index("re-opened to the world") < text.index(f"bucket {name} is public")
