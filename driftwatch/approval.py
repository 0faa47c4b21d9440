"""What counts as approved: the files of ``baselines/`` as of each file's latest approval commit.

An approval is a commit by a configured approver; when ``require_signed`` is set, signed with one
of that approver's keys (git checks the signature); with ``two_person``, carrying a
``Reviewed-by:`` trailer that names another approver. Any other change to ``baselines/`` leaves
the last approved version in force and is reported as tampering.

Who the approvers are is itself approved by commit when the state repository tracks the config
file: its [approval] table as first committed, then each change of it made by an approval under
the table in force before. A change by anyone else is reported and has no effect.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from driftwatch.compare import diff_configs
from driftwatch.config import ApprovalSettings, Approver, approval_from_text
from driftwatch.errors import ConfigError
from driftwatch.layout import BASELINES, SNAPSHOTS, identity_from_document, is_resource_file
from driftwatch.model import Change, Finding, ResourceId
from driftwatch.rules import RuleSettings
from driftwatch.store import BlobFiles, PathCommit, StateRepo

_EMAIL = re.compile(r"<([^<>\s]+@[^<>\s]+)>")


@dataclass(frozen=True)
class Unapproved:
    """A commit that changed a baseline file without being an approval, and why it is not one."""

    path: str
    commit: str
    time: datetime
    author: str
    subject: str
    reason: str


@dataclass(frozen=True)
class SettingsInForce:
    """The [approval] settings in force, and where they come from.

    When the state repository tracks the config file (``path``), ``settings`` is its committed
    [approval] table as last changed by an approval (in commit ``approved_in``); ``rejected``
    holds the later commits that changed the table without being approvals, while the committed
    table still differs from the one in force. ``on_disk_differs`` says the config file read
    differs from both (an uncommitted edit): it is not used.
    """

    settings: ApprovalSettings
    path: str | None = None
    approved_in: str | None = None
    rejected: tuple[Unapproved, ...] = ()
    on_disk_differs: bool = False


@dataclass(frozen=True)
class ApprovedView:
    """The approved content of every file under ``baselines/``, and the unapproved changes since.

    ``approved_at`` maps each approved file to its approval commit; ``tampered`` holds, for each
    file whose committed content differs from its approved content, the unapproved commits that
    changed it after its last approval (oldest first).
    """

    files: BlobFiles
    approved_at: dict[str, str]
    tampered: dict[str, tuple[Unapproved, ...]]
    rejected: Mapping[str, str] = field(default_factory=dict)
    """The commits that changed ``baselines/`` without being approvals, and why they are not."""
    source: SettingsInForce | None = None

    def is_approval(self, commit: str) -> bool:
        """True when ``commit`` (one that changed ``baselines/``) counts as an approval."""
        return commit not in self.rejected


def ssh_fingerprint(public_key: str) -> str | None:
    """``SHA256:...`` as git and ssh-keygen print it for an SSH public key line; None if not SSH."""
    parts = public_key.split()
    if len(parts) < 2 or not (parts[0].startswith(("ssh-", "ecdsa-", "sk-"))):
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def key_fingerprints(approver: Approver) -> set[str]:
    """The fingerprints git reports for the approver's keys (SSH ``SHA256:...``, GPG hex, upper case)."""
    prints = set()
    for key in approver.signing_keys:
        prints.add(ssh_fingerprint(key) or key.replace(" ", "").upper())
    return prints


def allowed_signers(settings: ApprovalSettings) -> str:
    """The text of an SSH allowed-signers file naming each approver's SSH keys (for git to verify)."""
    lines = []
    for approver in settings.approvers:
        for key in approver.signing_keys:
            if ssh_fingerprint(key):
                lines.append(f'{approver.email} namespaces="git" {" ".join(key.split()[:2])}')
    return "\n".join(lines) + "\n"


