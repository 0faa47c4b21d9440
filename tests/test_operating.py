"""Operating driftwatch: the daemon's line per cycle, JSON logs, and the progress bar on a terminal only."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from driftwatch.collectors.aws.services import AWS_SERVICES
from tests.conftest import TEST_SERVICES, Invoke
from tests.support.aws_faults import Fault, FaultProxy, running_fault_proxy

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.fixture
def proxy(aws: str) -> Iterator[FaultProxy]:
    with running_fault_proxy(aws) as running:
        yield running


@pytest.fixture
def config(state_repo: Path, proxy: FaultProxy, aws: str) -> Path:
    """The state repository's config aimed at moto through the proxy; one bucket in the account."""
    boto3.client("s3", endpoint_url=aws, region_name="us-east-1").create_bucket(Bucket="example-logs")
    path = state_repo / "driftwatch.toml"
    text = path.read_text(encoding="utf-8").replace(
        f'endpoint_url = "{aws}"', f'endpoint_url = "{proxy.url}"'
    )
    path.write_text(text, encoding="utf-8")
    return path


def resource_files(repo: Path) -> int:
    return sum(1 for p in (repo / "snapshots").rglob("*.json") if p.name != "manifest.json")


def snapshot_commit(repo: Path) -> str:
    """The last commit that recorded a snapshot (a run that told news records its delivery after it)."""
    return subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%H", "--", "snapshots"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_json_logs_a_failed_cycle_and_the_next_one_that_works(
    invoke: Invoke, config: Path, state_repo: Path, proxy: FaultProxy
) -> None:
    # Both attempts of the first cycle's first call fail ([aws] max_attempts = 2 in the tests).
    outage = proxy.add_fault(
        Fault("sts", "GetCallerIdentity", code="ServiceUnavailable", status=503, message="down", times=2)
    )

    result = invoke(
        "-c",
        str(config),
        "run",
        "--every",
        "1s",
        "--max-cycles",
        "2",
        "--log-format",
        "json",
        "--format",
        "json",
    )

    assert result.exit_code == 0, result.stderr
    assert outage.hits == 2
    started, failed, worked = [json.loads(line) for line in result.stderr.splitlines()]
    assert started == {
        "time": started["time"],
        "level": "info",
        "event": "message",
        "message": "running every 1s; stop with Ctrl-C or SIGTERM",
    }
    assert re.fullmatch(TIME, failed.pop("time")) and failed.pop("duration_seconds") >= 0
    assert failed.pop("error").startswith("sts.get_caller_identity failed, so the account is unknown: ")
    assert failed == {"level": "error", "event": "cycle", "cycle": 1, "status": "failed"}
    (report,) = [json.loads(line) for line in result.stdout.splitlines()]  # only cycle 2 has a report
    assert re.fullmatch(TIME, worked.pop("time")) and worked.pop("duration_seconds") >= 0
    assert worked == {
        "level": "info",
        "event": "cycle",
        "cycle": 2,
        "status": "ok",
        "resources_read": resource_files(state_repo),  # a first read: every file is new
        "changes": resource_files(state_repo),
        "findings": len(report["findings"]),
        "coverage_gaps": 0,
        "commit": snapshot_commit(state_repo),  # the console's delivery is recorded after it
    }
    assert report["resources_read"] == resource_files(state_repo)


def test_a_cycle_line_in_text_and_no_progress_bar_when_stderr_is_not_a_terminal(
    invoke: Invoke, config: Path, state_repo: Path
) -> None:
    result = invoke("-c", str(config), "run", "--every", "1s", "--max-cycles", "1")

    assert result.exit_code == 0, result.stderr
    checked = invoke("-c", str(config), "check", "--format", "json")  # the same comparison, as JSON
    findings = len(json.loads(checked.stdout)["findings"])
    assert findings > 0  # a first run: every resource is unapproved
    count = resource_files(state_repo)
    assert re.fullmatch(
        "driftwatch: running every 1s; stop with Ctrl-C or SIGTERM\n"
        f"driftwatch: {TIME} cycle 1: {count} resources read, {count} changed, {findings} findings, "
        rf"0 coverage gaps, \d+\.\ds, commit {snapshot_commit(state_repo)[:10]}" + "\n",
        result.stderr,
    ), result.stderr


def test_a_terminal_shows_the_progress_of_the_collection(config: Path, state_repo: Path) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "driftwatch", "-c", str(config), "collect"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    out, _ = process.communicate(timeout=120)
    terminal = b"".join(chunks).decode()
    assert process.returncode == 0, terminal
    assert out.decode().startswith(f"Read {resource_files(state_repo)} resources")
    # One account opened, then each global service once and each regional one in both regions.
    read = [service for service in AWS_SERVICES if service.name in TEST_SERVICES]
    steps = 1 + sum(2 if service.regional else 1 for service in read)
    assert "reading AWS" in terminal
    assert re.search(rf"reading AWS .* {steps}/{steps} ", terminal.replace("\r", "\n")), terminal


def test_the_cycle_line_names_the_commit_as_pushed_after_a_rebase(
    invoke: Invoke, config: Path, state_repo: Path, tmp_path: Path
) -> None:
    from tests.test_remote import admin_commits_during_next_push, share
    from tests.test_remote import git as operator_git

    config.write_text(config.read_text().replace("backoff = 2.0", "backoff = 0"))
    operator_git(state_repo, "commit", "-q", "-am", "config for this account")
    remote, admin = share(state_repo, tmp_path)
    approval = admin_commits_during_next_push(remote, admin, "baselines/README.md", "ok\n", "approve")

    result = invoke("-c", str(config), "run", "--every", "1s", "--max-cycles", "1", "--log-format", "json")

    assert result.exit_code == 0, result.stderr
    cycle = json.loads(result.stderr.splitlines()[-1])
    pushed = operator_git(remote, "log", "-1", "--format=%H", "main", "--", "snapshots")
    assert operator_git(remote, "rev-parse", f"{pushed}~1") == approval  # rebased onto the admin's commit
    assert cycle["commit"] == pushed == snapshot_commit(state_repo)


def test_json_logs_make_every_error_line_a_json_object(
    invoke: Invoke, config: Path, state_repo: Path
) -> None:
    from driftwatch.store import StateRepo

    with StateRepo(state_repo).lock():
        locked = invoke("-c", str(config), "run", "--log-format", "json")
    bad = config.read_text().replace("[check]", "[check]\nfail_on = 3", 1)
    (state_repo / "bad.toml").write_text(bad)
    broken = invoke("-c", str(state_repo / "bad.toml"), "run", "--log-format", "json")
    interval = invoke("-c", str(config), "run", "--log-format", "json", "--every", "soon")
    choice = invoke("-c", str(config), "run", "--fail-on", "dire", "--log-format=json")  # read before it

    for result, words in (
        (locked, "another driftwatch process"),
        (broken, "bad.toml"),
        (interval, "'soon' is not an interval"),
        (choice, "'dire' is not one of"),
    ):
        assert result.exit_code == 1
        [line] = result.stderr.splitlines()
        document = json.loads(line)
        assert re.fullmatch(TIME, document.pop("time"))
        assert document.pop("message").count(words) == 1, line
        assert document == {"level": "error", "event": "message"}
