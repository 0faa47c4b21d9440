"""The Slack notifier, driven against a loopback fake of the Slack Web API."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
import pytest

from driftwatch.errors import NotifyError
from driftwatch.model import (
    Alert,
    Change,
    CoverageGap,
    Finding,
    GapNotice,
    Notification,
    ResourceId,
    Reversion,
    RunReport,
    Scope,
    Severity,
)
from driftwatch.notify import NOTIFIERS
from driftwatch.notify.slack import SlackNotifier
from driftwatch.notify.slack_digest import split_text
from tests.support.fake_credentials import slack_token
from tests.support.slack_server import FakeSlack, running_slack_server

TOKEN = slack_token("test-token")
CHANNEL = "#sec-drift"
ACCOUNT = "111122223333"
WHEN = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)

BUCKET = ResourceId(
    "aws", ACCOUNT, "eu-west-1", "s3/bucket", "prod-customer-exports",
    "arn:aws:s3:::prod-customer-exports",
)  # fmt: skip
SG = ResourceId(
    "aws", ACCOUNT, "eu-west-1", "ec2/security-group", "sg-0a1b2c3d4e5f67890",
    f"arn:aws:ec2:eu-west-1:{ACCOUNT}:security-group/sg-0a1b2c3d4e5f67890",
)  # fmt: skip
DB = ResourceId(
    "aws", ACCOUNT, "eu-west-1", "rds/db-instance", "orders-db",
    f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:orders-db",
)  # fmt: skip
WORLD = "0.0.0.0/0"
SCRATCH = ResourceId("aws", ACCOUNT, "us-east-1", "s3/bucket", "dev-scratch", "arn:aws:s3:::dev-scratch")
PUBLIC_STATEMENT = {
    "Action": "s3:GetObject",
    "Effect": "Allow",
    "Principal": "*",
    "Resource": "arn:aws:s3:::prod-customer-exports/*",
}

CRITICAL = Finding(
    rule="s3-bucket-public",
    severity=Severity.CRITICAL,
    resource=BUCKET,
    message="Bucket grants s3:GetObject to everyone & no longer blocks public ACLs",
    against="baseline",
    changes=(
        Change(BUCKET, "PublicAccessBlock.BlockPublicAcls", True, False, "baseline"),
        Change(BUCKET, "Policy.Statement[1]", None, PUBLIC_STATEMENT, "baseline"),
    ),
)
HIGH = Finding(
    rule="sg-open-to-world",
    severity=Severity.HIGH,
    resource=SG,
    message="SSH (tcp/22) is open to 0.0.0.0/0",
    against="previous",
    changes=(
        Change(
            SG, "IpPermissions[2]", None,
            {"FromPort": 22, "ToPort": 22, "IpProtocol": "tcp", "IpRanges": [{"CidrIp": WORLD}]},
            "previous",
        ),
    ),
)  # fmt: skip
MEDIUM = Finding(
    rule="baseline-drift",
    severity=Severity.MEDIUM,
    resource=DB,
    message="Settings differ from the approved baseline",
    against="baseline",
    changes=(
        Change(DB, "Tags.cost-center", "payments", "marketing", "baseline"),
        Change(
            DB, "MasterUserPassword", "[redacted hmac-sha256:abcd1234]",
            "[redacted hmac-sha256:ef567890]", "baseline",
        ),
    ),
    new_since_previous=False,
)  # fmt: skip
LOW = Finding(
    rule="baseline-drift",
    severity=Severity.LOW,
    resource=SCRATCH,
    message="Tag changed",
    against="baseline",
    changes=(Change(SCRATCH, "Tags.owner", "alice", "bob", "baseline"),),
)
GAP = CoverageGap(
    scope=Scope("aws", "444455556666", "ap-south-1", "ec2/security-group"),
    api_call="ec2:DescribeSecurityGroups",
    kind="denied",
    code="UnauthorizedOperation",
    message="You are not authorized to perform this operation.",
)


def make_report(findings: tuple[Finding, ...], gaps: tuple[CoverageGap, ...] = ()) -> RunReport:
    return RunReport(
        run_id="2024-05-01T06-00-00Z",
        started_at=WHEN,
        finished_at=WHEN,
        state_repo="git@git.example.com:security/driftwatch-state.git",
        commit="3f9c2ab1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7",
        resources_read=412,
        resources_changed=4,
        findings=findings,
        gaps=gaps,
    )


FULL_REPORT = make_report((LOW, MEDIUM, HIGH, CRITICAL), (GAP,))


def notifier(fake: FakeSlack, **kwargs: Any) -> SlackNotifier:
    options: dict[str, Any] = {"channel": CHANNEL, "token": TOKEN, "base_url": fake.base_url}
    return SlackNotifier(**{**options, **kwargs})


def block_texts(message: dict[str, Any]) -> list[str]:
    """The text of every block of a posted message, header and context elements included."""
    texts = []
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        texts.extend(e["text"] for e in block.get("elements", []) if "text" in e)
    return texts


COMMIT_URL = "https://github.com/acme/state/commit/3f9c2ab1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7"
REALISTIC = Notification(
    FULL_REPORT,
    alerts=(
        Alert("new", CRITICAL, WHEN),
        Alert("reminder", HIGH, WHEN - timedelta(days=1)),
        Alert("resolved", LOW, WHEN - timedelta(hours=3), "changed back in the account"),
    ),
    quiet=(MEDIUM,),
    gaps=(GapNotice("started", GAP, WHEN),),
    commit_url=COMMIT_URL,
)


def test_digest_of_a_realistic_run_says_what_is_news_once() -> None:
    with running_slack_server(valid_tokens=[TOKEN]) as fake:
        notifier(fake, min_severity=Severity.MEDIUM).notify(REALISTIC)

    [request] = fake.requests
    assert request.method == "chat.postMessage"
    assert request.authorization == f"Bearer {TOKEN}"
    assert request.body["channel"] == CHANNEL
    assert request.body["text"] == (
        "driftwatch run 2024-05-01T06-00-00Z: 1 new, 1 reminder (1 critical, 1 high); 1 still open; "
        "1 coverage gap started; commit 3f9c2ab"
    )  # the low finding's resolved notice is below this notifier's threshold
    types = [b["type"] for b in request.body["blocks"]]
    assert types == ["header", "section"] + ["divider", "section", "section"] * 2 + ["divider", "section"]
    header, summary, critical, bucket, high, group, gaps = block_texts(request.body)
    assert header == "driftwatch: 1 new, 1 reminder"
    assert summary == (
        ":rotating_light: 1 critical · :red_circle: 1 high · 1 still open, not repeated\n"
        f"*Run* `2024-05-01T06-00-00Z` at 2024-05-01 06:00 UTC · *commit* <{COMMIT_URL}|`3f9c2ab`> · "
        "*state* git@git.example.com:security/driftwatch-state.git"
    )
    assert critical == ":rotating_light: *CRITICAL* (1)"
    assert bucket == (
        "*prod-customer-exports*  arn:aws:s3:::prod-customer-exports\n"
        "account 111122223333 · region eu-west-1 · s3/bucket\n"
        "• :new: new · *s3-bucket-public* (against the baseline): Bucket grants s3:GetObject to everyone "
        "&amp; no longer blocks public ACLs\n"
        "   _first seen 2024-05-01 06:00 UTC_\n"
        "```\n"
        "PublicAccessBlock.BlockPublicAcls: true -> false\n"
        'Policy.Statement[1]: null -> {"Action":"s3:GetObject","Effect":"Allow","Principal":"*",'
        '"Resource":"arn:aws:s3:::prod-customer-exports/*"}\n'
        "```\n"
        'Approve as intended: `driftwatch approve arn:aws:s3:::prod-customer-exports --reason "..."`'
    )
    assert high == ":red_circle: *HIGH* (1)"
    assert "• :bell: still open · *sg-open-to-world* (since the previous run): SSH (tcp/22) is open" in group
    assert "   _open since 2024-04-30 06:00 UTC_" in group
    assert "orders-db" not in json.dumps(request.body)  # still open, not repeated: only counted
    assert gaps.splitlines()[1] == (
        "• :warning: started: could not read aws/444455556666/ap-south-1/ec2/security-group: "
        "ec2:DescribeSecurityGroups failed (denied: UnauthorizedOperation) You are not authorized to "
        "perform this operation."
    )


def test_resolved_notices_have_their_own_section() -> None:
    with running_slack_server() as fake:
        notifier(fake).notify(REALISTIC)
    texts = block_texts(fake.messages[0])
    assert fake.messages[0]["text"].startswith(
        "driftwatch run 2024-05-01T06-00-00Z: 1 new, 1 reminder, 1 resolved"
    )
    resolved = texts[texts.index(next(t for t in texts if t.startswith(":white_check_mark: *RESOLVED*")))]
    assert resolved == (
        ":white_check_mark: *RESOLVED* (1)\n"
        "• *dev-scratch*  arn:aws:s3:::dev-scratch · *baseline-drift* (low): changed back in the account; "
        "open since 2024-05-01 03:00 UTC\n"
        "   _was: Tag changed_"
    )
    assert "driftwatch approve arn:aws:s3:::dev-scratch" not in json.dumps(fake.messages[0])


def test_critical_findings_get_details_in_a_thread_under_the_digest() -> None:
    with running_slack_server() as fake:
        notifier(fake, thread_details=True).notify(REALISTIC)
    digest, reply = fake.messages
    [posted] = [r for r in fake.requests if r.body is digest]
    assert "thread_ts" not in digest or digest["thread_ts"] is None
    assert reply["thread_ts"] == posted.response["ts"]
    assert reply["text"] == "s3-bucket-public on arn:aws:s3:::prod-customer-exports"
    [detail] = block_texts(reply)
    assert detail.startswith(
        ":rotating_light: *CRITICAL* · *s3-bucket-public* on *prod-customer-exports* (new)\n"
    )
    assert f"*finding* `{CRITICAL.id}` · *commit* <{COMMIT_URL}|`3f9c2ab`>" in detail
    assert "PublicAccessBlock.BlockPublicAcls\n  before: true\n  after:  false" in detail
    assert 'approve it: `driftwatch approve arn:aws:s3:::prod-customer-exports --reason "..."`' in detail


def test_an_incoming_webhook_gets_the_same_digest_without_threads() -> None:
    with running_slack_server() as fake:
        SlackNotifier(webhook_url=fake.webhook_url, thread_details=True).notify(REALISTIC)
    [request] = fake.requests
    assert request.method == "webhook" and request.status == 200
    assert request.body["blocks"][0]["text"]["text"] == "driftwatch: 1 new, 1 reminder, 1 resolved"


def test_an_unknown_webhook_is_reported_without_its_url() -> None:
    with running_slack_server() as fake:
        wrong = fake.webhook_url[:-4] + "zzzz"
        with pytest.raises(NotifyError) as caught:
            SlackNotifier(webhook_url=wrong).notify(REALISTIC)
    message = str(caught.value)
    assert message.startswith("Slack incoming webhook to incoming webhook on 127.0.0.1:")
    assert "failed with no_service: the incoming-webhook URL in the environment variable named by " in message
    assert wrong not in message and "zzzz" not in message


def test_a_webhook_rate_limit_is_retried() -> None:
    with running_slack_server() as fake:
        fake.fail_next_with_429(2, retry_after=0)
        SlackNotifier(webhook_url=fake.webhook_url).notify(REALISTIC)
    assert [r.status for r in fake.requests] == [429, 429, 200]


def test_a_first_run_sums_up_unapproved_resources() -> None:
    names = [f"bucket-{i:02d}" for i in range(30)]
    findings = tuple(
        Finding("unapproved-resource", Severity.LOW, r, f"{r.id} has no approved baseline", "baseline")
        for r in (ResourceId("aws", ACCOUNT, "global", "s3/bucket", n, f"arn:aws:s3:::{n}") for n in names)
    )
    with running_slack_server() as fake:
        notifier(fake).notify(Notification.from_report(make_report((CRITICAL, *findings))))
    [message] = fake.messages
    text = "\n".join(block_texts(message))
    assert "bucket-0" not in text and "prod-customer-exports" in text
    assert "*30 resources have no approved baseline yet* (unapproved-resource)" in text
    assert 'then approve: `driftwatch approve --all --reason "..."`' in text


def test_a_fleet_wide_finding_names_what_it_affects_and_a_reverted_fix_comes_first() -> None:
    buckets = [ResourceId("aws", ACCOUNT, "global", "s3/bucket", f"data-{i:02d}") for i in range(14)]
    fleet = Finding(
        "provider-default-change",
        Severity.HIGH,
        ResourceId("aws", ACCOUNT, "*", "s3/bucket", "*"),
        "the same change on 14 of 14 s3/bucket in one run (Policy)",
        "previous",
        related=tuple(buckets),
    )
    reverted = Finding(
        "sg-open-to-world",
        Severity.HIGH,
        SG,
        "re-opened to the world (fixed on 2024-04-02 in 7c1d9e0 by Alice): SSH open",
        "baseline",
        reverted=Reversion(WHEN - timedelta(days=29), "7c1d9e0" + "0" * 33, "Alice"),
    )
    with running_slack_server() as fake:
        notifier(fake).notify(Notification.from_report(make_report((fleet, reverted))))
    text = "\n".join(block_texts(fake.messages[0]))
    names = ", ".join(f"data-{i:02d}" for i in range(12))
    assert f"affects 14: {names} and 2 more" in text
    assert text.index("re-opened to the world") < text.index("the same change on 14")
    # The group names a whole type, which approve cannot take: the command names the finding.
    assert f'Approve as intended: `driftwatch approve --finding {fleet.id} --reason "..."`' in text
    assert "driftwatch approve 'aws:" not in text


def test_low_threshold_includes_low_findings() -> None:
    with running_slack_server() as fake:
        notifier(fake).notify(Notification.from_report(FULL_REPORT))
    text = "\n".join(block_texts(fake.messages[0]))
    assert "arn:aws:s3:::dev-scratch" in text
    assert 'Tags.owner: "alice" -> "bob"' in text
    assert 'MasterUserPassword: "[redacted hmac-sha256:abcd1234]"' not in text  # not new: quiet
    assert (
        text.index("prod-customer-exports") < text.index("sg-0a1b2c3d4e5f67890") < text.index("dev-scratch")
    )


def test_user_data_is_escaped_and_cannot_break_the_json() -> None:
    hostile = Finding(
        rule="baseline-drift",
        severity=Severity.HIGH,
        resource=BUCKET,
        message='<!channel> "quoted" & done\nsecond line',
        against="guardrail",
        changes=(Change(BUCKET, "Tags.note", 'a"b\n```c', "x <y> & ````z", "guardrail"),),
    )
    with running_slack_server() as fake:
        notifier(fake).notify(Notification.from_report(make_report((hostile,))))
    text = "\n".join(block_texts(fake.messages[0]))
    assert '&lt;!channel&gt; "quoted" &amp; done\nsecond line' in text
    assert "<!channel>" not in text
    assert 'Tags.note: "a\\"b\\n`\u200b``c" -> "x &lt;y&gt; &amp; `\u200b`\u200b``z"' in text
    assert text.count("```") == 2  # only the fence around the changes


def test_long_values_are_truncated_and_say_so() -> None:
    policy = {"Statement": [{"Sid": f"s{i}", "Effect": "Allow"} for i in range(100)]}
    finding = Finding(
        "iam-policy-changed", Severity.HIGH, BUCKET, "Policy changed", "previous",
        (Change(BUCKET, "Policy", None, policy, "previous"),),
    )  # fmt: skip
    with running_slack_server() as fake:
        notifier(fake).notify(Notification.from_report(make_report((finding,))))
    text = "\n".join(block_texts(fake.messages[0]))
    full = json.dumps(policy, sort_keys=True, separators=(",", ":"))
    assert f"Policy: null -> {full[:300]}… (truncated)\n" in text


def test_large_report_is_split_without_losing_findings() -> None:
    names = [f"bucket-{i:03d}" for i in range(300)]
    resources = [
        ResourceId("aws", ACCOUNT, "eu-west-1", "s3/bucket", name, f"arn:aws:s3:::{name}") for name in names
    ]
    findings = tuple(
        Finding(
            "baseline-drift", Severity(1 + i % 4), r, f"Drift number {i}", "baseline",
            (Change(r, "Tags.owner", "alice", f"mallory-{i}", "baseline"),),
        )
        for i, r in enumerate(resources)
    )  # fmt: skip
    with running_slack_server() as fake:
        notifier(fake).notify(Notification.from_report(make_report(findings, (GAP,))))

    messages = fake.messages
    assert len(fake.requests) == len(messages) > 1  # the fake enforces Slack's limits
    everything = "\n".join(t for m in messages for t in block_texts(m))
    for r in resources:
        assert everything.count(f"*{r.id}*  {r.arn}") == 1, r.arn
    assert everything.count("started: could not read") == 1
    assert messages[0]["blocks"][0]["type"] == "header"
    for k, message in enumerate(messages, 1):
        assert len(message["blocks"]) <= 50
        assert message["text"].endswith(f"(part {k} of {len(messages)})")
        if k > 1:
            assert message["blocks"][0]["type"] == "context"
            assert f"(part {k} of {len(messages)})" in message["blocks"][0]["elements"][0]["text"]
            assert all(b["type"] != "header" for b in message["blocks"])
    order = [everything.index(f"{s.upper()}* (75)") for s in ("critical", "high", "medium", "low")]
    assert order == sorted(order)


def test_long_section_is_split_and_code_blocks_stay_closed() -> None:
    changes = tuple(Change(BUCKET, f"Tags.key-{i:02d}", "v" * 120, "w" * 120, "baseline") for i in range(60))
    finding = Finding("baseline-drift", Severity.MEDIUM, BUCKET, "Many tags", "baseline", changes)
    with running_slack_server() as fake:
        notifier(fake).notify(Notification.from_report(make_report((finding,))))
    sections = [b["text"]["text"] for m in fake.messages for b in m["blocks"] if b["type"] == "section"]
    long_ones = [s for s in sections if "Tags.key-" in s]
    assert len(long_ones) > 1
    assert all(len(s) <= 3000 and s.count("```") % 2 == 0 for s in long_ones)
    joined = "\n".join(long_ones)
    assert all(joined.count(f"Tags.key-{i:02d}: ") == 1 for i in range(60))
    assert joined.count("*prod-customer-exports*  arn:aws:s3:::prod-customer-exports") == 1


def test_split_text_reopens_fences_and_cuts_long_lines_outside_entities() -> None:
    text = "head\n```\n" + "\n".join(f"line {i} " + "x" * 40 for i in range(10)) + "\n```\ntail"
    pieces = split_text(text, limit=120)
    assert all(len(p) <= 120 and p.count("```") % 2 == 0 for p in pieces)
    assert "".join(pieces).replace("```", "").replace("\n", "") == text.replace("```", "").replace("\n", "")
    cut = split_text("a" * 110 + "&amp;" + "b" * 50, limit=120)  # 112 fit, then a fence's room
    assert cut == ["a" * 110, "&amp;" + "b" * 50]


def test_rate_limit_is_retried() -> None:
    with running_slack_server() as fake:
        fake.fail_next_with_429(1)
        notifier(fake).notify(Notification.from_report(FULL_REPORT))
    assert [r.status for r in fake.requests] == [429, 200]
    assert len(fake.messages) == 1


def test_rate_limit_that_persists_becomes_notify_error() -> None:
    with running_slack_server() as fake:
        fake.fail_next_with_429(10, retry_after=0)
        with pytest.raises(NotifyError, match="ratelimited") as caught:
            notifier(fake).notify(Notification.from_report(FULL_REPORT))
    assert len(fake.requests) == 4  # the first try and three retries
    assert CHANNEL in str(caught.value)


def test_invalid_token_names_channel_and_code_but_not_the_token() -> None:
    secret = slack_token("111-222-ThisIsNotTheRightToken")
    with running_slack_server(valid_tokens=[TOKEN]) as fake, pytest.raises(NotifyError) as caught:
        notifier(fake, token=secret).notify(Notification.from_report(FULL_REPORT))
    message = str(caught.value)
    assert CHANNEL in message and "invalid_auth" in message
    assert "[[notify]] token_env" in message
    assert secret not in message and secret not in repr(notifier(fake, token=secret))
    assert fake.requests[0].token == secret and not fake.messages


def test_unknown_channel_is_reported() -> None:
    expected = r"channel #elsewhere failed with channel_not_found: check \[\[notify\]\] channel"
    with (
        running_slack_server(channels=[CHANNEL]) as fake,
        pytest.raises(NotifyError, match=expected),
    ):
        notifier(fake, channel="#elsewhere").notify(Notification.from_report(FULL_REPORT))
    assert fake.requests[0].response == {"ok": False, "error": "channel_not_found"}


def test_unreachable_slack_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    slack = SlackNotifier(CHANNEL, TOKEN, base_url=f"http://127.0.0.1:{port}/api/")
    with pytest.raises(
        NotifyError, match=r"channel #sec-drift could not reach 127\.0\.0\.1:\d+ \("
    ) as caught:
        slack.notify(Notification.from_report(FULL_REPORT))
    assert TOKEN not in str(caught.value)


def test_nothing_is_sent_without_findings_or_gaps() -> None:
    with running_slack_server() as fake:
        notifier(fake).notify(Notification.from_report(make_report(())))
        notifier(fake, min_severity=Severity.MEDIUM).notify(Notification.from_report(make_report((LOW,))))
    assert fake.requests == []


def test_gaps_alone_are_sent() -> None:
    with running_slack_server() as fake:
        notifier(fake, min_severity=Severity.HIGH).notify(
            Notification.from_report(make_report((LOW,), (GAP,)))
        )
    [message] = fake.messages
    text = "\n".join(block_texts(message))
    assert "started: could not read aws/444455556666/ap-south-1/ec2/security-group" in text
    assert "dev-scratch" not in text
    assert message["blocks"][0]["text"]["text"] == "driftwatch: coverage changed"


def test_broken_template_is_named() -> None:
    templates = jinja2.Environment(
        loader=jinja2.DictLoader(
            {
                "slack_digest.json.j2": '[{"text": "{{ run_id }}"}',
                "slack_digest.txt.j2": "{{ run_id }}",
                "slack_detail.json.j2": "[]",
            }
        ),
        undefined=jinja2.StrictUndefined,
    )
    expected = r"slack_digest\.json\.j2 rendered invalid JSON"
    with running_slack_server() as fake, pytest.raises(NotifyError, match=expected):
        notifier(fake, templates=templates).notify(Notification.from_report(FULL_REPORT))
    assert fake.requests == []


def test_a_template_syntax_error_is_reported_when_the_notifier_is_built() -> None:
    templates = jinja2.Environment(
        loader=jinja2.DictLoader(
            {
                "slack_digest.json.j2": "[]\n{% for x in %}",
                "slack_digest.txt.j2": "x",
                "slack_detail.json.j2": "[]",
            }
        )
    )
    with (
        running_slack_server() as fake,
        pytest.raises(NotifyError, match=r"^template slack_digest.json.j2 line 2: "),
    ):
        notifier(fake, templates=templates)


def test_registered_as_slack() -> None:
    assert NOTIFIERS["slack"] is SlackNotifier
