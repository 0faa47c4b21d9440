"""Alerts over consecutive runs, through the CLI, moto and the loopback Slack: news once, then silence."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from driftwatch.layout import ALERT_STATE
from driftwatch.links import commit_url
from tests.conftest import Invoke, write_config
from tests.support.fake_credentials import slack_token
from tests.support.slack_server import running_slack_server
from tests.test_cli import APPROVER, git, make_public, s3, seed
from tests.test_remote import admin_commits_during_next_push, share
from tests.test_remote import git as operator_git

TOKEN = slack_token("alerts")


def texts(message: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in message["blocks"] if isinstance(b.get("text"), dict))


def revert(endpoint: str, name: str) -> None:
    client = s3(endpoint)
    client.delete_bucket_policy(Bucket=name)
    client.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def test_new_drift_once_silence_while_unchanged_resolved_after_revert(
    state_repo: Path, aws: str, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(aws)
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    with running_slack_server(valid_tokens=[TOKEN]) as slack:
        path = write_config(
            state_repo,
            aws,
            extra=f"""
[[notify]]
type = "slack"
channel = "#drift"
token_env = "TEST_SLACK_TOKEN"
base_url = "{slack.base_url}"
min_severity = "medium"
thread_details = true
""",
        )
        pattern = 'commit_url = "https://git.example.com/ops/state/commit/{commit}"'
        path.write_text(path.read_text().replace('commit_url = ""', pattern))
        config = str(path)
        assert invoke("-c", config, "run").exit_code == 0  # only unapproved resources (low)
        assert slack.messages == []
        assert invoke("-c", config, "approve", "--all", "--reason", "ok", "--author", APPROVER).exit_code == 0

        make_public(aws, "team-web")
        assert invoke("-c", config, "run").exit_code == 2
        digest, thread = slack.messages
        head = git(state_repo, "rev-parse", "HEAD~1").strip()  # the snapshot's commit; HEAD records delivery
        assert (
            digest["text"]
            == f"driftwatch run {run_id(state_repo)}: 2 new (1 critical, 1 high); commit {head[:7]}"
        )
        body = texts(digest)
        assert f"<https://git.example.com/ops/state/commit/{head}|`{head[:7]}`>" in body
        assert "• :new: new · *s3-bucket-public* (against the baseline): bucket team-web is public" in body
        assert 'Approve as intended: `driftwatch approve arn:aws:s3:::team-web --reason "..."`' in body
        assert "PublicAccessBlock: {" in body and "-> null" in body
        assert thread["thread_ts"] == slack.requests[-2].response["ts"]
        assert texts(thread).startswith(
            ":rotating_light: *CRITICAL* · *s3-bucket-public* on *team-web* (new)"
        )

        # The alert state went into the snapshot's commit, so a restart (a new process) keeps it,
        # and the delivery was recorded after the messages were posted.
        assert ALERT_STATE in git(state_repo, "show", "--name-only", "--format=", "HEAD~1").split()
        assert git(state_repo, "log", "-1", "--format=%s") == "driftwatch: alerts delivered\n"
        body = git(state_repo, "log", "-1", "--format=%b", "HEAD~1")
        assert "Alerts: 2 new, 7 resolved; 2 open" in body  # 7 unapproved resources were approved
        assert "resolved: [low] unapproved-resource arn:aws:s3:::team-web (approved)\n" in body
        state = json.loads((state_repo / ALERT_STATE).read_text())
        assert sorted(f["rule"] for f in state["findings"].values() if f["status"] == "open") == [
            "s3-bucket-public",
            "s3-public-access-block-weakened",
        ]

        commits = git(state_repo, "rev-list", "--count", "HEAD")
        assert invoke("-c", config, "run").exit_code == 2  # still open: exit code as before
        assert len(slack.messages) == 2  # silence while unchanged
        assert git(state_repo, "rev-list", "--count", "HEAD") == commits  # and no commit

        revert(aws, "team-web")
        assert invoke("-c", config, "run").exit_code == 0
        resolved = slack.messages[2]
        assert resolved["text"].startswith(f"driftwatch run {run_id(state_repo)}: 2 resolved; commit ")
        body = texts(resolved)
        assert ":white_check_mark: *RESOLVED* (2)" in body
        assert (
            "*team-web*  arn:aws:s3:::team-web · *s3-bucket-public* (critical): changed back in the account"
            in body
        )
        assert len(slack.messages) == 3  # no thread for resolved findings

        assert git(state_repo, "log", "-1", "--format=%s") == "driftwatch: alerts delivered\n"
        assert invoke("-c", config, "run").exit_code == 0
        assert len(slack.messages) == 3


def test_a_refused_token_is_reported_once_and_the_news_is_told_at_the_next_run(
    state_repo: Path, aws: str, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(aws)
    with running_slack_server(valid_tokens=[TOKEN]) as slack:
        config = str(
            write_config(
                state_repo,
                aws,
                extra=f"""
