"""The command line driven as a user would: init, run, approve, check, history, exit codes, messages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from driftwatch.cli import cli
from driftwatch.demo.walkthrough import prepare
from tests.conftest import Invoke, write_config
from tests.support.fake_credentials import slack_token
from tests.support.slack_server import running_slack_server

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
APPROVER = "Alice Admin <alice@example.com>"


def s3(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"})
    )


def seed(endpoint: str) -> None:
    client = s3(endpoint)
    for name in ("team-logs", "team-web"):
        client.create_bucket(Bucket=name)
        client.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    client.put_bucket_tagging(Bucket="team-logs", Tagging={"TagSet": [{"Key": "team", "Value": "ops"}]})
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    iam.create_user(UserName="alice")


def make_public(endpoint: str, name: str) -> None:
    client = s3(endpoint)
    client.delete_public_access_block(Bucket=name)
    client.put_bucket_policy(
        Bucket=name,
        Policy=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{name}/*",
                    }
                ]
            }
        ),
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_every_command_has_help_and_every_option_is_documented() -> None:
    for name, command in cli.commands.items():
        assert command.help, name
        assert f"`{name}" in README, f"command {name} is not in README"
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("--") and option != "--help":
                    assert option in README, f"{name} {option} is not documented in README"


def test_the_whole_flow(state_repo: Path, aws: str, invoke: Invoke) -> None:
    seed(aws)
    config = str(state_repo / "driftwatch.toml")
    first = invoke("-c", config, "run", "--fail-on", "high")
    assert first.exit_code == 0, first.stderr  # nothing high yet, only unapproved resources (low)
    assert "unapproved-resource" in first.stdout

    approved = invoke("-c", config, "approve", "--all", "--reason", "reviewed", "--author", APPROVER)
    assert approved.exit_code == 0, approved.stderr
    assert re.match(
        r"Approved \d+ resource\(s\) as Alice Admin <alice@example.com> in commit [0-9a-f]{10}\.",
        approved.stdout,
    )
    assert (
        git(state_repo, "log", "-1", "--format=%an|%(trailers:key=Approved-by,valueonly)").strip()
        == "Alice Admin|Alice Admin <alice@example.com>"
    )

    quiet = invoke("-c", config, "run")
    assert quiet.exit_code == 0
    assert "No findings at or above low." in quiet.stdout

    make_public(aws, "team-web")
    drift = invoke("-c", config, "run", "--format", "json")
    assert drift.exit_code == 2
    report = json.loads(drift.stdout)
    assert report["schema"] == "driftwatch.findings/1"
    assert report["resources_changed"] == 1
    rules = {(f["rule"], f["severity"], f["resource"], f["against"], f["new"]) for f in report["findings"]}
    assert rules == {
        ("s3-bucket-public", "critical", "arn:aws:s3:::team-web", "baseline", True),
        ("s3-public-access-block-weakened", "high", "arn:aws:s3:::team-web", "baseline", True),
    }
    public = next(f for f in report["findings"] if f["rule"] == "s3-bucket-public")
    assert set(public) == {
        "id",
        "rule",
        "severity",
        "resource",
        "resource_type",
        "resource_id",
        "account",
        "region",
        "against",
        "new",
        "message",
        "commit",
        "changes",
        "related",
        "known_change",
        "reverted",
        "acknowledged",
    }
    assert public["commit"] == git(state_repo, "rev-parse", "HEAD~1").strip()  # HEAD: the console told
    assert {c["path"] for c in public["changes"]} == {"Policy", "PolicyStatus", "PublicAccessBlock"}
    block = next(c for c in public["changes"] if c["path"] == "PublicAccessBlock")
    assert block["after"] is None and block["before"]["IgnorePublicAcls"] is True

    # check reads the stored state again: the same findings, now not new.
    check = invoke("-c", config, "check", "--format", "json", "--fail-on", "critical")
    assert check.exit_code == 2
    assert {(f["rule"], f["new"]) for f in json.loads(check.stdout)["findings"]} == {
        ("s3-bucket-public", True),
        ("s3-public-access-block-weakened", True),
    }
    assert invoke("-c", config, "check", "--fail-on", "critical").exit_code == 2

    history = invoke("-c", config, "history", "team-web")
    assert history.exit_code == 0
    lines = history.stdout
    assert "History of arn:aws:s3:::team-web" in lines
    assert "approval  Alice Admin <alice@example.com>" in lines
    assert 'PolicyStatus: null -> {"IsPublic":true}' in lines
    entries = json.loads(invoke("-c", config, "history", "team-web", "--format", "json").stdout)["entries"]
    assert [e["kind"] for e in entries] == ["snapshot", "approval", "snapshot"]
    assert git(state_repo, "log", "--format=%s").splitlines() == [
        "driftwatch: alerts delivered",  # to the console (its report is the JSON document)
        "driftwatch: 1 changed, 0 added, 0 removed (s3 1)",
        "driftwatch: alerts delivered",
        "driftwatch: settings verified, no change",  # the alert state: 8 findings resolved by approval
        "approve: 8 resource(s)",
        "driftwatch: alerts delivered",
        "driftwatch: 0 changed, 8 added, 0 removed (ec2 2, iam 3, s3 3)",
        "driftwatch: new state repository",
    ]


def test_approve_by_name_and_its_errors(state_repo: Path, aws: str, invoke: Invoke) -> None:
    seed(aws)
    config = str(state_repo / "driftwatch.toml")
    early = invoke("-c", config, "approve", "--all", "--reason", "ok", "--author", APPROVER)
    assert (early.exit_code, early.stderr.strip()) == (
        1,
        "driftwatch: no snapshot yet: run `driftwatch run` or `driftwatch collect` first",
    )
    assert invoke("-c", config, "collect").exit_code == 0
    by_name = invoke("-c", config, "approve", "team-logs", "--reason", "ok", "--author", APPROVER)
    assert by_name.stdout.startswith("Approved 1 resource(s)")
    assert (state_repo / "baselines/aws/123456789012/global/s3/bucket/team-logs.json").exists()
    assert git(state_repo, "log", "-1", "--format=%s").strip() == "approve: arn:aws:s3:::team-logs"
    again = invoke("-c", config, "approve", "arn:aws:s3:::team-logs", "--reason", "ok", "--author", APPROVER)
    assert again.stdout.startswith("Nothing to approve")
    unknown = invoke("-c", config, "approve", "nope", "--reason", "ok", "--author", APPROVER)
    assert (unknown.exit_code, unknown.stderr.strip()) == (
        1,
        "driftwatch: nope: no such resource (use its ARN, its id or its file path; "
        "`driftwatch check --format json` lists the resources with findings)",
    )
    account = invoke("-c", config, "approve", "account", "--reason", "ok", "--author", APPROVER)
    assert account.exit_code == 1 and "names 3 resources" in account.stderr
    nobody = invoke("-c", config, "approve", "team-web", "--reason", "ok")
    assert nobody.exit_code == 1 and "no approver identity" in nobody.stderr
    neither = invoke("-c", config, "approve", "--reason", "ok")
    assert (
        neither.exit_code == 1
        and "name the resources to approve, or pass --finding ID or --all" in neither.stderr
    )
    bad_author = invoke("-c", config, "approve", "team-web", "--reason", "ok", "--author", "alice")
    assert (
        bad_author.exit_code == 1 and "expected the form 'Jane Doe <jane@example.com>'" in bad_author.stderr
    )
    web = state_repo / "snapshots/aws/123456789012/global/s3/bucket/team-web.json"
    by_path = invoke("-c", config, "approve", str(web), "--reason", "ok", "--author", APPROVER)
    assert by_path.stdout.startswith("Approved 1 resource(s)"), by_path.stderr


def test_approving_public_access_lists_the_exceptions_and_partial_baselines_stay_partial(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    seed(aws)
    make_public(aws, "team-web")
    config = str(state_repo / "driftwatch.toml")
    assert invoke("-c", config, "run").exit_code == 2
    partial = state_repo / "baselines/aws/123456789012/global/s3/bucket/team-logs.json"
    partial.parent.mkdir(parents=True)
    snapshot = json.loads(
        (state_repo / "snapshots/aws/123456789012/global/s3/bucket/team-logs.json").read_text()
    )
    partial.write_text(
        json.dumps({"identity": snapshot["identity"], "partial": True, "config": {"Tags": {"team": "ops"}}})
    )
    git(state_repo, "add", str(partial))
    git(
        state_repo,
        "-c",
        "user.name=Alice Admin",
        "-c",
        "user.email=alice@example.com",
        "commit",
        "-qm",
        "pin tags",
    )
    approved = invoke(
        "-c", config, "approve", "--all", "--reason", "website is public on purpose", "--author", APPROVER
    )
    assert approved.exit_code == 0, approved.stderr
    assert "finding(s) are now approved exceptions and stop being reported:" in approved.stdout
    assert (
        "  [critical] s3-bucket-public arn:aws:s3:::team-web: bucket team-web is public (read)"
        in approved.stdout
    )
    assert "! [critical] s3-bucket-public arn:aws:s3:::team-web" in git(
        state_repo, "log", "-1", "--format=%B"
    )
    kept = json.loads(partial.read_text())
    assert (kept["config"], kept["partial"]) == ({"Tags": {"team": "ops"}}, True)
    # A deleted resource is approved by name: its baseline goes.
    s3(aws).delete_bucket(Bucket="team-logs")
    assert invoke("-c", config, "run").exit_code == 0  # only a medium baseline-drift: "was deleted"
    gone = invoke("-c", config, "approve", "team-logs", "--reason", "decommissioned", "--author", APPROVER)
    assert gone.stdout.startswith("Approved 0 resource(s), removed 1 baseline(s)"), gone.stderr
    assert not partial.exists()


def test_a_malformed_baseline_stops_the_check_but_keeps_the_snapshot(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    seed(aws)
    config = str(state_repo / "driftwatch.toml")
    bad = state_repo / "baselines/aws/123456789012/global/s3/bucket/team-logs.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"identity": {"provider": "aws",\n  "account": 1}\n')
    before_commit = invoke("-c", config, "check-config")  # the check to run before committing
    assert before_commit.exit_code == 1 and "line 3 column 1: not valid JSON" in before_commit.stderr
    git(state_repo, "add", str(bad))
    git(state_repo, "-c", "user.name=Al", "-c", "user.email=al@example.com", "commit", "-qm", "hand edit")
    result = invoke("-c", config, "run")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "driftwatch: baselines/aws/123456789012/global/s3/bucket/team-logs.json: "
        "line 3 column 1: not valid JSON (Expecting ',' delimiter)"
    )
    assert git(state_repo, "log", "-1", "--format=%s").startswith("driftwatch: 0 changed, 8 added")


def test_check_config(state_repo: Path, invoke: Invoke, tmp_path: Path) -> None:
    config = state_repo / "driftwatch.toml"
    ok = invoke("-c", str(config), "check-config")
    assert ok.exit_code == 0 and "valid" in ok.stdout
    config.write_text(config.read_text() + "\n[extra]\nkey = 1\n")
    bad = invoke("-c", str(config), "check-config")
    assert (bad.exit_code, bad.stderr.strip()) == (
        1,
        "driftwatch: driftwatch.toml: extra: unknown key "
        "(see config.example.toml for the keys this table takes)",
    )
    missing = invoke("-c", str(tmp_path / "none.toml"), "check-config")
    assert missing.exit_code == 1 and "no such config file" in missing.stderr
    guardrails = state_repo / "baselines/guardrails.toml"
    write_config(state_repo, None)
    guardrails.write_text("[rules.nope]\n")
    unknown_rule = invoke("-c", str(config), "check-config")
    assert unknown_rule.exit_code == 1
    assert unknown_rule.stderr.startswith("driftwatch: baselines/guardrails.toml: [rules.nope]: unknown rule")


def test_usage_errors_exit_1_not_2(invoke: Invoke) -> None:
    result = invoke("check", "--fail-on", "urgent")
    assert result.exit_code == 1
    assert "Invalid value for '--fail-on'" in result.stderr


def test_a_locked_repository_is_refused_with_one_line(state_repo: Path, invoke: Invoke) -> None:
    from driftwatch.store import StateRepo

    with StateRepo(state_repo).lock():
        result = invoke("-c", str(state_repo / "driftwatch.toml"), "run")
    assert result.exit_code == 1
    assert re.fullmatch(
        r"driftwatch: .*: another driftwatch process \(pid \d+\) is using this state repository; "
        r"wait for it to finish or stop it\n",
        result.stderr,
    )


def test_slack_digest_reaches_the_channel_and_a_missing_token_loses_nothing(
    state_repo: Path, aws: str, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(aws)
    make_public(aws, "team-web")
    with running_slack_server(valid_tokens=(slack_token("test"),)) as slack:
        write_config(
            state_repo,
            aws,
            extra=f'''
[[notify]]
type = "slack"
channel = "#drift"
token_env = "TEST_SLACK_TOKEN"
base_url = "{slack.base_url}"
min_severity = "high"
''',
        )
        config = str(state_repo / "driftwatch.toml")
        no_token = invoke("-c", config, "run")
        assert no_token.exit_code == 2
        assert (
            "notifier not available: [[notify]] #2 (slack #drift): the environment variable "
            "TEST_SLACK_TOKEN is not set"
        ) in no_token.stderr
        assert git(state_repo, "log", "-1", "--format=%s").startswith(
            "driftwatch: alerts delivered, not by every"
        )
        assert git(state_repo, "log", "-1", "--format=%s", "HEAD~1").startswith(
            "driftwatch: 0 changed, 7 added"
        )
        assert slack.messages == []

        monkeypatch.setenv("TEST_SLACK_TOKEN", slack_token("test"))
        make_public(aws, "team-logs")
        sent = invoke("-c", config, "run")
        assert sent.exit_code == 2, sent.stderr
        (message,) = slack.messages
        assert message["channel"] == "#drift"
        text = json.dumps(message["blocks"])
        assert "arn:aws:s3:::team-logs" in text and "arn:aws:s3:::team-web" in text
        assert "unapproved-resource" not in text  # below the notifier's min_severity

        monkeypatch.setenv("TEST_SLACK_TOKEN", slack_token("wrong"))
        s3(aws).create_bucket(Bucket="team-new")
        make_public(aws, "team-new")
        refused = invoke("-c", config, "run")
        assert "notifier failed (the snapshot is kept)" in refused.stderr and "invalid_auth" in refused.stderr
        assert slack_token("wrong") not in refused.stderr + refused.stdout


def test_demo_tells_the_story(tmp_path: Path, invoke: Invoke) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driftwatch", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "[s3-bucket-public] arn:aws:s3:::acme-prod-invoices",
        "[s3-public-access-block-weakened] arn:aws:s3:::acme-prod-invoices",
        "[iam-user-mfa-missing] arn:aws:iam::123456789012:user/humans/carol.diaz",
        "[baseline-drift] arn:aws:iam::123456789012:group/Finance",
        "[baseline-drift] arn:aws:iam::123456789012:policy/acme-ops-runbooks",
        "[baseline-drift] arn:aws:s3:::acme-data-lake-raw",
        "[unapproved-resource] arn:aws:s3:::acme-tmp-data-export",
        'Tags.cost-center: "CC-2040" -> "CC-2045"',
        "[docs-anyone-with-the-link] saas:docs:global:docs/workspace/acme",
        'sharing.default_link_access: "organization" -> "anyone_with_link"',
        "[iam-role-trust-external] arn:aws:iam::123456789012:role/acme-support-access",
        "[iam-password-policy-weakened] aws:123456789012:global:iam/password-policy/account",
        "[cloudtrail-logging-off] arn:aws:cloudtrail:us-east-1:123456789012:trail/acme-org-audit",
        "[rds-public] arn:aws:rds:us-east-1:123456789012:db:acme-orders-db",
        "Rotation.KeyRotationEnabled: true -> false",
    ):
        assert expected in out
    assert re.search(r"\[sg-open-to-world\] arn:aws:ec2:eu-west-1:123456789012:security-group/sg-\w+", out)
    for expected in (  # one misconfiguration of each regional type
        "[plaintext-secret] arn:aws:lambda:us-east-1:123456789012:function:acme-orders-api",
        "environment variable PAYMENT_API_KEY holds a secret in plain text",
        "[lambda-url-public] arn:aws:lambda:us-east-1:123456789012:function:acme-orders-api",
        "[ec2-defaults-weakened] aws:123456789012:eu-west-1:ec2/account-settings/account",
        "[sns-topic-public] arn:aws:sns:us-east-1:123456789012:acme-security-alerts",
        "[sqs-queue-public] arn:aws:sqs:us-east-1:123456789012:acme-order-events",
        "[config-recorder-off] aws:123456789012:us-east-1:config/recorders/account",
        "[guardduty-off] aws:123456789012:us-east-1:guardduty/detectors/account",
    ):
        assert expected in out
    assert re.search(r"\[ebs-snapshot-public\] arn:aws:ec2:eu-west-1::snapshot/snap-\w+", out)
    assert re.search(r"\[ami-public\] arn:aws:ec2:us-east-1::image/ami-\w+", out)
    assert "[rds-tls-not-required] arn:aws:rds:us-east-1:123456789012:cluster:" in out
    assert re.search(r"\[ec2-imdsv1-enabled\] arn:aws:ec2:us-east-1:123456789012:instance/i-\w+", out)
    # The undone fix comes first, named with the approval that had fixed it.
    assert re.search(
        r"CRITICAL\n  \[s3-bucket-public\] arn:aws:s3:::acme-legacy-ftp-mirror .*\n"
        r"    reverted to public \(fixed on \d{4}-\d\d-\d\d in [0-9a-f]{7} by Sam Security\)",
        out,
    )
    # AWS's (simulated) default encryption is one item for the six buckets, not six alerts.
    assert "[provider-default-change] aws:123456789012:*:s3/bucket/*" in out
    assert "the same change on 6 of 30 s3/bucket in one run (Encryption). Matches a known provider" in out
    assert (
        "affects 6: acme-ci-cache, acme-dev-scratch, acme-eu-staging-uploads, acme-legacy-ftp-mirror" in out
    )
    assert 'PeerDescriptions["ingress tcp/22 0.0.0.0/0"]: null -> "temporary: vendor debugging"' in out
    # The alerts of runs 2, 3 and 4: new drift once, silence while unchanged, resolved after revert.
    second, third, fourth = (
        out.split("== Run 2")[1].split("== Run 3")[0],
        *out.split("== Run 3")[1].split("== Run 4"),
    )
    # Counts depend on how much drift the demo applies; the story does not.
    new = re.search(r"  \| # driftwatch: (\d+) new, 1 reopened, 1 resolved\n", second)
    assert new and int(new.group(1)) >= 5
    assert "  | • :repeat: reopened · *s3-bucket-public* (against the baseline): reverted to public" in second
    # The Slack digest shows the undone fix and AWS's (simulated) default change, each as one item.
    digest = "\n".join(line for line in second.splitlines() if line.startswith("  | "))
    digest = digest.split("  | (in a thread under the digest)")[0]  # the digest, not its threads
    assert digest.count("reverted to public") == 1
    assert digest.count("*provider-default-change*") == 1 and digest.count("Encryption: null -> ") == 1
    assert (
        "  | • :new: new · *provider-default-change* (since the previous run): the same change on 6 of 30 "
        "s3/bucket in one run (Encryption). Matches a known provider default change" in digest
    )
    group_id = re.search(r"Approve as intended: `driftwatch approve --finding (\w+) --reason", digest)
    assert group_id
    critical = second.split(":rotating_light: *CRITICAL* (")[1].split(")")[0]
    assert second.count("(in a thread under the digest)") == int(critical)  # one per critical finding
    still = re.search(
        r"Slack #drift-alerts: no message \(nothing new, nothing resolved; (\d+) still open\)", third
    )
    assert still and int(still.group(1)) >= int(new.group(1))
    assert "  | # driftwatch: 5 resolved\n" in fourth
    assert (
        "*acme-prod-invoices*  arn:aws:s3:::acme-prod-invoices · *s3-bucket-public* (critical): changed back"
        in fourth
    )
    assert (
        "*acme-tmp-data-export*  arn:aws:s3:::acme-tmp-data-export · *unapproved-resource* (low): approved"
        in fourth
    )
    assert re.search(r"  \| :white_check_mark: 5 resolved · \d+ still open, not repeated\n", fourth)
    assert (
        "Still open, not repeated until the daily reminder: s3-bucket-public on acme-legacy-ftp-mirror"
        in fourth
    )
    assert "iam-user-mfa-missing on carol.diaz" in fourth
    log = git(tmp_path / "demo", "log", "--format=%an|%s").splitlines()
    assert log[0] == log[3] == "driftwatch|driftwatch: alerts delivered"
    assert [line.split("|")[0] for line in log] == [
        "driftwatch",  # run 4's notices delivered
        "driftwatch",  # run 4 (run 3 changed nothing and told nothing: no commit)
        "Alex Admin",
        "driftwatch",  # run 2's notices delivered
        "driftwatch",  # run 2
        "Sam Security",
        "driftwatch",
        "Alex Admin",
        "driftwatch",
        "driftwatch",
    ]
    assert log[4].split("|")[1] == (
        "driftwatch: 28 changed, 1 added, 0 removed (ami 1, cloudtrail 1, config 1, docs 1, ebs 1, ec2 3, "
        "guardduty 1, iam 5, kms 1, lambda 1, rds 2, s3 9, sns 1, sqs 1)"
    )
    # Approving the encryption group as the digest says approves only the encryption: the bucket
    # whose fix was undone is still public, and still reported.
    config = str(tmp_path / "demo" / "driftwatch.toml")
    approved = invoke(
        "-c",
        config,
        "approve",
        "--finding",
        group_id.group(1),
        "--reason",
        "AWS default",
        "--author",
        APPROVER,
    )
    assert approved.exit_code == 0, approved.stderr
    assert "Only the fleet-wide change (Encryption) is approved on 6 of them" in approved.stdout
    checked = invoke("-c", config, "check", "--format", "json")
    still = [(f["rule"], f["resource"]) for f in json.loads(checked.stdout)["findings"]]
    assert ("s3-bucket-public", "arn:aws:s3:::acme-legacy-ftp-mirror") in still
    assert "provider-default-change" not in [rule for rule, _ in still]
    git(tmp_path / "demo", "reset", "-q", "--hard", "HEAD~1")  # the story's history, as the demo left it
    leaked = "demo-only-not-a-real-key-7f3a"  # account_data.LEAKED_SECRET_VALUE
    assert leaked not in out + result.stderr + git(tmp_path / "demo", "log", "-p")
    assert git(tmp_path / "demo", "status", "--porcelain") == ""  # the demo leaves a clean repository
    prepare(tmp_path / "demo")  # a second demo replaces the first (running it twice costs a minute)
    assert not (tmp_path / "demo").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/keep.txt").write_text("mine\n")
    refused = subprocess.run(
        [sys.executable, "-m", "driftwatch", "demo", "--dir", str(tmp_path / "mine")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert refused.returncode == 1 and "was not made by the demo" in refused.stderr
    assert (tmp_path / "mine/keep.txt").read_text() == "mine\n"


def test_check_agrees_with_the_last_run_about_what_is_new(state_repo: Path, aws: str, invoke: Invoke) -> None:
    seed(aws)
    config = str(state_repo / "driftwatch.toml")
    nothing = invoke("-c", config, "check")
    assert (nothing.exit_code, nothing.stderr.strip()) == (
        1,
        f"driftwatch: {state_repo}: no snapshot yet: run `driftwatch run` or `driftwatch collect` first",
    )
    first = json.loads(invoke("-c", config, "run", "--format", "json").stdout)
    checked = json.loads(invoke("-c", config, "check", "--format", "json").stdout)
    assert checked["run_id"] == first["run_id"]
    assert checked["resources_changed"] == first["resources_changed"] == 8
    assert [f["new"] for f in checked["findings"]] == [f["new"] for f in first["findings"]] == [True] * 8
    second = json.loads(invoke("-c", config, "run", "--format", "json").stdout)
    checked = json.loads(invoke("-c", config, "check", "--format", "json").stdout)
    assert second["resources_changed"] == checked["resources_changed"] == 0
    assert not any(f["new"] for f in second["findings"]) and not any(f["new"] for f in checked["findings"])


def test_history_of_a_deleted_resource_with_approval_reasons(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    seed(aws)
    config = str(state_repo / "driftwatch.toml")
    invoke("-c", config, "run")
    invoke("-c", config, "approve", "team-logs", "--reason", "logs bucket reviewed", "--author", APPROVER)
    client = s3(aws)
    client.delete_public_access_block(Bucket="team-logs")
    client.delete_bucket_tagging(Bucket="team-logs")
    client.delete_bucket(Bucket="team-logs")
    invoke("-c", config, "run")
    result = invoke("-c", config, "history", "arn:aws:s3:::team-logs")
    assert result.exit_code == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert lines[0] == "History of arn:aws:s3:::team-logs"
    assert lines[2:] == [
        "driftwatch: 0 changed, 8 added, 0 removed (ec2 2, iam 3, s3 3)",
        "(resource first recorded)",
        lines[4],
        "approve: arn:aws:s3:::team-logs",
        "Reason: logs bucket reviewed",
        "(resource first recorded)",
        lines[8],
        "driftwatch: 0 changed, 0 added, 1 removed (s3 1)",
        "(resource deleted)",
    ]
    assert "approval  Alice Admin <alice@example.com>" in lines[4]
    entries = json.loads(invoke("-c", config, "history", "team-logs", "--format", "json").stdout)["entries"]
    assert [(e["kind"], e["reason"]) for e in entries] == [
        ("snapshot", None),
        ("approval", "logs bucket reviewed"),
        ("snapshot", None),
    ]


def test_settings_added_since_a_full_approval_are_drift(state_repo: Path, aws: str, invoke: Invoke) -> None:
    seed(aws)
    config = str(state_repo / "driftwatch.toml")
    invoke("-c", config, "run")
    invoke("-c", config, "approve", "--all", "--reason", "reviewed", "--author", APPROVER)
    iam = boto3.client("iam", endpoint_url=aws, region_name="us-east-1")
    iam.put_user_policy(
        UserName="alice",
        PolicyName="backdoor",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    s3(aws).put_bucket_versioning(Bucket="team-web", VersioningConfiguration={"Status": "Enabled"})
    s3(aws).put_bucket_tagging(
        Bucket="team-logs",
        Tagging={"TagSet": [{"Key": "team", "Value": "ops"}, {"Key": "owner", "Value": "eve"}]},
    )
    report = json.loads(invoke("-c", config, "run", "--format", "json").stdout)
    drift = {
        f["resource"]: [(c["path"], c["before"], c["after"]) for c in f["changes"]]
        for f in report["findings"]
        if f["rule"] == "baseline-drift"
    }
    assert drift == {
        "arn:aws:iam::123456789012:user/alice": [
            (
                "InlinePolicies.backdoor",
                None,
                {
                    "Statement": [{"Action": ["*"], "Effect": "Allow", "Resource": ["*"]}],
                    "Version": "2012-10-17",
                },
            )
        ],
        "arn:aws:s3:::team-web": [("Versioning.Status", None, "Enabled")],
        "arn:aws:s3:::team-logs": [("Tags.owner", None, "eve")],
    }


def test_history_survives_a_malformed_file_in_the_past(state_repo: Path, aws: str, invoke: Invoke) -> None:
    seed(aws)
    config = str(state_repo / "driftwatch.toml")
    invoke("-c", config, "run")
    invoke("-c", config, "approve", "team-logs", "--reason", "ok", "--author", APPROVER)
    baseline = state_repo / "baselines/aws/123456789012/global/s3/bucket/team-logs.json"
    good = baseline.read_text()
    author = ("-c", "user.name=Al", "-c", "user.email=al@example.com")
    baseline.write_text("{not json")
    git(state_repo, *author, "commit", "-qam", "broken")
    baseline.write_text(good)
    git(state_repo, *author, "commit", "-qam", "fixed")
    result = invoke("-c", config, "history", "team-logs")
    assert result.exit_code == 0, result.stderr
    assert (
        '(unreadable): null -> "baselines/aws/123456789012/global/s3/bucket/team-logs.json at commit'
        in result.stdout
    )
