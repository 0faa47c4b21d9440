"""Approved baselines as read from git: their history, version by version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftwatch.approve import approve
from driftwatch.baseline import approved_histories, parse_baselines
from driftwatch.errors import BaselineError
from driftwatch.runner import run_once
from driftwatch.store import StateRepo
from tests.test_runner import setup, thing

ALICE = ("Alice", "alice@example.com")


def test_histories_read_only_the_baselines_written_at_least_as_often_as_asked(tmp_path: Path) -> None:
    config, repo, things = setup(tmp_path)
    things.configs["t1"] = {"Size": 5, "Tags": {"team": "a"}}
    run_once(config, things, [])
    approve(StateRepo(repo), [thing("t1").key], everything=False, reason="resized", author=ALICE)

    every = approved_histories(StateRepo(repo), [thing("t0"), thing("t1")])
    assert [[v.config["Size"] for v in every[t.key]] for t in (thing("t0"), thing("t1"))] == [[0], [1, 5]]
    assert all(v.author == "Alice" for v in every[thing("t1").key])

    changed = approved_histories(StateRepo(repo), [thing("t0"), thing("t1")], least=2)
    assert changed == {thing("t0").key: [], thing("t1").key: every[thing("t1").key]}


def _baseline(**extra: object) -> dict[str, object]:
    identity = {"provider": "aws", "account": "111122223333", "region": "global", "type": "s3/bucket"}
    return {"identity": {**identity, "id": "logs", "arn": "arn:aws:s3:::logs"}, "config": {"A": 1}, **extra}


LOGS = "baselines/aws/111122223333/global/s3/bucket/logs.json"


def test_a_baseline_identical_to_its_snapshot_shares_its_config_and_is_keyed_by_arn() -> None:
    document = _baseline(partial=True)
    baselines = parse_baselines({}, {LOGS: document})
    approved = baselines["arn:aws:s3:::logs"]
    assert approved.config is document["config"]
    assert (approved.path, approved.partial, approved.identity.id) == (LOGS, True, "logs")


@pytest.mark.parametrize(
    ("path", "document", "message"),
    [
        (LOGS, _baseline(note=1), f"{LOGS}: unknown key 'note' (a baseline has: config, identity, partial)"),
        (LOGS, _baseline(partial="yes"), f'{LOGS}: "partial" must be true or false'),
        (LOGS, _baseline(config=[1]), f'{LOGS}: "config" must be a JSON object with the approved settings'),
        (
            "baselines/aws/111122223333/global/s3/bucket/other.json",
            _baseline(),
            "baselines/aws/111122223333/global/s3/bucket/other.json: its identity belongs at "
            f"{LOGS}; move the file or fix its identity",
        ),
        (LOGS, {"config": {}}, f'{LOGS}: no valid "identity" object'),
    ],
)
def test_a_malformed_baseline_is_refused_naming_its_file(path: str, document: object, message: str) -> None:
    for files, identical in (({path: json.dumps(document).encode()}, {}), ({}, {path: document})):
        with pytest.raises(BaselineError) as raised:
            parse_baselines(files, identical)
        assert str(raised.value).startswith(message)


def test_two_files_approving_one_resource_are_refused_naming_both() -> None:
    copy = "baselines/aws/111122223333/global/s3/bucket/logs2.json"  # another id with the same ARN
    document = _baseline()
    document["identity"] = {**document["identity"], "id": "logs2"}  # type: ignore[dict-item]
    with pytest.raises(BaselineError) as raised:
        parse_baselines({LOGS: json.dumps(_baseline()).encode()}, {copy: document})
    again = f"{copy}: approves arn:aws:s3:::logs again; {LOGS} already does. Keep one of them"
    assert str(raised.value) == again
