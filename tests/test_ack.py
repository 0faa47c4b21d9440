"""Acknowledgements: in force until the end of their day, then alerting again; only approvers' count."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from driftwatch.ack import ack_path, mark_acknowledged, read_acks
from driftwatch.approval import approved_view
from driftwatch.config import ApprovalSettings, Approver
from driftwatch.defaults import initial_files
from driftwatch.model import Finding, Notification, ResourceId, RunReport, Severity
from driftwatch.store import StateRepo, init_repo
from tests.conftest import Invoke, write_config
from tests.test_approval import APPROVERS, _key, commit_config
from tests.test_cli import APPROVER, git, seed

BUCKET = ResourceId("aws", "123456789012", "global", "s3/bucket", "site", "arn:aws:s3:::site")
PUBLIC = Finding("s3-bucket-public", Severity.CRITICAL, BUCKET, "bucket site is public (read)", "guardrail")
DRIFT = Finding("baseline-drift", Severity.MEDIUM, BUCKET, "1 setting(s) differ", "baseline")


def ack_file(finding: Finding, until: str) -> bytes:
    return json.dumps(
        {
            "finding": finding.id,
            "rule": finding.rule,
            "resource": finding.resource.key,
            "message": finding.message,
            "reason": "campaign site",
            "until": until,
            "by": "Alice Admin <alice@example.com>",
            "at": "2026-12-01T10:00:00+00:00",
        }
    ).encode()


def test_an_acknowledgement_holds_through_its_day_then_the_finding_alerts_again() -> None:
    acks = read_acks({ack_path(PUBLIC.id): ack_file(PUBLIC, "2026-12-03"), "baselines/acks/x.json": b"{"})
    assert list(acks) == [PUBLIC.id]  # the malformed one silences nothing
    now = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
    for today, acknowledged in ((date(2026, 12, 3), True), (date(2026, 12, 4), False)):
        findings = tuple(mark_acknowledged([PUBLIC, DRIFT], acks, today))
        report = RunReport("r", now, now, "/state", None, 1, 1, findings)
        alerted = [a.finding.rule for a in Notification.from_report(report).alerts]
        if acknowledged:
            assert (
                findings[0].acknowledged is not None
                and findings[0].acknowledged.by == "Alice Admin <alice@example.com>"
            )
            assert (alerted, [f.rule for f in report.at_least(Severity.INFO)]) == (
                ["baseline-drift"],
                ["baseline-drift"],
            )
            assert [f.rule for f in report.acknowledged] == ["s3-bucket-public"]
        else:
            assert findings[0].acknowledged is None
            assert alerted == ["s3-bucket-public", "baseline-drift"] and report.acknowledged == ()


def test_an_acknowledgement_committed_by_a_non_approver_does_not_count(tmp_path: Path) -> None:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    (repo / "baselines/acks").mkdir()
    (repo / ack_path(PUBLIC.id)).write_bytes(ack_file(PUBLIC, "2099-12-31"))
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Mallory", "-c", "user.email=mallory@example.com", "commit", "-qm", "ack")
    settings = ApprovalSettings((Approver("Alice Admin", "alice@example.com"),))
    view = approved_view(StateRepo(repo), settings)
    assert read_acks(view.files) == {}
    assert [u.reason for u in view.tampered[ack_path(PUBLIC.id)]] == [
        "mallory@example.com is not an approver"
    ]
    git(
        repo,
        "-c",
        "user.name=Alice Admin",
        "-c",
        "user.email=alice@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    (repo / ack_path(PUBLIC.id)).write_bytes(ack_file(PUBLIC, "2099-12-30"))
    git(repo, "-c", "user.name=Alice Admin", "-c", "user.email=alice@example.com", "commit", "-qam", "ack")
    view = approved_view(StateRepo(repo), settings)
    assert [a.until for a in read_acks(view.files).values()] == [date(2099, 12, 30)]


def test_check_config_names_a_malformed_acknowledgement(tmp_path: Path, invoke: Invoke) -> None:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    config = str(write_config(repo, None))
    (repo / "baselines/acks").mkdir()
    (repo / ack_path(PUBLIC.id)).write_bytes(ack_file(PUBLIC, "2099-12-31"))
    ok = invoke("-c", config, "check-config")
    assert ok.exit_code == 0
    assert ok.stdout.endswith("0 baseline file(s) and 1 acknowledgement(s) valid.\n")
    assert (
        ok.stderr
        == "driftwatch: warning: [approval] names no approvers: any commit to baselines/ counts as approved\n"
    )
    (repo / ack_path(PUBLIC.id)).write_bytes(ack_file(PUBLIC, "next week"))
    bad = invoke("-c", config, "check-config")
    assert (bad.exit_code, bad.stderr) == (
        1,
        f'driftwatch: {ack_path(PUBLIC.id)}: "until" or "at" is not a date: '
        "Invalid isoformat string: 'next week'\n",
    )


BOB = '\n[[approval.approvers]]\nname = "Bob"\nemail = "bob@example.com"\n'


def _a_finding(invoke: Invoke, config: str) -> dict[str, Any]:
    report = json.loads(invoke("-c", config, "check", "--format", "json").stdout)
    return next(f for f in report["findings"] if f["resource"] == "arn:aws:s3:::team-web")  # type: ignore[no-any-return]


def test_ack_with_two_person_names_its_reviewer(state_repo: Path, aws: str, invoke: Invoke) -> None:
    seed(aws)
    config = write_config(state_repo, aws, ("us-east-1",), APPROVERS + BOB)
    config.write_text(config.read_text().replace("two_person = false", "two_person = true"))
    commit_config(state_repo)
    assert invoke("-c", str(config), "run").exit_code == 0
    finding = _a_finding(invoke, str(config))
    ack = ("-c", str(config), "ack", finding["id"], "--reason", "known", "--until", "2099-12-31")
    alone = invoke(*ack, "--author", APPROVER)
    assert (alone.exit_code, alone.stderr) == (
        1,
        "driftwatch: [approval] two_person = true: name a second approver with --reviewed-by\n",
    )
    reviewed = invoke(*ack, "--author", APPROVER, "--reviewed-by", "Bob <bob@example.com>")
    assert reviewed.exit_code == 0 and reviewed.stderr == "", reviewed.stderr
    assert reviewed.stdout.endswith("it is not alerted until then.\n")
    assert "Reviewed-by: Bob <bob@example.com>" in git(state_repo, "log", "-1", "--format=%B")
    assert _a_finding(invoke, str(config))["acknowledged"]["by"] == APPROVER


def test_ack_says_when_its_commit_does_not_count(
    state_repo: Path, aws: str, invoke: Invoke, tmp_path: Path
) -> None:
    seed(aws)
    _, alice_pub = _key(tmp_path, "alice")
    eve_key, _ = _key(tmp_path, "eve")
    signed = APPROVERS + f'signing_keys = ["{alice_pub}"]\n'
    config = write_config(state_repo, aws, ("us-east-1",), signed)
    config.write_text(config.read_text().replace("require_signed = false", "require_signed = true"))
    commit_config(state_repo)
    assert invoke("-c", str(config), "run").exit_code == 0
    git(state_repo, "config", "gpg.format", "ssh")
    git(state_repo, "config", "user.signingkey", str(eve_key))
    finding = _a_finding(invoke, str(config))
    done = invoke(
        "-c",
        str(config),
        "ack",
        finding["id"],
        "--reason",
        "known",
        "--until",
        "2099-12-31",
        "--author",
        APPROVER,
    )
    assert done.exit_code == 0
    assert done.stdout.endswith("it is still alerted (see below).\n")
    commit = git(state_repo, "rev-parse", "--short=10", "HEAD").strip()
    assert done.stderr.startswith(
        f"driftwatch: warning: commit {commit} does not count as an approval: signed with a key that is not "
        "alice@example.com's"
    )
    assert _a_finding(invoke, str(config))["acknowledged"] is None
