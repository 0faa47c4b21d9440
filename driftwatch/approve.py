"""Approving resources: copying their current state into ``baselines/`` in one commit by the approver."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from driftwatch import __version__
from driftwatch.approval import approved_view, approver_for, settings_in_force
from driftwatch.compare import diff_configs, pinned
from driftwatch.config import NO_APPROVERS, ApprovalSettings
from driftwatch.errors import DriftwatchError
from driftwatch.layout import BASELINES, SNAPSHOTS, baseline_path, identity_from_document, is_resource_file
from driftwatch.model import Finding, ResourceId
from driftwatch.normalise import file_text
from driftwatch.provider_changes import path_tokens
from driftwatch.rules import META_RULES
from driftwatch.store import StateRepo

_AUTHOR = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>@\s]+@[^<>\s]+)>\s*$")


class ApproveError(DriftwatchError):
    """The resources to approve could not be found, or no approver identity is known."""


@dataclass(frozen=True)
class Approval:
    """What one approval commit did."""

    commit: str | None
    approved: tuple[str, ...]
    removed: tuple[str, ...]
    accepted: tuple[str, ...] = ()
    not_counted: str | None = None
    """Why git does not count the commit as an approval after all (a missing or wrong signature)."""
    only: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """For resources approved through a fleet-wide finding: the paths approved, nothing else."""
    skipped: tuple[str, ...] = ()
    """Resources of a fleet-wide finding not approved, each with why (no baseline to change yet)."""


def parse_author(text: str, option: str = "--author") -> tuple[str, str]:
    """``Name <email>`` as (name, email); ApproveError otherwise."""
    match = _AUTHOR.match(text)
    if not match:
        raise ApproveError(f"{option} {text!r}: expected the form 'Jane Doe <jane@example.com>'")
    return match.group("name"), match.group("email")


def spec_path(spec: str) -> str | None:
    """A file path in any form (absolute, ./, under snapshots/ or baselines/) as a snapshot path."""
    for root in (SNAPSHOTS, BASELINES):
        marker = f"{root}/"
        if marker in spec and spec.endswith(".json"):
            return SNAPSHOTS + "/" + spec[spec.rindex(marker) + len(marker) :]
    return None


def resolve(specs: Sequence[str], documents: dict[str, dict[str, Any]]) -> dict[str, ResourceId]:
    """Resources named by ARN, stable key, file path or bare id (when unique), by snapshot path."""
    identities = {path: identity_from_document(doc, path) for path, doc in documents.items()}
    chosen: dict[str, ResourceId] = {}
    for spec in specs:
        target = spec.strip()
        as_path = spec_path(target)
        matches = [
            path
            for path, ident in identities.items()
            if target in (ident.key, ident.arn, path.removeprefix(SNAPSHOTS + "/")) or path == as_path
        ]
        if not matches:
            matches = [path for path, ident in identities.items() if ident.id == target]
        if not matches:
            raise ApproveError(
                f"{spec}: no such resource (use its ARN, its id or its file path; "
                "`driftwatch check --format json` lists the resources with findings)"
            )
        if len(matches) > 1:
            names = ", ".join(identities[m].key for m in matches[:5])
            raise ApproveError(f"{spec}: names {len(matches)} resources ({names}); use the full ARN or key")
        chosen[matches[0]] = identities[matches[0]]
    return chosen


def resources_of_findings(ids: Sequence[str], findings: Sequence[Finding]) -> tuple[str, ...]:
    """The keys of the resources of the current single-resource findings ``ids``.

    A fleet-wide finding (one with ``related`` resources) is not in it: see :func:`groups_of_findings`.
    """
    keys = [f.resource.key for f in _findings_named(ids, findings) if not f.related]
    return tuple(dict.fromkeys(keys))


def groups_of_findings(ids: Sequence[str], findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """The fleet-wide findings among the current findings ``ids``, whose changes approve selects."""
    return tuple(f for f in _findings_named(ids, findings) if f.related)


def _findings_named(ids: Sequence[str], findings: Sequence[Finding]) -> list[Finding]:
    by_id = {f.id: f for f in findings}
    named = []
    for wanted in ids:
        finding = by_id.get(wanted.strip())
        if finding is None:
            raise ApproveError(
                f"--finding {wanted}: no current finding has this id "
                "(`driftwatch check --format json` lists the findings and their ids)"
            )
        named.append(finding)
    return named


def approve(
    repo: StateRepo,
    specs: Sequence[str],
    *,
    everything: bool,
    reason: str,
    author: tuple[str, str],
    findings: Sequence[Finding] = (),
    ticket: str | None = None,
    reviewed_by: Sequence[str] = (),
    approval: ApprovalSettings = NO_APPROVERS,
    groups: Sequence[Finding] = (),
) -> Approval:
    """Copy the current state of the named resources (or of all) into ``baselines/`` and commit.

    For each fleet-wide finding in ``groups``, only the finding's change is approved on each of
    its resources: the approved baseline with just those paths taken from the current state, so
    that other drift on them (a bucket made public beside it) stays a finding.

    A resource that no longer exists has its baseline removed (the deletion is approved). With
    ``everything``, the approved set becomes exactly the current snapshot. A baseline marked
    ``"partial": true`` keeps pinning only its own keys. Guardrail ``findings`` on the approved
    resources become approved exceptions; the commit lists them. A baseline file changed without
    approval is replaced by the approved state, so that this commit is what counts.
    """
    if not reason.strip():
        raise ApproveError("--reason is required: say why this state is approved")
    name, email = author
    approval = settings_in_force(repo, approval).settings
    check_approver(approval, name, email, reviewed_by)
    with repo.lock():
        documents = repo.read_documents()
        if not documents:
            raise ApproveError("no snapshot yet: run `driftwatch run` or `driftwatch collect` first")
        view = approved_view(repo, approval)
        committed = repo.committed_files(BASELINES)
        old = {  # what is approved now
            _as_snapshot_path(path): json.loads(data)
            for path, data in view.files.items()
            if is_resource_file(path, BASELINES)
        }
        if everything:
            chosen = dict(documents)
            gone = sorted(set(old) - set(documents))
        else:
            named = resolve(specs, {**old, **documents})
            chosen = {p: documents[p] for p in named if p in documents}
            gone = sorted(p for p in named if p not in documents)
        proposed = {path: _baseline_document(document, old.get(path)) for path, document in chosen.items()}
        only, skipped = _add_group_changes(groups, documents, old, proposed)
        approved: list[str] = []
        texts: dict[str, str] = {}
        for path, new in sorted(proposed.items()):
            identity = identity_from_document(documents[path], path)
            target = baseline_path(identity)
            text = file_text(new)
            if old.get(path) != new or committed.get(target) != text.encode():
                texts[target] = text
                approved.append(identity.key)
        only = {key: paths for key, paths in only.items() if key in approved}
        removed = [baseline_path(identity_from_document(old[p], p)) for p in gone]
        if not approved and not removed:
            return Approval(None, (), (), (), skipped=tuple(skipped))
        # A file an unapproved commit already set to this very content would not change in this
        # commit, so it would not count as approved: first restore the approved version.
        stuck = [t for t, text in texts.items() if t in view.tampered and committed.get(t) == text.encode()]
        if stuck:
            for target in stuck:
                if target in view.files:
                    repo.write(target, view.files[target].decode("utf-8"))
                else:
                    (repo.path / target).unlink()
            restore = "restore approved baselines before approving\n\n" + "\n".join(f"~ {t}" for t in stuck)
            repo.commit(restore + "\n", stuck, name, email, sign=approval.require_signed)
        for target, text in texts.items():
            repo.write(target, text)
        for path in removed:
            (repo.path / path).unlink(missing_ok=True)
        keys = set(approved) - set(only)  # a group's change is no rule's finding: none accepted
        accepted = tuple(
            f"[{f.severity}] {f.rule} {f.resource.key}: {f.message}"
            for f in findings
            if f.resource.key in keys and f.rule not in META_RULES  # guardrail findings only
        )
        removed_keys = [identity_from_document(old[p], p).key for p in gone]
        message = approval_message(
            approved, removed_keys, reason, (name, email), accepted, ticket, reviewed_by, only
        )
        repo.commit(message, list(texts) + removed, name, email, sign=approval.require_signed)
        head = repo.head()
        return Approval(
            head,
            tuple(approved),
            tuple(removed),
            accepted,
            not_counted(repo, approval, head),
            only,
            tuple(skipped),
        )


def approval_message(
    approved: Sequence[str],
    removed: Sequence[str],
    reason: str,
    author: tuple[str, str],
    accepted: Sequence[str] = (),
    ticket: str | None = None,
    reviewed_by: Sequence[str] = (),
    only: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The approval commit's message: a subject, the reason, the resources, and a trailer block.

    The trailers (``Approved-by``, ``Reviewed-by``, ``Reason``, ``Ticket``, one
    ``Driftwatch-Approved``/``Driftwatch-Removed`` per resource, ``Driftwatch-Version``) answer
    ``git log --format=%(trailers)`` without driftwatch.
    """
    if len(approved) == 1 and not removed:
        subject = f"approve: {approved[0]}"
    else:
        subject = f"approve: {len(approved)} resource(s)" + (
            f", {len(removed)} deletion(s)" if removed else ""
        )
    lines = [subject, "", reason.strip(), ""]
    only = only or {}
    lines += [f"+ {key}" + (f" (only {', '.join(only[key])})" if key in only else "") for key in approved]
    lines += [f"- {key}" for key in removed]
    if accepted:
        lines += ["", "Accepted as exceptions (these findings stop being reported):"]
        lines += [f"! {line}" for line in accepted]
    lines += ["", f"Approved-by: {author[0]} <{author[1]}>"]
    lines += [f"Reviewed-by: {r}" for r in reviewed_by]
    lines.append(f"Reason: {' '.join(reason.split())}")
    if ticket:
        lines.append(f"Ticket: {' '.join(ticket.split())}")
    lines += [f"Driftwatch-Approved: {key}" for key in approved]
    lines += [f"Driftwatch-Removed: {key}" for key in removed]
    lines.append(f"Driftwatch-Version: {__version__}")
    return "\n".join(lines) + "\n"


