"""A resource's timeline from git (changes, approvals, acknowledgements) and its state at a moment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftwatch.ack import ACKS
from driftwatch.approval import ApprovedView, approved_view
from driftwatch.approve import resolve, spec_path
from driftwatch.compare import diff_configs
from driftwatch.config import NO_APPROVERS, ApprovalSettings
from driftwatch.errors import StoreError
from driftwatch.layout import SNAPSHOTS, baseline_path, identity_from_document, snapshot_path
from driftwatch.model import Against, Change, ResourceId
from driftwatch.store import CommitInfo, Documents, StateRepo


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
    return next(iter(resolve([spec], _candidates(repo, spec)).values()))


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
    paths = {snapshot_path(identity): "snapshot", baseline_path(identity): "approval"}
    # Every acknowledgement file ever, deleted ones included; those of other resources are skipped below.
    paths.update(dict.fromkeys(repo.paths_ever(ACKS), "ack"))
    entries = []
    # One log over every file keeps git's order: commits made within one second stay in order.
    # It carries the blob ids before and after each commit; all of them are read at once.
    log = repo.file_changes(list(paths), alone=snapshot_path(identity))
    contents = repo.read_blob_ids([b for _, blobs in log for pair in blobs.values() for b in pair if b])
    for info, blobs in log:
        if (since and info.time < since) or (until and info.time > until):
            continue
        author = f"{info.author_name} <{info.author_email}>"
        for path, kind in paths.items():
            if path not in blobs:
                continue
            old, new = blobs[path]
            if kind == "ack":
                doc = _json(contents.get(new or old or "")) or {}
                if not isinstance(doc, dict) or doc.get("resource") != identity.key:
                    continue
                what = f"{doc.get('rule')} (finding {doc.get('finding')})"
                told = f"{what} accepted until {doc.get('until')}" if new else f"{what} no longer accepted"
                if not view.is_approval(info.sha):
                    kind, told = "unapproved", f"{_why(view, info.sha)} ({told})"
                reason = doc.get("reason") if kind == "ack" and new else None
                entries.append(
                    HistoryEntry(info.sha, info.time, author, kind, info.subject, (), reason, told)
                )
                continue
            against: Against = "previous" if kind == "snapshot" else "baseline"
            try:
                before = _config(_document(contents, old, path, info.parent))
                after = _config(_document(contents, new, path, info.sha))
                changes = diff_configs(identity, before, after, against)
            except StoreError as exc:  # a malformed file in the past must not hide the rest
                changes = (Change(identity, "(unreadable)", None, str(exc), against),)
            note: str | None = None
            if kind == "approval" and not view.is_approval(info.sha):
                kind, note = "unapproved", _why(view, info.sha)
            reason = info.reason if kind == "approval" else None
            entries.append(
                HistoryEntry(info.sha, info.time, author, kind, info.subject, changes, reason, note)
            )
    return identity, entries


def _why(view: ApprovedView, sha: str) -> str:
    reason = view.rejected.get(sha)
    return f"not an approval: {reason}; no effect" if reason else "not an approval; no effect"


def _json(data: bytes | None) -> Any:
    try:
        return json.loads(data) if data is not None else None
    except ValueError:
        return None


def _candidates(repo: StateRepo, spec: str) -> Documents:
    """Every document that ``spec`` could name, deleted ones included, read without reading them all.

    An ARN or an id appears in the document's text; a key without an ARN, or a path, gives the
    file's path. Where neither finds anything, every document is read, as ``resolve`` expects.
    """
    target = spec.strip()
    needle = json.dumps(target, ensure_ascii=False)[1:-1]
    paths = set(repo.paths_containing(needle)) if needle else set()
    paths |= {p for p in _paths_named(target) if (repo.path / p).is_file()}
    current = repo.read_paths(sorted(paths))
    if any(_named(target, path, document) for path, document in current.items()):
        return current  # named exactly; a deleted resource of the same name has the same file
    # A bare id, or a deleted resource: the full set, deleted ones included (reading the whole log).
    documents = repo.deleted_documents(containing=needle) | current
    return documents or {**repo.deleted_documents(), **repo.read_documents()}


def _named(target: str, path: str, document: dict[str, Any]) -> bool:
    """True when ``target`` names this document by key, ARN or path (not merely by id)."""
    try:
        identity = identity_from_document(document, path)
    except ValueError:
        return False
    return target in (identity.key, identity.arn) or path in _paths_named(target)


def _paths_named(target: str) -> list[str]:
    """The snapshot paths a path spec or a key such as ``aws:1111:global:iam/password-policy/account``
    can stand for."""
    as_path = spec_path(target)
    paths = [as_path] if as_path else [f"{SNAPSHOTS}/{target}"]
    provider, account, region, rest = [*target.split(":", 3), "", "", ""][:4]
    for cut in [i for i, char in enumerate(rest) if char == "/"]:
        paths.append(snapshot_path(ResourceId(provider, account, region, rest[:cut], rest[cut + 1 :])))
    return [p for p in paths if p.endswith(".json")]


def _document(
    contents: dict[str, bytes | None], blob: str | None, path: str, commit: str | None
) -> dict[str, Any] | None:
    if blob is None:
        return None
    data = contents.get(blob)
    try:
        document = json.loads((data or b"").decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        raise StoreError(f"{path} at commit {(commit or '')[:10]}: not valid JSON") from None
    return document if isinstance(document, dict) else None


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
