"""The pipeline benchmark for one N, in its own process so that its peak RSS is its own.

Each scenario runs the real stages on a real state repository: collect (synthetic), normalise,
store (write and commit), compare with the previous state and the baseline plus rules, and
render the console notification. Beside each, the references: the git CLI's ``add -A`` and
``commit`` on the same files in a plain repository, hashing every canonical document, and
reading every stored file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.synthetic import SyntheticCollector
from driftwatch.approve import approve
from driftwatch.defaults import initial_files
from driftwatch.layout import BASELINES, PRIVATE_DIR, SNAPSHOTS, is_resource_file
from driftwatch.model import Notification, Resource, Severity, Snapshot
from driftwatch.normalise import Redactor, canonical_text, file_text
from driftwatch.normalised_memo import NormalisedMemo
from driftwatch.notify.console import ConsoleNotifier
from driftwatch.runner import check, new_run_id, settled_heap
from driftwatch.store import StateRepo, init_repo

AUTHOR = ("driftwatch", "driftwatch@localhost")
STAGES = ("collect", "normalise", "store", "compare_rules", "notify")


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)


class GitReference:
    """A plain repository that receives the same files, committed with ``git add -A && git commit``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digests: dict[str, bytes] = {}  # not the texts: the reference's memory is not driftwatch's
        path.mkdir(parents=True)
        _git(path, "init", "-q", "-b", "main")
        _git(path, "config", "user.name", "reference")
        _git(path, "config", "user.email", "reference@localhost")
        # add + commit alone: no housekeeping started behind the timing (it would run in the
        # background during driftwatch's next stages)
        _git(path, "config", "gc.auto", "0")
        _git(path, "config", "maintenance.auto", "false")

    def commit(self, documents: dict[str, dict[str, Any]]) -> float:
        """Write what changed (not timed), then time ``git add -A`` and ``git commit``."""
        digests = {}
        for path, document in documents.items():
            text = file_text(document).encode()
            digests[path] = hashlib.sha256(text).digest()
            if self.digests.get(path) != digests[path]:
                target = self.path / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(text)
        for path in self.digests.keys() - digests.keys():
            (self.path / path).unlink()
        self.digests = digests
        started = time.perf_counter()
        _git(self.path, "add", "-A")
        _git(self.path, "commit", "-q", "-m", "reference")  # exits 1 when nothing changed
        return time.perf_counter() - started


def hash_every(resources: tuple[Resource, ...]) -> float:
    """The time to hash the canonical JSON of every resource."""
    started = time.perf_counter()
    for item in resources:
        hashlib.sha256(canonical_text(item.config).encode()).digest()
    return time.perf_counter() - started


def read_every(repo: Path) -> float:
    """The time to read every stored resource file."""
    started = time.perf_counter()
    for file in (repo / SNAPSHOTS).rglob("*.json"):
        file.read_bytes()
    return time.perf_counter() - started