def check_approver(approval: ApprovalSettings, name: str, email: str, reviewed_by: Sequence[str]) -> None:
    """Refuse, before anything is written, a commit that would not count as an approval."""
    for reviewer in reviewed_by:
        _, reviewer_email = parse_author(reviewer, "--reviewed-by")
        if approval.enforced and approver_for(approval, reviewer_email, datetime.now(UTC)) is None:
            raise ApproveError(f"--reviewed-by {reviewer!r}: not an approver in [approval] approvers")
        if reviewer_email.lower() == email.lower():
            raise ApproveError(
                f"--reviewed-by {reviewer!r}: the reviewer must be someone else than the approver"
            )
    if not approval.enforced:
        return
    if approver_for(approval, email, datetime.now(UTC)) is None:
        raise ApproveError(
            f"{name} <{email}> is not an approver ([approval] approvers in the config); "
            "this commit would not count as an approval"
        )
    if approval.two_person and not reviewed_by:
        raise ApproveError("[approval] two_person = true: name a second approver with --reviewed-by")


def not_counted(repo: StateRepo, approval: ApprovalSettings, commit: str | None) -> str | None:
    """Check the new commit as every later check will: signing set-up mistakes show at once."""
    if commit is None or not approval.enforced:
        return None
    view = approved_view(repo, approval)
    reasons = [u.reason for changes in view.tampered.values() for u in changes if u.commit == commit]
    return reasons[0] if reasons else None