def approver_for(settings: ApprovalSettings, email: str, when: datetime) -> Approver | None:
    """The approver with this email who could approve at ``when`` (before their ``until`` date)."""
    for approver in settings.approvers:
        if approver.email.lower() != email.strip().lower():
            continue
        if approver.until is not None:
            end = datetime.fromisoformat(approver.until).replace(tzinfo=UTC) + timedelta(days=1)
            if when >= end:
                return None
        return approver
    return None


def why_not_approval(commit: PathCommit, settings: ApprovalSettings, first: str | None = None) -> str | None:
    """None when ``commit`` is an approval under ``settings``; otherwise the reason it is not.

    ``first`` is the repository's first commit (``driftwatch init``), the one commit that counts
    without an approver; any other parentless commit (an orphan branch merged in) is judged as usual.
    """
    if not settings.enforced or commit.sha == first:
        return None
    approver = approver_for(settings, commit.author_email, commit.time)
    if approver is None:
        return f"{commit.author_email} is not an approver"
    if settings.require_signed:
        if commit.signature in (None, "N"):
            return "not signed (require_signed = true)"
        if commit.signature not in ("G", "U"):
            return f"signature not valid (git %G? = {commit.signature})"
        if not key_fingerprints(approver) & {k.upper() if ":" not in k else k for k in commit.signing_keys}:
            return f"signed with a key that is not {approver.email}'s ({', '.join(commit.signing_keys)})"
    if settings.two_person:
        reviewers = {
            m.group(1).lower()
            for line in commit.reviewed_by
            if (m := _EMAIL.search(line)) and approver_for(settings, m.group(1), commit.time)
        } - {approver.email.lower()}
        if not reviewers:
            return "no Reviewed-by: trailer naming a second approver (two_person = true)"
    return None


def settings_in_force(repo: StateRepo, settings: ApprovalSettings, at: str | None = None) -> SettingsInForce:
    """The [approval] settings in force at HEAD (or ``at``), given those read from the config file.

    A config file outside the repository, or not committed, is used as read (the file system
    protects it). A committed one counts as first committed; each later commit that changes its
    [approval] table takes effect only if it is an approval under the table in force before it.
    One ``git log`` of the file (two when signatures must be checked), one ``git cat-file`` and
    two or three ``git rev-list``.
    """
    path = _tracked_path(repo, settings.config_file)
    log = repo.baseline_log(path, None, at) if path is not None else []
    if path is None or not log:
        return SettingsInForce(settings)
    tip = at or "HEAD"
    texts = repo.file_versions(path, [tip] + [c.sha for c in log] + [p for c in log for p in c.parents])
    tables = {commit: _committed_table(data, settings.config_file) for commit, data in texts.items()}
    versions = [t for t in tables.values() if isinstance(t, ApprovalSettings)]
    if any(t.require_signed for t in versions):
        every = ApprovalSettings(tuple(a for t in versions for a in t.approvers))
        with tempfile.TemporaryDirectory(prefix="driftwatch-signers-") as tmp:
            signers = Path(tmp) / "allowed_signers"
            signers.write_text(allowed_signers(every), encoding="utf-8")
            log = repo.baseline_log(path, signers, at)
    # Trust starts at the repository's first commit (see ``first_commit``): the table as first
    # committed in the history built on it. A commit from a history with another root (an orphan
    # branch merged in) never changes the table: it was never judged under the one in force.
    first = repo.first_commit(at) or ""
    built_on = repo.descendants_changing(first, path, at) | {first}
    approved_in = next((c.sha for c in log if c.sha in built_on), None)
    in_force = tables.get(approved_in or "")
    if not isinstance(in_force, ApprovalSettings):
        return SettingsInForce(settings)
    rejected: list[Unapproved] = []
    for commit in log:
        table = tables.get(commit.sha)
        if table == in_force or any(tables.get(p) == table for p in commit.parents):
            continue  # [approval] not changed here (another table, or a merge taking one side's)
        reason = why_not_approval(commit, in_force, first)
        if commit.sha not in built_on:
            reason = f"its history does not contain the repository's first commit {first[:10]}"
        if reason is None:
            if isinstance(table, ApprovalSettings):  # an approver's file that does not load changes nothing
                in_force, approved_in = table, commit.sha
                # It settles the rejected changes it was built on, not those of a history merged later.
                rejected = [u for u in rejected if not repo.is_ancestor(u.commit, commit.sha)]
            continue
        author = f"{commit.author_name} <{commit.author_email}>"
        rejected.append(Unapproved(path, commit.sha, commit.time, author, commit.subject, reason))
    committed = tables.get(tip)
    return SettingsInForce(
        replace(in_force, config_file=settings.config_file),
        path,
        approved_in,
        tuple(rejected) if committed != in_force else (),
        at is None and settings != in_force and settings != committed,
    )


