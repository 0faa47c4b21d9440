"""The console report: grouped by severity, with changes, gaps, and a first run summed up."""

from __future__ import annotations

from datetime import UTC, datetime

from driftwatch.model import (
    Change,
    CoverageGap,
    Finding,
    Notification,
    ResourceId,
    RunReport,
    Scope,
    Severity,
)
from driftwatch.notify.console import ConsoleNotifier

NOW = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
BUCKET = ResourceId("aws", "111122223333", "global", "s3/bucket", "example-web", "arn:aws:s3:::example-web")


def render(report: RunReport, threshold: Severity = Severity.LOW) -> str:
    out: list[str] = []
    ConsoleNotifier(out.append, threshold).notify(Notification.from_report(report))
    return "".join(out)


def report(*findings: Finding, gaps: tuple[CoverageGap, ...] = ()) -> RunReport:
    return RunReport("run-1", NOW, NOW, "/srv/state", "0123456789abcdef", 40, 2, findings, gaps)


def unapproved(i: int) -> Finding:
    identity = ResourceId("aws", "111122223333", "global", "s3/bucket", f"b{i:02}", f"arn:aws:s3:::b{i:02}")
    return Finding(
        "unapproved-resource",
        Severity.LOW,
        identity,
        f"s3/bucket b{i:02} has no approved baseline",
        "baseline",
    )


def test_findings_with_changes_and_gaps() -> None:
    change = Change(BUCKET, "PublicAccessBlock.BlockPublicAcls", True, False, "baseline")
    public = Finding(
        "s3-bucket-public",
        Severity.CRITICAL,
        BUCKET,
        "bucket example-web is public (read)",
        "baseline",
        (change,),
    )
    gap = CoverageGap(
        Scope("aws", "111122223333", "eu-west-1", "ec2/security-group"),
        "ec2.describe_security_groups",
        "denied",
        "UnauthorizedOperation",
        "not allowed",
    )
    text = render(report(public, unapproved(1), gaps=(gap,)), Severity.HIGH)
    assert text.splitlines()[0] == (
        "driftwatch run run-1: 40 resources read, 2 added, changed or removed since the previous run, "
        "commit 0123456789"
    )
    assert "1 finding(s) at or above high: 1 critical" in text
    assert "  [s3-bucket-public] arn:aws:s3:::example-web (111122223333, global) NEW" in text
    assert "    PublicAccessBlock.BlockPublicAcls: true -> false  [vs baseline]" in text
    assert "unapproved-resource" not in text
    assert (
        "  ! aws/111122223333/eu-west-1/ec2/security-group: ec2.describe_security_groups failed "
        "(denied: UnauthorizedOperation) not allowed"
    ) in text


def test_a_first_run_sums_up_unapproved_resources() -> None:
    few = render(report(*(unapproved(i) for i in range(3))))
    assert few.count("[unapproved-resource]") == 3
    many = render(report(*(unapproved(i) for i in range(40))))
    assert "[unapproved-resource]" not in many
    assert "40 resources have no approved baseline yet" in many
    assert "40 finding(s) at or above low: 40 low" in many


def test_no_findings() -> None:
    assert "No findings at or above medium. (1 below it.)" in render(report(unapproved(1)), Severity.MEDIUM)
