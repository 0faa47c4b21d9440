"""Approved baselines as read from git: their history, version by version."""

from __future__ import annotations

from pathlib import Path

from driftwatch.approve import approve
from driftwatch.baseline import approved_histories
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