def _tracked_path(repo: StateRepo, config_file: Path | None) -> str | None:
    """The config file's path inside the repository, or None if it lies outside."""
    if config_file is None:
        return None
    try:
        return config_file.resolve().relative_to(repo.path.resolve()).as_posix()
    except ValueError:
        return None


def _committed_table(data: bytes | None, config_file: Path | None) -> ApprovalSettings | str | None:
    """The [approval] table of one committed version of the config; the error if it does not load."""
    if data is None:
        return None
    try:
        return approval_from_text(data.decode("utf-8"), config_file or Path("driftwatch.toml"))
    except (ConfigError, UnicodeDecodeError) as exc:
        return str(exc)


def approved_view(
    repo: StateRepo, settings: ApprovalSettings, root: str = BASELINES, at: str | None = None
) -> ApprovedView:
    """The approved files under ``root`` as of each file's latest approval, and what changed since.

    ``at`` names a commit to look from instead of HEAD (what was approved then). ``settings`` are
    those read from the config file; the ones in force are used (see ``settings_in_force``).
    """
    source = settings_in_force(repo, settings, at)
    settings = source.settings
    committed = repo.committed_blobs(root, at)
    if not settings.enforced:
        return ApprovedView(BlobFiles(repo, committed), {}, {}, source=source)
    with tempfile.TemporaryDirectory(prefix="driftwatch-signers-") as tmp:
        signers = None
        if settings.require_signed:
            signers = Path(tmp) / "allowed_signers"
            signers.write_text(allowed_signers(settings), encoding="utf-8")
        log = repo.baseline_log(root, signers, at)
    first = repo.first_commit(at)
    last_approval: dict[str, str] = {}
    since: dict[str, list[Unapproved]] = {}
    rejected: dict[str, str] = {}
    for commit in log:
        reason = why_not_approval(commit, settings, first)
        if reason is not None:
            rejected[commit.sha] = reason
        for path in commit.paths:
            if reason is None:
                last_approval[path] = commit.sha
            else:
                author = f"{commit.author_name} <{commit.author_email}>"
                since.setdefault(path, []).append(
                    Unapproved(path, commit.sha, commit.time, author, commit.subject, reason)
                )
    files = repo.blobs_at(last_approval)  # a file the approval deleted is left out
    tampered: dict[str, tuple[Unapproved, ...]] = {}
    for path, changes in sorted(since.items()):
        if committed.get(path) == files.get(path):
            continue  # changed and changed back: nothing is in force
        # The unapproved commits the approval did not build on. Unrelated histories (an orphan
        # branch merged in) are listed in no particular order, so "after it" is not enough.
        approval = last_approval.get(path)
        later = tuple(c for c in changes if approval is None or not repo.is_ancestor(c.commit, approval))
        if later:
            tampered[path] = later
    approved_at = {p: s for p, s in last_approval.items() if p in files}
    return ApprovedView(BlobFiles(repo, files), approved_at, tampered, rejected, source)


