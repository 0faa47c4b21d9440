"""``driftwatch history RESOURCE`` on a state repository of 1,000 commits x 10,000 resources.

The repository is built with ``git fast-import`` (fast to make, the same objects as commits made
one by one): a first snapshot of every resource, then runs that each change ten resources, the
timed resource in every tenth run, an approval of it every hundred, and a few deletions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.synthetic import SyntheticCollector
from driftwatch.defaults import initial_files
from driftwatch.history import resource_history
from driftwatch.layout import baseline_path, identity_document, identity_from_document, snapshot_path
from driftwatch.normalise import Redactor, file_text, normalise_resource
from driftwatch.store import StateRepo


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n" % len(raw) + raw + b"\n"


def build(repo: Path, resources: int, commits: int) -> tuple[str, int]:
    """The repository at ``repo``; returns the timed resource's key and how often it changed."""
    collector = SyntheticCollector(resources, seed=11)
    redactor = Redactor(b"benchmark redaction key")
    normalised = [normalise_resource(r, redactor) for r in collector.collect().resources]
    documents = {
        snapshot_path(r.identity): {"identity": identity_document(r.identity), "config": dict(r.config)}
        for r in normalised
    }
    paths = sorted(documents)
    target = paths[len(paths) // 2]
    key = normalised[[snapshot_path(r.identity) for r in normalised].index(target)].identity.key
    chooser = random.Random(5)
    stream: list[bytes] = []
    when = 1_767_225_600  # 2026-01-01

    def commit(number: int, message: str, files: dict[str, str | None], author: str) -> None:
        stream.append(b"commit refs/heads/main\n")
        stamp = f"{author} {when + number * 900} +0000\n"
        stream.append(f"author {stamp}committer {stamp}".encode())
        stream.append(_data(message))
        for path, text in files.items():
            if text is None:
                stream.append(f"D {path}\n".encode())
            else:
                stream.append(f"M 100644 inline {path}\n".encode())
                stream.append(_data(text))

    first: dict[str, str | None] = {path: file_text(doc) for path, doc in documents.items()}
    first.update(initial_files())
    commit(0, "driftwatch: 0 changed, 10000 added, 0 removed\n", first, "driftwatch <driftwatch@localhost>")
    changes = 0
    made = 1
    deleted: set[str] = set()
    number = 0
    while made < commits:
        number += 1
        picked = chooser.sample([p for p in paths if p not in deleted and p != target], 10)
        if number % 10 == 0:
            picked.append(target)
            changes += 1
        files: dict[str, str | None] = {}
        for path in picked:
            config = documents[path]["config"]
            config["Tags"] = {**config.get("Tags", {}), "revision": str(number)}
            files[path] = file_text(documents[path])
        if number % 250 == 0:  # a resource deleted now and then: history also reads those
            gone = chooser.choice([p for p in paths if p not in deleted and p != target and p not in files])
            deleted.add(gone)
            files[gone] = None
        commit(number, f"driftwatch: {len(files)} changed\n", files, "driftwatch <driftwatch@localhost>")
        made += 1
        if number % 100 == 0 and made < commits:  # an approval of the timed resource
            approval: dict[str, str | None] = {
                baseline_path(identity_from_document(documents[target], target)): file_text(documents[target])
            }
            message = (
                f"approve: {key}\n\nreviewed\n\nApproved-by: Ada <ada@example.com>\nReason: run {number}\n"
            )
            commit(number, message, approval, "Ada <ada@example.com>")
            made += 1
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=b"".join(stream), check=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-f", "main"], check=True)
    # What driftwatch's own commits leave: the commit-graph with changed-path filters.
    subprocess.run(
        ["git", "-C", str(repo), "commit-graph", "write", "--reachable", "--changed-paths", "--split"],
        check=True,
    )
    return key, changes


def main() -> None:
    """``python -m benchmarks.history --workdir DIR --out FILE``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=1_000)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    repo = args.workdir / "state"
    started = time.perf_counter()
    key, changes = build(repo, args.resources, args.commits)
    build_seconds = time.perf_counter() - started
    commits = int(
        subprocess.run(
            ["git", "-C", str(repo), "rev-list", "--count", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    started = time.perf_counter()
    _, entries = resource_history(StateRepo(repo), key)
    in_process = time.perf_counter() - started
    command = [str(Path(sys.executable).with_name("driftwatch")), "history", key]
    # As an installed driftwatch runs: its bytecode cached (pip compiles it; an editable
    # install caches it on the first run), whatever this shell says about writing bytecode.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["DRIFTWATCH_CONFIG"] = str(repo / "driftwatch.toml")
    subprocess.run(command, capture_output=True, env=env, check=True)  # the first run writes it
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        runs.append(time.perf_counter() - started)
    result = {
        "commits": commits,
        "resources": args.resources,
        "resource": key,
        "resource_changes": changes,
        "entries": len(entries),
        "build_seconds": build_seconds,
        "in_process_seconds": in_process,
        "cli_runs": runs,
        "cli_seconds": min(runs),
        "cli_lines": done.stdout.count("\n"),
    }
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