[[notify]]
type = "slack"
channel = "#drift"
token_env = "TEST_SLACK_TOKEN"
base_url = "{slack.base_url}"
min_severity = "high"
""",
            )
        )
        make_public(aws, "team-web")
        monkeypatch.setenv("TEST_SLACK_TOKEN", slack_token("revoked"))
        refused = invoke("-c", config, "run")
        assert refused.exit_code == 2
        errors = [line for line in refused.stderr.splitlines() if "notifier failed" in line]
        assert errors == [
            "driftwatch: notifier failed (the snapshot is kept): slack: Slack chat.postMessage to channel "
            "#drift failed with invalid_auth: check the token in the environment variable named by "
            "[[notify]] token_env"
        ]
        assert len(slack.requests) == 1 and slack.messages == []
        # The console (the config's first notifier) got the news; Slack's stays pending.
        assert (
            git(state_repo, "log", "-1", "--format=%s")
            == "driftwatch: alerts delivered, not by every notifier\n"
        )
        assert "Not delivered, told again next run:\n- slack: Slack chat.postMessage" in git(
            state_repo, "log", "-1", "--format=%b"
        )
        state = json.loads(git(state_repo, "show", f"HEAD:{ALERT_STATE}"))
        critical = [f["pending"] for f in state["findings"].values() if f["severity"] == "critical"]
        assert critical == [{"slack #drift": "new"}]

        monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
        assert invoke("-c", config, "run").exit_code == 2
        [message] = slack.messages
        assert message["text"].startswith("driftwatch run ")
        assert ": 1 new (1 critical)" in message["text"]
        assert "*team-web*  arn:aws:s3:::team-web" in texts(message)


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("https://github.com/acme/drift-state.git", "https://github.com/acme/drift-state/commit/abc123"),
        ("git@github.com:acme/drift-state.git", "https://github.com/acme/drift-state/commit/abc123"),
        ("ssh://git@github.com/acme/drift-state", "https://github.com/acme/drift-state/commit/abc123"),
        (
            "https://gitlab.com/acme/sec/drift-state.git",
            "https://gitlab.com/acme/sec/drift-state/-/commit/abc123",
        ),
        ("git@gitlab.example.com:acme/state.git", "https://gitlab.example.com/acme/state/-/commit/abc123"),
        ("ssh://git@gitlab.com:2222/acme/state.git", "https://gitlab.com/acme/state/-/commit/abc123"),
        ("https://token@github.com/acme/state", "https://github.com/acme/state/commit/abc123"),
        ("/srv/git/state.git", None),
        ("git@bitbucket.org:acme/state.git", None),
    ],
)
def test_commit_links_from_the_remote(remote: str, url: str | None) -> None:
    assert commit_url(remote, "abc123") == url


def test_a_configured_pattern_wins_over_the_remote() -> None:
    pattern = "https://gitea.example.com/ops/state/commit/{commit}"
    assert (
        commit_url("git@github.com:a/b.git", "abc", pattern)
        == "https://gitea.example.com/ops/state/commit/abc"
    )
    assert commit_url(None, None, pattern) is None


def run_id(repo: Path) -> str:
    return str(json.loads((repo / ".driftwatch" / "last-run.json").read_text())["run_id"])


SLACK_ENTRY = """
[[notify]]
type = "slack"
channel = "{channel}"
token_env = "{token_env}"
base_url = "{base_url}"
min_severity = "high"
"""


def test_a_push_whose_rebase_conflicts_still_tells_the_alerts(
    state_repo: Path, aws: str, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed(aws)
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    with running_slack_server(valid_tokens=[TOKEN]) as slack:
        path = write_config(
            state_repo,
            aws,
            extra=SLACK_ENTRY.format(channel="#drift", token_env="TEST_SLACK_TOKEN", base_url=slack.base_url),
        )
        path.write_text(path.read_text().replace("attempts = 3\nbackoff = 2.0", "attempts = 2\nbackoff = 0"))
        config = str(path)
        operator_git(state_repo, "commit", "-q", "-am", "config for this account")
        remote, admin = share(state_repo, tmp_path)
        assert invoke("-c", config, "run").exit_code == 0
        # The admin edits alert-state.json (what the collector writes) and pushes it while the
        # collector's next run is under way.
        state = json.loads((state_repo / ALERT_STATE).read_text())
        edited = json.dumps({**state, "findings": {}}, indent=2) + "\n"
        admin_commits_during_next_push(remote, admin, ALERT_STATE, edited, "edit the alert state by hand")

        make_public(aws, "team-web")
        conflicted = invoke("-c", config, "run")
        assert conflicted.exit_code == 2, conflicted.stderr
        assert f"{ALERT_STATE} changed on both sides" in conflicted.stderr
        [message] = slack.messages  # told in this run, from the local commit
        assert ": 2 new (1 critical, 1 high)" in message["text"]
        assert "*team-web*  arn:aws:s3:::team-web" in texts(message)
        # Nothing is marked delivered before it was: the snapshot commit keeps the notice pending,
        # and a later commit records the delivery.
        pending = json.loads(git(state_repo, "show", f"HEAD~1:{ALERT_STATE}"))
        delivered = json.loads(git(state_repo, "show", f"HEAD:{ALERT_STATE}"))
        public = next(k for k, f in pending["findings"].items() if f["rule"] == "s3-bucket-public")
        assert pending["findings"][public]["pending"] == {"console": "new", "slack #drift": "new"}
        assert delivered["findings"][public]["pending"] == {}
        assert git(state_repo, "log", "-1", "--format=%s") == "driftwatch: alerts delivered\n"


def test_each_notifier_is_told_each_notice_once_and_a_failing_one_gets_its_own_once_fixed(
    state_repo: Path, aws: str, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(aws)
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    monkeypatch.setenv("BROKEN_SLACK_TOKEN", slack_token("revoked"))
    with running_slack_server(valid_tokens=[TOKEN]) as slack:
        config = str(
            write_config(
                state_repo,
                aws,
                extra=SLACK_ENTRY.format(channel="#ok", token_env="TEST_SLACK_TOKEN", base_url=slack.base_url)
                + SLACK_ENTRY.format(
                    channel="#broken", token_env="BROKEN_SLACK_TOKEN", base_url=slack.base_url
                ),
            )
        )
        assert invoke("-c", config, "run").exit_code == 0
        assert invoke("-c", config, "approve", "--all", "--reason", "ok", "--author", APPROVER).exit_code == 0

        def posted(channel: str) -> list[str]:
            return [m["text"].split(": ", 1)[1] for m in slack.messages if m["channel"] == channel]

        make_public(aws, "team-web")
        drift = invoke("-c", config, "run")
        assert drift.exit_code == 2
        assert "stay pending in alert-state.json for the notifiers that failed" in drift.stderr
        assert posted("#ok") == ["2 new (1 critical, 1 high); commit " + head(state_repo, "HEAD~1")]
        assert invoke("-c", config, "run").exit_code == 2  # #broken still fails: #ok hears nothing again
        assert len(posted("#ok")) == 1
        revert(aws, "team-web")
        assert invoke("-c", config, "run").exit_code == 0
        assert posted("#ok")[1] == "2 resolved; commit " + head(state_repo, "HEAD~1")
        assert posted("#broken") == []
        broken = [r for r in slack.requests if r.body.get("channel") == "#broken"]
        assert len(broken) == 3 and {r.response["error"] for r in broken} == {"invalid_auth"}

        monkeypatch.setenv("BROKEN_SLACK_TOKEN", TOKEN)
        fixed = invoke("-c", config, "run")
        assert fixed.exit_code == 0 and "notifier failed" not in fixed.stderr, fixed.stderr
        [late] = [m for m in slack.messages if m["channel"] == "#broken"]
        assert late["text"].split(": ", 1)[1].startswith("2 resolved; commit ")  # the whole episode
        assert "*team-web*  arn:aws:s3:::team-web · *s3-bucket-public* (critical): changed back" in texts(
            late
        )
        assert len(posted("#ok")) == 2
        assert git(state_repo, "log", "-1", "--format=%s") == "driftwatch: alerts delivered\n"
        assert invoke("-c", config, "run").exit_code == 0
        assert len(slack.messages) == 3


def head(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", "--short=7", rev).strip()


def test_a_commit_that_was_not_pushed_is_named_without_a_link(
    state_repo: Path, aws: str, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed(aws)
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    with running_slack_server(valid_tokens=[TOKEN]) as slack:
        path = write_config(
            state_repo,
            aws,
            extra=SLACK_ENTRY.format(channel="#drift", token_env="TEST_SLACK_TOKEN", base_url=slack.base_url),
        )
        pattern = 'commit_url = "https://git.example.com/ops/state/commit/{commit}"'
        text = path.read_text().replace('commit_url = ""', pattern)
        path.write_text(text.replace("attempts = 3\nbackoff = 2.0", "attempts = 1\nbackoff = 0"))
        config = str(path)
        operator_git(state_repo, "commit", "-q", "-am", "config for this account")
        remote, _ = share(state_repo, tmp_path)
        remote.rename(tmp_path / "remote-away.git")

        make_public(aws, "team-web")
        assert invoke("-c", config, "run").exit_code == 2
        [message] = slack.messages
        commit = head(state_repo, "HEAD~1")
        assert message["text"].endswith(f"; commit {commit} (not pushed yet)")
        assert f"*commit* `{commit}` (not pushed yet)" in texts(message)
        assert "git.example.com" not in json.dumps(message)


def test_a_finding_still_open_is_reminded_after_remind_after_and_only_then(
    state_repo: Path, aws: str, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(aws)
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    with running_slack_server(valid_tokens=[TOKEN]) as slack:
        path = write_config(
            state_repo,
            aws,
            extra=SLACK_ENTRY.format(channel="#drift", token_env="TEST_SLACK_TOKEN", base_url=slack.base_url),
        )

        def remind_after(interval: str) -> None:  # the interval, not a clock, is what the test moves
            text = re.sub(r'remind_after = "[^"]*"', f'remind_after = "{interval}"', path.read_text())
            path.write_text(text)

        def last_told() -> datetime:
            state = json.loads((state_repo / ALERT_STATE).read_text())
            open_findings = [f for f in state["findings"].values() if f["status"] == "open"]
            return max(datetime.fromisoformat(f["notified"]["slack #drift"]) for f in open_findings)

        config = str(path)
        remind_after("1h")
        assert invoke("-c", config, "run").exit_code == 0
        assert invoke("-c", config, "approve", "--all", "--reason", "ok", "--author", APPROVER).exit_code == 0

        make_public(aws, "team-web")
        assert invoke("-c", config, "run").exit_code == 2
        assert [m["text"].split(": ", 1)[1].split(";")[0] for m in slack.messages] == [
            "2 new (1 critical, 1 high)"
        ]
        told = last_told()
        assert invoke("-c", config, "run").exit_code == 2
        assert len(slack.messages) == 1  # within remind_after: silence

        remind_after("1s")
        time.sleep(max(0.0, (told + timedelta(seconds=1.5) - datetime.now(UTC)).total_seconds()))
        assert invoke("-c", config, "run").exit_code == 2
        reminder = slack.messages[1]
        assert reminder["text"].split(": ", 1)[1].startswith("2 reminder (1 critical, 1 high)")
        assert ":bell: still open · *s3-bucket-public*" in texts(reminder)
        assert last_told() > told  # the next reminder counts from this one

        remind_after("1h")
        assert invoke("-c", config, "run").exit_code == 2
        assert len(slack.messages) == 2  # the next reminder is remind_after later


def test_a_console_with_only_news_prints_nothing_for_a_run_without_news(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    seed(aws)
    path = state_repo / "driftwatch.toml"
    path.write_text(path.read_text().replace("only_news = false", "only_news = true"))
    config = str(path)
    first = invoke("-c", config, "run")
    assert first.exit_code == 0 and "unapproved-resource" in first.stdout  # news: every resource is new
    quiet = invoke("-c", config, "run")
    assert quiet.exit_code == 0 and (quiet.stdout, quiet.stderr) == ("", "")  # what cron would mail: nothing
    make_public(aws, "team-web")
    drift = invoke("-c", config, "run")
    assert drift.exit_code == 2 and "s3-bucket-public" in drift.stdout


def test_a_security_group_is_named_by_its_name_and_id_in_the_digest_thread_and_resolved_notice(
    state_repo: Path, aws: str, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = boto3.client("ec2", endpoint_url=aws, region_name="us-east-1")
    group = ec2.create_security_group(GroupName="acme-bastion", Description="bastion")["GroupId"]
    ssh_from = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    with running_slack_server(valid_tokens=[TOKEN]) as slack:
        extra = SLACK_ENTRY.format(channel="#drift", token_env="TEST_SLACK_TOKEN", base_url=slack.base_url)
        config = str(write_config(state_repo, aws, extra=extra + "thread_details = true\n"))
        assert invoke("-c", config, "run").exit_code == 0
        assert invoke("-c", config, "approve", "--all", "--reason", "ok", "--author", APPROVER).exit_code == 0

        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=ssh_from)
        assert invoke("-c", config, "run").exit_code == 2
        digest, thread = slack.messages
        arn = f"arn:aws:ec2:us-east-1:123456789012:security-group/{group}"
        assert f"*acme-bastion ({group})*  {arn}" in texts(digest)
        assert f"*sg-open-to-world* on *acme-bastion ({group})* (new)" in texts(thread)

        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=ssh_from)
        assert invoke("-c", config, "run").exit_code == 0
        resolved = texts(slack.messages[2])
        assert f"• *acme-bastion ({group})*  {arn} · *sg-open-to-world* (critical)" in resolved