def _identity(path: str, documents: Mapping[str, Any], *candidates: bytes | None) -> ResourceId:
    """Who a tampered file is about: the snapshot's identity, else the file's, else the path itself."""
    if is_resource_file(path, BASELINES):
        snapshot = SNAPSHOTS + path.removeprefix(BASELINES)
        if snapshot in documents:
            return identity_from_document(documents[snapshot], snapshot)
        for data in candidates:
            with contextlib.suppress(ValueError):
                return identity_from_document(json.loads(data or b"null"), path)
    return ResourceId("git", "state", "global", "baseline/file", path)


def _config(data: bytes | None) -> dict[str, Any] | None:
    try:
        document = json.loads(data) if data is not None else None
    except ValueError:
        return None
    config = document.get("config") if isinstance(document, dict) else None
    return dict(config) if isinstance(config, dict) else None


def tamper_findings(
    repo: StateRepo,
    view: ApprovedView,
    documents: Mapping[str, Any],
    settings: RuleSettings | None,
    previous_commit: str | None,
) -> list[Finding]:
    """One ``baseline-tampered`` finding per baseline file changed without approval."""
    if settings is None or not settings.enabled:
        return []
    committed: dict[str, bytes] = {}
    approved = view.files.load(view.tampered)
    if view.tampered:
        now_blobs = repo.committed_blobs(BASELINES)
        committed = repo.read_blobs({p: now_blobs[p] for p in view.tampered if p in now_blobs})
    findings = _approval_findings(repo, view.source, settings, previous_commit)
    for path, changes in view.tampered.items():
        was, now = approved.get(path), committed.get(path)
        identity = _identity(path, documents, was, now)
        diff: tuple[Change, ...] = ()
        if is_resource_file(path, BASELINES):
            before, after = _config(was), _config(now)
            if was is None or before is not None:
                diff = diff_configs(identity, before, after if now is not None else None, "baseline")
        named = _named(changes)
        kept = (
            f"the version approved in commit {view.approved_at[path][:10]} stays in force"
            if path in view.approved_at
            else "it was never approved, so it has no effect"
        )
        message = f"{path} was changed without approval: {named}; {kept}"
        new = previous_commit is None or not all(repo.is_ancestor(c.commit, previous_commit) for c in changes)
        findings.append(
            Finding("baseline-tampered", settings.severity, identity, message, "baseline", diff, new)
        )
    return findings


def _named(changes: tuple[Unapproved, ...]) -> str:
    """The last three unapproved commits, who made them, when and why they do not count."""
    named = "; ".join(
        f"commit {c.commit[:10]} by {c.author} on {c.time.astimezone(UTC).date()} ({c.reason})"
        for c in changes[-3:]
    )
    return named + (f" and {len(changes) - 3} earlier unapproved commit(s)" if len(changes) > 3 else "")


def _approval_findings(
    repo: StateRepo, source: SettingsInForce | None, settings: RuleSettings, previous_commit: str | None
) -> list[Finding]:
    """A ``baseline-tampered`` finding when the committed [approval] table was changed without
    approval, and one when the config file read differs from the table in force."""
    if source is None or source.path is None:
        return []
    identity = ResourceId("git", "state", "global", "baseline/file", source.path)
    kept = f"the [approval] settings approved in commit {(source.approved_in or '')[:10]} stay in force"
    findings = []
    if source.rejected:
        message = (
            f"{source.path}: its [approval] table (who may approve) was changed without approval: "
            f"{_named(source.rejected)}; {kept}"
        )
        new = previous_commit is None or not all(
            repo.is_ancestor(c.commit, previous_commit) for c in source.rejected
        )
        finding = Finding("baseline-tampered", settings.severity, identity, message, "baseline", (), new)
        findings.append(finding)
    if source.on_disk_differs:
        message = (
            f"{source.path}: the [approval] table in the working tree is not the committed one and "
            f"is not used; {kept}. An approver makes a change take effect by committing it"
        )
        findings.append(Finding("baseline-tampered", settings.severity, identity, message, "baseline"))
    return findings
