"""A resource's timeline from git: each snapshot change and each baseline approval, with who and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftwatch.approve import resolve
from driftwatch.compare import diff_configs
from driftwatch.errors import StoreError
from driftwatch.layout import baseline_path, snapshot_path
from driftwatch.model import Against, Change, ResourceId
from driftwatch.store import StateRepo


@dataclass(frozen=True)
class HistoryEntry:
    """One commit in a resource's life: a change of its settings, or of its approved baseline."""

    commit: str
    time: datetime
    author: str
    kind: str  # "snapshot" or "approval"
    subject: str
    changes: tuple[Change, ...]
    reason: str | None = None


def resource_history(repo: StateRepo, spec: str) -> tuple[ResourceId, list[HistoryEntry]]:
    """The timeline of the resource named by ``spec`` (ARN, key, path or id), oldest first."""
    documents = {**repo.deleted_documents(), **repo.read_documents()}  # deleted resources have a history too
    identity = next(iter(resolve([spec], documents).values()))
    paths = {"snapshot": snapshot_path(identity), "approval": baseline_path(identity)}
    entries = []
    # One log over both files keeps git's order: commits made within one second stay in order.
    for info in repo.file_log(list(paths.values())):
        every = list(paths.values())
        touched = repo.changed_among(info.parent, info.sha, every) if info.parent else set(every)
        for kind, path in paths.items():
            if path not in touched:
                continue
            against: Against = "previous" if kind == "snapshot" else "baseline"
            try:
                before = _config(repo.read_file_at(info.parent, path))
                after = _config(repo.read_file_at(info.sha, path))
                changes = diff_configs(identity, before, after, against)
            except StoreError as exc:  # a malformed file in the past must not hide the rest
                changes = (Change(identity, "(unreadable)", None, str(exc), against),)
            author = f"{info.author_name} <{info.author_email}>"
            reason = info.reason if kind == "approval" else None
            entries.append(HistoryEntry(info.sha, info.time, author, kind, info.subject, changes, reason))
    return identity, entries


def _config(document: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if document is None else dict(document.get("config", {}))
