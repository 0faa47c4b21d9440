"""Routing: [[notify]] entries with severities and filters send each finding to the right Slack channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from driftwatch.config import NotifyFilter
from driftwatch.model import CoverageGap, Finding, Notification, ResourceId, RunReport, Scope, Severity
from driftwatch.notify.route import select
from tests.conftest import Invoke, write_config
from tests.support.fake_credentials import slack_token
from tests.support.slack_server import running_slack_server
from tests.test_cli import APPROVER, make_public, s3, seed

TOKEN = slack_token("routing")


def rules_in(message: dict[str, Any]) -> set[tuple[str, str]]:
    """(rule, resource name) of each finding in a digest, read from its blocks."""
    found = set()
    for rule in ("s3-bucket-public", "s3-public-access-block-weakened", "baseline-drift"):
        for bucket in ("team-web", "team-logs"):
            block = next((b for b in message["blocks"] if f"arn:aws:s3:::{bucket}" in json.dumps(b)), None)
            if block is not None and rule in json.dumps(block):
                found.add((rule, bucket))
    return found


def test_critical_findings_go_to_on_call_and_the_rest_to_review(
    state_repo: Path, aws: str, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(aws)
    monkeypatch.setenv("SLACK_ROUTING_TOKEN", TOKEN)
    with running_slack_server(valid_tokens=[TOKEN], channels=["#oncall", "#review", "#web-team"]) as slack:
        entries = "".join(
            f'''
[[notify]]
type = "slack"
token_env = "SLACK_ROUTING_TOKEN"
base_url = "{slack.base_url}"
{body}
'''
            for body in (
                'channel = "#oncall"\nmin_severity = "critical"',
                'channel = "#review"\nmin_severity = "medium"\nmax_severity = "high"',
                'channel = "#web-team"\nresources = ["arn:aws:s3:::team-w*"]\n'
                'rules = ["s3-bucket-public", "baseline-drift"]',
            )
        )
        write_config(state_repo, aws, extra=entries)
        config = str(state_repo / "driftwatch.toml")
        assert invoke("-c", config, "run").exit_code == 0  # only unapproved resources: low
        assert slack.messages == []  # #web-team takes low findings, but not of that rule
        assert invoke("-c", config, "approve", "--all", "--reason", "ok", "--author", APPROVER).exit_code == 0

        make_public(aws, "team-web")  # critical s3-bucket-public and high access block weakened
        s3(aws).put_bucket_tagging(Bucket="team-logs", Tagging={"TagSet": [{"Key": "team", "Value": "dev"}]})
        result = invoke("-c", config, "run")
        assert result.exit_code == 2, result.stderr
        assert "notifier failed" not in result.stderr

    sent = {m["channel"]: rules_in(m) for m in slack.messages}
    assert sent == {
        "#oncall": {("s3-bucket-public", "team-web")},
        "#review": {("s3-public-access-block-weakened", "team-web"), ("baseline-drift", "team-logs")},
        "#web-team": {("s3-bucket-public", "team-web")},
    }


ACCOUNT, OTHER = "111122223333", "444455556666"
WHEN = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def finding(rule: str, severity: Severity, account: str, name: str) -> Finding:
    resource = ResourceId("aws", account, "global", "s3/bucket", name, f"arn:aws:s3:::{name}")
    return Finding(rule, severity, resource, "m", "baseline")


def test_select_applies_every_part_of_the_filter_to_findings_and_accounts_to_gaps() -> None:
    findings = (
        finding("s3-bucket-public", Severity.CRITICAL, ACCOUNT, "prod-data"),
        finding("baseline-drift", Severity.MEDIUM, ACCOUNT, "prod-logs"),
        finding("baseline-drift", Severity.MEDIUM, OTHER, "prod-other"),
        finding("unapproved-resource", Severity.LOW, ACCOUNT, "dev-scratch"),
    )
    gaps = tuple(
        CoverageGap(Scope("aws", account, "global", "s3/bucket"), "s3.list_buckets", "denied", "Denied", "")
        for account in (ACCOUNT, OTHER)
    )
    report = RunReport("r", WHEN, WHEN, "/state", None, 4, 4, findings, gaps)

    notification = Notification.from_report(report)

    def names(routing: NotifyFilter) -> tuple[list[str], list[str]]:
        chosen = select(notification, routing)
        found = [f.resource.id for f in chosen.report.findings]
        # What is news is cut the same way as the run's findings and gaps.
        assert [a.finding.resource.id for a in chosen.alerts] == found
        assert [n.gap for n in chosen.gaps] == list(chosen.report.gaps)
        return found, [g.scope.account for g in chosen.report.gaps]

    everything = ["prod-data", "prod-logs", "prod-other", "dev-scratch"]
    assert names(NotifyFilter()) == (everything, [ACCOUNT, OTHER])
    assert names(NotifyFilter(max_severity=Severity.HIGH))[0] == ["prod-logs", "prod-other", "dev-scratch"]
    assert names(NotifyFilter(rules=("baseline-drift",))) == (["prod-logs", "prod-other"], [ACCOUNT, OTHER])
    assert names(NotifyFilter(accounts=(OTHER,))) == (["prod-other"], [OTHER])
    assert names(NotifyFilter(resources=("arn:aws:s3:::prod-*",), accounts=(ACCOUNT,))) == (
        ["prod-data", "prod-logs"],
        [ACCOUNT],
    )
    assert names(NotifyFilter(resources=("*:::PROD-*",)))[0] == []  # patterns are case-sensitive, like ARNs
