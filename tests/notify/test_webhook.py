"""The webhook notifier against a loopback HTTP receiver: schema, signature, threshold, retries, errors."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from pathlib import Path

import pytest

from driftwatch.config import load_config
from driftwatch.errors import NotifyError
from driftwatch.model import Notification
from driftwatch.notify.build import build_notifiers
from driftwatch.notify.webhook import SIGNATURE_HEADER, WebhookNotifier
from tests.notify.test_slack import CRITICAL, FULL_REPORT, GAP, HIGH, LOW, make_report
from tests.support.webhook_receiver import running_receiver

SECRET = "s3cr3t-shared-with-the-receiver"


def test_posts_the_documented_schema_signed_with_the_secret_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFT_HOOK_SECRET", SECRET)
    with running_receiver() as receiver:
        config = tmp_path / "driftwatch.toml"
        config.write_text(
            f'[[notify]]\ntype = "webhook"\nurl = "{receiver.url}"\nsecret_env = "DRIFT_HOOK_SECRET"\n'
            'min_severity = "high"\n',
            encoding="utf-8",
        )
        [notifier], errors = build_notifiers(load_config(config).notify, print)
        assert errors == []
        notifier.notify(Notification.from_report(FULL_REPORT))

    [request] = receiver.received
    assert request.path == "/hooks/driftwatch"
    assert request.headers["content-type"] == "application/json"
    # What a receiver does: recompute the HMAC of the raw body and compare in constant time.
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER.lower()], expected)
    document = json.loads(request.body)
    assert document["schema"] == "driftwatch.findings/1"
    assert document["run_id"] == FULL_REPORT.run_id and document["commit"] == FULL_REPORT.commit
    assert [(f["rule"], f["severity"]) for f in document["findings"]] == [
        ("s3-bucket-public", "critical"),
        ("sg-open-to-world", "high"),
    ]  # medium and low are below the threshold
    public = document["findings"][0]
    assert public["id"] == CRITICAL.id and public["resource"] == "arn:aws:s3:::prod-customer-exports"
    assert public["changes"][0] == {
        "path": "PublicAccessBlock.BlockPublicAcls",
        "before": True,
        "after": False,
        "against": "baseline",
    }
    assert [g["api_call"] for g in document["coverage_gaps"]] == ["ec2:DescribeSecurityGroups"]
    # What is news this run: both findings are new; the gap started.
    assert [(a["kind"], a["finding"]["id"]) for a in document["alerts"]] == [
        ("new", CRITICAL.id),
        ("new", HIGH.id),
    ]
    assert [(g["change"], g["gap"]["api_call"]) for g in document["gap_changes"]] == [
        ("started", "ec2:DescribeSecurityGroups")
    ]


def test_without_a_secret_there_is_no_signature_and_nothing_to_say_sends_nothing() -> None:
    with running_receiver() as receiver:
        WebhookNotifier(receiver.url).notify(Notification.from_report(make_report((LOW,))))
        WebhookNotifier(receiver.url, min_severity=CRITICAL.severity).notify(
            Notification.from_report(make_report((LOW,)))
        )
    [request] = receiver.received
    assert SIGNATURE_HEADER.lower() not in request.headers


def test_a_gap_alone_is_sent() -> None:
    with running_receiver() as receiver:
        WebhookNotifier(receiver.url, min_severity=CRITICAL.severity).notify(
            Notification.from_report(make_report((LOW,), (GAP,)))
        )
    [request] = receiver.received
    document = json.loads(request.body)
    assert (document["findings"], len(document["coverage_gaps"])) == ([], 1)


def test_busy_and_failing_receivers_are_retried_then_the_post_goes_through() -> None:
    with running_receiver() as receiver:
        receiver.statuses[:] = [503, 429]
        WebhookNotifier(receiver.url, attempts=3, backoff=0).notify(Notification.from_report(FULL_REPORT))
    assert len(receiver.received) == 3
    assert len({r.body for r in receiver.received}) == 1  # the same document each time


def test_a_rejected_post_is_not_retried_and_is_reported() -> None:
    with running_receiver() as receiver:
        receiver.statuses[:] = [401]
        with pytest.raises(NotifyError) as error:
            WebhookNotifier(receiver.url, attempts=3, backoff=0).notify(Notification.from_report(FULL_REPORT))
    assert len(receiver.received) == 1
    assert str(error.value) == (
        f"webhook POST to {receiver.url} failed: HTTP 401 Unauthorized "
        "(check [[notify]] url and what the receiver expects)"
    )


def test_an_unreachable_receiver_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    with pytest.raises(NotifyError, match=r"failed after 2 attempts: cannot reach the receiver \(.*refused"):
        WebhookNotifier(url, attempts=2, backoff=0).notify(Notification.from_report(FULL_REPORT))


def test_a_missing_secret_variable_makes_the_notifier_unavailable(tmp_path: Path) -> None:
    config = tmp_path / "driftwatch.toml"
    config.write_text(
        '[[notify]]\ntype = "webhook"\nurl = "https://hooks.example.com/x"\nsecret_env = "NO_SUCH_SECRET"\n'
    )
    notifiers, errors = build_notifiers(load_config(config).notify, print)
    assert notifiers == []
    assert errors == [
        "[[notify]] #1 (webhook https://hooks.example.com/x): the environment variable NO_SUCH_SECRET is "
        "not set; it must hold the webhook's signing secret"
    ]
