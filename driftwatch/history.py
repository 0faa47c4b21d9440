"""A resource's timeline from git (changes, approvals, acknowledgements) and its state at a moment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftwatch.ack import ACKS
from driftwatch.approval import ApprovedView, approved_view
from driftwatch.approve import resolve
from driftwatch.compare import diff_configs
from driftwatch.config import NO_APPROVERS, ApprovalSettings
from driftwatch.errors import StoreError
from driftwatch.layout import baseline_path, snapshot_path
from driftwatch.model import Against, Change, ResourceId
from driftwatch.store import CommitInfo, StateRepo


@dataclass(frozen=True)
class HistoryEntry:
    """One commit in a resource's life: a change of its settings, of its baseline, or an acknowledgement.

    ``kind`` is ``snapshot``, ``approval``, ``unapproved`` (a baseline change that is not an
    approval; ``note`` says why) or ``ack`` (``note`` says what is accepted until when).
    """

    commit: str
    time: datetime
    author: str
    kind: str
    subject: str
    changes: tuple[Change, ...]
    reason: str | None = None
    note: str | None = None


def find_resource(repo: StateRepo, spec: str) -> ResourceId:
    """The resource named by ``spec`` (ARN, key, path or id), deleted ones included."""
    documents = {**repo.deleted_documents(), **repo.read_documents()}  # deleted resources have a history too
    return next(iter(resolve([spec], documents).values()))


def resource_history(
    repo: StateRepo,
    spec: str,
    approval: ApprovalSettings = NO_APPROVERS,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[ResourceId, list[HistoryEntry]]:
    """The timeline of the resource named by ``spec``, oldest first, between ``since`` and ``until``."""
    identity = find_resource(repo, spec)
    view = approved_view(repo, approval)
    acks = {
        path: doc
        for path, data in repo.committed_files(ACKS).items()
        if isinstance(doc := _json(data), dict) and doc.get("resource") == identity.key
    }
    paths = {snapshot_path(identity): "snapshot", baseline_path(identity): "approval"}
    paths.update(dict.fromkeys(acks, "ack"))
    entries = []
    # One log over every file keeps git's order: commits made within one second stay in order.
    for info in repo.file_log(list(paths)):
        if (since and info.time < since) or (until and info.time > until):
            continue
        every = list(paths)
        touched = repo.changed_among(info.parent, info.sha, every) if info.parent else set(every)
        author = f"{info.author_name} <{info.author_email}>"
        for path, kind in paths.items():
            if path not in touched:
                continue
            if kind == "ack":
                doc = _json(repo.blob_at(info.sha, path)) or {}
                accepted = (
                    f"{doc.get('rule')} (finding {doc.get('finding')}) accepted until {doc.get('until')}"
                )
                entry = HistoryEntry(
                    info.sha, info.time, author, kind, info.subject, (), doc.get("reason"), accepted
                )
                entries.append(entry)
                continue
            against: Against = "previous" if kind == "snapshot" else "baseline"
            try:
                before = _config(repo.read_file_at(info.parent, path))
                after = _config(repo.read_file_at(info.sha, path))
                changes = diff_configs(identity, before, after, against)
            except StoreError as exc:  # a malformed file in the past must not hide the rest
                changes = (Change(identity, "(unreadable)", None, str(exc), against),)
            note: str | None = None
            if kind == "approval" and not view.is_approval(info.sha):
                kind, note = "unapproved", _why(repo, view, path, info.sha)
            reason = info.reason if kind == "approval" else None
            entries.append(
                HistoryEntry(info.sha, info.time, author, kind, info.subject, changes, reason, note)
            )
    return identity, entries


def _why(repo: StateRepo, view: ApprovedView, path: str, sha: str) -> str:
    for change in view.tampered.get(path, ()):
        if change.commit == sha:
            return f"not an approval: {change.reason}; no effect"
    return "not an approval; no effect"


def _json(data: bytes | None) -> Any:
    try:
        return json.loads(data) if data is not None else None
    except ValueError:
        return None


def _config(document: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if document is None else dict(document.get("config", {}))


@dataclass(frozen=True)
class StateAt:
    """A resource as stored at a moment, and the baseline approved at that moment."""

    identity: ResourceId
    at: datetime
    state: dict[str, Any] | None
    state_commit: CommitInfo | None
    baseline: dict[str, Any] | None
    approval_commit: CommitInfo | None


def state_at(repo: StateRepo, spec: str, at: datetime, approval: ApprovalSettings = NO_APPROVERS) -> StateAt:
    """What the state repository said about a resource at ``at``: its settings and approved baseline."""
    identity = find_resource(repo, spec)
    commit = repo.commit_before(at)
    if commit is None:
        return StateAt(identity, at, None, None, None, None)
    snap, base = snapshot_path(identity), baseline_path(identity)
    state = _config(repo.read_file_at(commit, snap))
    state_sha = repo.commit_before(at, [snap])
    view = approved_view(repo, approval, at=commit)
    baseline = _config(_json(view.files.get(base))) if base in view.files else None
    approved_sha = view.approved_at.get(base)
    if baseline is not None and approved_sha is None:  # no approvers configured: the last commit counts
        approved_sha = repo.commit_before(at, [base])
    return StateAt(
        identity,
        at,
        state,
        repo.commit_info(state_sha) if state_sha and state is not None else None,
        baseline,
        repo.commit_info(approved_sha) if approved_sha else None,
    )
