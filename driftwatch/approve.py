"""Approving resources: copying their current state into ``baselines/`` in one commit by the approver."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from driftwatch.errors import DriftwatchError
from driftwatch.layout import BASELINES, SNAPSHOTS, baseline_path, identity_from_document
from driftwatch.model import ResourceId
from driftwatch.normalise import file_text
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


def parse_author(text: str) -> tuple[str, str]:
    """``Name <email>`` as (name, email); ApproveError otherwise."""
    match = _AUTHOR.match(text)
    if not match:
        raise ApproveError(f"--author {text!r}: expected the form 'Jane Doe <jane@example.com>'")
    return match.group("name"), match.group("email")


def resolve(specs: Sequence[str], documents: dict[str, dict[str, Any]]) -> dict[str, ResourceId]:
    """Resources named by ARN, stable key, file path or bare id (when unique), by snapshot path."""
    identities = {path: identity_from_document(doc, path) for path, doc in documents.items()}
    chosen: dict[str, ResourceId] = {}
    for spec in specs:
        target = spec.strip()
        matches = [
            path
            for path, ident in identities.items()
            if target in (ident.key, ident.arn, path, path.removeprefix(SNAPSHOTS + "/"))
        ]
        if not matches:
            matches = [path for path, ident in identities.items() if ident.id == target]
        if not matches:
            raise ApproveError(
                f"{spec}: no such resource in the last snapshot (use its ARN, its id "
                "or its path under snapshots/; `driftwatch check` lists them)"
            )
        if len(matches) > 1:
            names = ", ".join(identities[m].key for m in matches[:5])
            raise ApproveError(f"{spec}: names {len(matches)} resources ({names}); use the full ARN or key")
        chosen[matches[0]] = identities[matches[0]]
    return chosen


def approve(
    repo: StateRepo, specs: Sequence[str], *, everything: bool, reason: str, author: tuple[str, str]
) -> Approval:
    """Copy the current state of the named resources (or of all) into ``baselines/`` and commit.

    With ``everything``, baselines of resources that no longer exist are removed too, so the
    approved set is exactly the current snapshot.
    """
    if not reason.strip():
        raise ApproveError("--reason is required: say why this state is approved")
    with repo.lock():
        documents = repo.read_documents()
        chosen = {p: documents[p] for p in (documents if everything else resolve(specs, documents))}
        approved: list[str] = []
        removed: list[str] = []
        written: list[str] = []
        for path, document in sorted(chosen.items()):
            identity = identity_from_document(document, path)
            target = repo.path / baseline_path(identity)
            target.parent.mkdir(parents=True, exist_ok=True)
            text = file_text(document)
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
                approved.append(identity.key)
                written.append(baseline_path(identity))
        if everything:
            current = {baseline_path(identity_from_document(d, p)) for p, d in documents.items()}
            for file in sorted((repo.path / BASELINES).rglob("*.json")):
                rel = file.relative_to(repo.path).as_posix()
                if rel not in current:
                    file.unlink()
                    removed.append(rel)
        if not approved and not removed:
            return Approval(None, (), ())
        name, email = author
        lines = [
            f"approve: {len(approved)} resource(s){f', {len(removed)} removed' if removed else ''}",
            "",
            reason.strip(),
            "",
        ]
        lines += [f"+ {key}" for key in approved] + [f"- {path}" for path in removed]
        lines += ["", f"Approved-by: {name} <{email}>", f"Reason: {' '.join(reason.split())}"]
        repo.commit("\n".join(lines) + "\n", written + removed, name, email)
        return Approval(repo.head(), tuple(approved), tuple(removed))