def run_scenario(
    repo: StateRepo, collector: SyntheticCollector, redactor: Redactor, reference: GitReference
) -> dict[str, Any]:
    """One run of the pipeline, timed by stage, with its references."""
    lines: list[str] = []
    notifier = ConsoleNotifier(lines.append, Severity.LOW)
    head_before = repo.head()
    times: dict[str, float] = {}

    def timed(stage: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = work()
        times[stage] = time.perf_counter() - started
        return result

    started_at = datetime.now(UTC)
    collection = timed("collect", collector.collect)

    def normalise() -> tuple[Resource, ...]:  # as the runner does, with the memo of the last run
        memo = NormalisedMemo(repo.path / PRIVATE_DIR / "normalised.json", redactor)
        resources = memo.normalise(collection.resources)
        memo.save()
        return resources

    resources = timed("normalise", normalise)
    snapshot = Snapshot(
        new_run_id(started_at),
        started_at,
        datetime.now(UTC),
        resources,
        collection.scopes_read,
        collection.gaps,
        collection.tool_versions,
    )

    def store() -> Any:
        with repo.lock():  # the lock and the recovery it runs are part of every real run
            return repo.record(snapshot, *AUTHOR)

    with settled_heap():  # as the runner stores, compares and reports
        recorded = timed("store", store)
        report = timed("compare_rules", lambda: check(repo, recorded, snapshot))
        timed("notify", lambda: notifier.notify(Notification.from_report(report)))
    pipeline = sum(times[s] for s in STAGES if s != "collect")
    refs = {
        "git_cli": reference.commit({p: d for p, d in recorded.documents.items()}),
        "hash": hash_every(resources),
        "read": read_every(repo.path),
    }
    refs["read_hash"] = refs["read"] + refs["hash"]
    return {
        "seconds": {**times, "pipeline": pipeline},
        "references": refs,
        "ratios": {
            "store_vs_git_cli": times["store"] / refs["git_cli"],
            "compare_rules_vs_hash": times["compare_rules"] / refs["hash"],
            "store_compare_vs_read_hash": (times["store"] + times["compare_rules"]) / refs["read_hash"],
        },
        "committed": repo.head() != head_before,
        "changed": len(recorded.added) + len(recorded.changed) + len(recorded.removed),
        "findings": len(report.findings),
        "report_lines": sum(line.count("\n") for line in lines),
    }


def approve_by_plumbing(repo: Path) -> None:
    """What ``approve --all`` commits (each snapshot file's blob as its baseline), made with git's
    plumbing: a temporary index, one commit authored by the approver, the checkout updated."""
    env = {**os.environ, "GIT_INDEX_FILE": str(repo / ".git" / "bench-index")}
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "HEAD", "--", SNAPSHOTS],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    entries = [
        f"{info}\t{BASELINES}{path.removeprefix(SNAPSHOTS)}\n"
        for info, path in (line.split("\t", 1) for line in listing.splitlines())
        if is_resource_file(path, SNAPSHOTS)
    ]
    subprocess.run(["git", "-C", str(repo), "read-tree", "HEAD"], env=env, check=True)
    subprocess.run(
        ["git", "-C", str(repo), "update-index", "--index-info"],
        input="".join(entries),
        text=True,
        env=env,
        check=True,
    )
    tree = subprocess.run(
        ["git", "-C", str(repo), "write-tree"], capture_output=True, text=True, env=env, check=True
    )
    person = {
        f"GIT_{who}_{what}": value
        for who in ("AUTHOR", "COMMITTER")
        for what, value in (("NAME", AUTHOR[0]), ("EMAIL", AUTHOR[1]))
    }
    message = (
        f"approve: {len(entries)} resource(s)\n\nbenchmark baseline\n\n"
        f"Approved-by: {AUTHOR[0]} <{AUTHOR[1]}>\nReason: benchmark baseline\n"
    )
    commit = subprocess.run(
        ["git", "-C", str(repo), "commit-tree", tree.stdout.strip(), "-p", "HEAD", "-m", message],
        capture_output=True, text=True, env={**os.environ, **person}, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(["git", "-C", str(repo), "update-ref", "HEAD", commit], check=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "HEAD", "--", BASELINES], check=True)
    (repo / ".git" / "bench-index").unlink(missing_ok=True)


def run_size(size: int, workdir: Path) -> dict[str, Any]:
    """Every scenario at one N, in order on one repository."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    init_repo(workdir / "state", initial_files(), *AUTHOR)
    repo = StateRepo(workdir / "state")
    reference = GitReference(workdir / "reference")
    collector = SyntheticCollector(size)
    redactor = Redactor(b"benchmark redaction key")
    scenarios: dict[str, Any] = {}
    scenarios["initial"] = run_scenario(repo, collector, redactor, reference)
    started = time.perf_counter()
    if size <= 10_000:
        approve(repo, [], everything=True, reason="benchmark baseline", author=AUTHOR)
    else:  # `approve --all` is slow at this size (not measured here): the same commit, made directly
        approve_by_plumbing(repo.path)
    approve_seconds = time.perf_counter() - started
    scenarios["no_change"] = run_scenario(repo, collector, redactor, reference)
    collector.change_some(10, "ten")
    scenarios["changed_10"] = run_scenario(repo, collector, redactor, reference)
    collector.change_some(max(1, size // 100), "one-percent")
    scenarios["changed_1pct"] = run_scenario(repo, collector, redactor, reference)
    collector.provider_default_change()
    scenarios["provider_default"] = run_scenario(repo, collector, redactor, reference)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "size": size,
        "scenarios": scenarios,
        "approve_all_seconds": approve_seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "state_repo_mb": sum(f.stat().st_size for f in (workdir / "state" / SNAPSHOTS).rglob("*.json")) / 1e6,
    }


def main() -> None:
    """``python -m benchmarks.pipeline --size N --workdir DIR --out FILE`` (run by benchmarks.run)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = run_size(args.size, args.workdir)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
