"""The check after a run: what it compares with, whatever it could skip reading or diffing."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from driftwatch import runner
from driftwatch.approve import approve
from driftwatch.collectors import Collection
from driftwatch.config import Config, load_config
from driftwatch.defaults import initial_files
from driftwatch.model import Change, Resource, ResourceId, RunReport, Scope
from driftwatch.rules import ResourceState
from driftwatch.runner import check, run_once
from driftwatch.store import StateRepo, init_repo
from tests.conftest import write_config

ACCOUNT = "123456789012"
TYPE = "test/thing"


def thing(name: str) -> ResourceId:
    return ResourceId("aws", ACCOUNT, "global", TYPE, name)


class Things:
    """A collector of a few resources without rules of their own, whose settings tests edit."""

    def __init__(self, count: int) -> None:
        self.configs: dict[str, dict[str, Any]] = {
            f"t{i}": {"Size": i, "Tags": {"team": "a"}} for i in range(count)
        }

    def collect(self) -> Collection:
        resources = tuple(Resource(thing(name), dict(config)) for name, config in self.configs.items())
        scope = Scope("aws", ACCOUNT, "global", TYPE)
        return Collection(resources, frozenset({scope}), (), {"synthetic": "1"})


def setup(tmp_path: Path, count: int = 3) -> tuple[Config, Path, Things]:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    config = load_config(write_config(repo, None))
    things = Things(count)
    run_once(config, things, [])
    approve(StateRepo(repo), (), everything=True, reason="reviewed", author=("Alice", "alice@example.com"))
    return config, repo, things


def drift(report: RunReport) -> dict[str, tuple[bool, tuple[Change, ...]]]:
    found = [f for f in report.findings if f.rule == "baseline-drift"]
    return {f.resource.id: (f.new_since_previous, f.changes) for f in found}


def test_a_change_to_a_resource_whose_baseline_is_its_previous_version_is_drift_against_the_baseline(
    tmp_path: Path,
) -> None:
    config, repo, things = setup(tmp_path)
    things.configs["t1"] = {"Size": 1, "Tags": {"team": "b"}}
    report = run_once(config, things, []).report
    expected = (Change(thing("t1"), "Tags.team", "a", "b", "baseline"),)
    assert drift(report) == {"t1": (True, expected)}
    # The same check again, reading the run's commit back from git, finds the same.
    assert drift(check(StateRepo(repo))) == {"t1": (True, expected)}
    # Unchanged since: the drift stays, and is no longer news.
    assert drift(run_once(config, things, []).report) == {"t1": (False, expected)}


def test_a_resource_changed_twice_since_its_approval_is_compared_with_the_baseline_not_the_previous_run(
    tmp_path: Path,
) -> None:
    config, _repo, things = setup(tmp_path)
    things.configs["t0"] = {"Size": 0, "Tags": {"team": "b"}}
    run_once(config, things, [])
    things.configs["t0"] = {"Size": 7, "Tags": {"team": "b"}}
    report = run_once(config, things, []).report
    expected = (
        Change(thing("t0"), "Size", 0, 7, "baseline"),
        Change(thing("t0"), "Tags.team", "a", "b", "baseline"),
    )
    assert drift(report) == {"t0": (True, expected)}


def test_a_resource_changed_back_to_its_baseline_has_no_drift_left(tmp_path: Path) -> None:
    config, _repo, things = setup(tmp_path)
    things.configs["t2"] = {"Size": 2, "Tags": {"team": "b"}}
    assert set(drift(run_once(config, things, []).report)) == {"t2"}
    things.configs["t2"] = {"Size": 2, "Tags": {"team": "a"}}
    assert drift(run_once(config, things, []).report) == {}


def test_a_deleted_resource_whose_baseline_is_its_previous_version_is_reported_deleted(
    tmp_path: Path,
) -> None:
    config, _repo, things = setup(tmp_path)
    del things.configs["t1"]
    report = run_once(config, things, []).report
    ((new, (change,)),) = drift(report).values()
    assert (new, change.path, change.before, change.after, change.against) == (
        True,
        "",
        {"Size": 1, "Tags": {"team": "a"}},
        None,
        "baseline",
    )


def test_the_previous_version_of_a_changed_resource_shares_what_did_not_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _repo, things = setup(tmp_path)
    seen: list[dict[str, ResourceState]] = []
    real = runner._states
    monkeypatch.setattr(runner, "_states", lambda *args: seen.append(real(*args)) or seen[-1])
    things.configs["t1"] = {"Size": 7, "Tags": {"team": "a"}}
    report = run_once(config, things, []).report
    state = seen[0][thing("t1").key]
    assert state.previous == {"Size": 1, "Tags": {"team": "a"}}  # as read back from git
    assert state.previous is not None and state.current is not None
    assert state.previous["Tags"] is state.current["Tags"]
    assert drift(report) == {"t1": (True, (Change(thing("t1"), "Size", 1, 7, "baseline"),))}


def test_the_heap_stays_settled_until_the_outermost_block_ends() -> None:
    with runner.settled_heap():
        held = [object() for _ in range(10)]
        with runner.settled_heap():  # storing inside a run
            pass
        assert gc.get_freeze_count() > 0  # the run's report is still out of the collector's reach
    assert gc.get_freeze_count() == 0
    assert held