def _as_snapshot_path(baseline: str) -> str:
    return SNAPSHOTS + baseline.removeprefix(BASELINES)


def _baseline_document(snapshot: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    if old is not None and old.get("partial") is True:
        return {
            **snapshot,
            "config": pinned(snapshot.get("config", {}), old.get("config", {})),
            "partial": True,
        }
    return snapshot


def _add_group_changes(
    groups: Sequence[Finding],
    documents: Mapping[str, dict[str, Any]],
    old: Mapping[str, dict[str, Any]],
    proposed: dict[str, dict[str, Any]],
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Add to ``proposed`` (new baselines by snapshot path) each fleet-wide finding's change on
    each of its resources not approved whole; the paths approved by key, and what was left out."""
    only: dict[str, tuple[str, ...]] = {}
    skipped: list[str] = []
    whole = set(proposed)
    by_key = {identity_from_document(doc, p).key: p for p, doc in documents.items()} if groups else {}
    for group in groups:
        for resource in group.related:
            path = by_key.get(resource.key, "")
            if not path:
                skipped.append(f"{resource.key}: no longer exists")
                continue
            if path in whole:
                continue  # named on its own: its whole state is approved
            base = proposed.get(path, old.get(path))
            if base is None:
                skipped.append(f"{resource.key}: no approved baseline yet (approve it by name)")
                continue
            identity = identity_from_document(documents[path], path)
            proposed[path], paths = _with_group_change(base, documents[path], identity, group)
            only[identity.key] = tuple(sorted({*only.get(identity.key, ()), *paths}))
    return only, skipped


def _with_group_change(
    baseline: dict[str, Any], snapshot: dict[str, Any], identity: ResourceId, group: Finding
) -> tuple[dict[str, Any], list[str]]:
    """``baseline`` with the fleet-wide ``group``'s change taken from ``snapshot``, and its paths."""
    # Imported here: the rules engine (and its JSON-path library) is not needed to find or read
    # resources, which `history`, `show` and `ack` do through this module.
    from driftwatch.rules.fleet import group_covers

    approved = baseline.get("config", {})
    current = snapshot.get("config", {})
    compared = pinned(current, approved) if baseline.get("partial") is True else current
    changes = [c for c in diff_configs(identity, approved, compared, "baseline") if group_covers(group, c)]
    config = copy.deepcopy(approved)
    for change in changes:
        _set_path(config, compared, path_tokens(change.path))
    return {**baseline, "config": config}, [c.path for c in changes]


def _set_path(config: dict[str, Any], source: Mapping[str, Any], keys: Sequence[Any]) -> None:
    """Make the value at ``keys`` in ``config`` what it is in ``source`` (absent there: removed)."""
    value: Any = source
    for key in keys:
        value = value.get(key, _ABSENT) if isinstance(value, Mapping) else _ABSENT
    target = config
    for key in keys[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            if value is _ABSENT:
                return
            child = target[key] = {}
        target = child
    if value is _ABSENT:
        target.pop(keys[-1], None)
    else:
        target[keys[-1]] = copy.deepcopy(value)


_ABSENT = object()
