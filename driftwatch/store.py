"""The state repository: snapshot files in git, written only when changed, one commit per run."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, ValuesView
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import git

from driftwatch.config import RemoteSettings
from driftwatch.errors import LockedError, StoreError
from driftwatch.jsontext import compact_bytes, untracked_bytes
from driftwatch.layout import (
    ALERT_STATE,
    LAST_VERIFIED,
    MANIFEST,
    PRIVATE_DIR,
    SNAPSHOTS,
    account_manifest_path,
    identity_document,
    is_resource_file,
    snapshot_path,
)
from driftwatch.model import CoverageGap, JSONValue, Resource, Scope, Snapshot, content_digest
from driftwatch.normalise import file_text, jsonable
from driftwatch.run_record import commit_message, is_complete, manifest

OBSERVATIONS = f"{PRIVATE_DIR}/observations.json"
"""Untracked: what the last run observed but never stores as configuration (last-used dates)."""

DIGESTS = f"{PRIVATE_DIR}/digests.json"
"""Untracked: the digest and blob id of each stored document, valid for one tree of ``snapshots/``."""

"""Untracked: what the last run observed but never stores as configuration (last-used dates)."""

ALWAYS_PACK = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "fastimport.unpackLimit",
    "GIT_CONFIG_VALUE_0": "0",
}
"""git fast-import keeps even a few objects as a pack (not loose files); packs are merged as they add up."""

MAX_PACKS = 20
"""Packs in the object store above which a run merges the small ones (git's own gc waits for 50)."""

Documents = dict[str, dict[str, Any]]
"""Resource files by repository path, each ``{"identity": ..., "config": ...}``."""


@dataclass(frozen=True)
class Recorded:
    """The outcome of storing one snapshot."""

    commit: str | None
    previous_commit: str | None
    documents: Documents
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    gaps: tuple[CoverageGap, ...] = ()
    blobs: Mapping[str, str] = field(default_factory=dict)
    """Each document's git blob id at the snapshot commit, so that checks match baselines by id."""


@dataclass(frozen=True)
class Synced:
    """What sharing the repository through its remote did in one run.

    ``taken``: the remote's commits brought in; ``pushed``: local commits sent; ``rewritten``:
    (old, new) commit ids of local commits rebased onto the remote's; ``problems``: fetches or
    pushes that failed after their retries (the run went on; nothing was lost).
    """

    remote: str | None = None
    taken: int = 0
    pushed: int = 0
    rewritten: tuple[tuple[str, str], ...] = ()
    problems: tuple[str, ...] = ()

    def then(self, later: Synced) -> Synced:
        """This and a later step of the same run, added up."""
        return Synced(
            self.remote or later.remote,
            self.taken + later.taken,
            self.pushed + later.pushed,
            self.rewritten + later.rewritten,
            self.problems + later.problems,
        )


class StateRepo:
    """A git repository holding ``snapshots/`` and ``baselines/``; only this module imports git."""

    def __init__(self, path: Path, warn: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.warn = warn or (lambda _message: None)
        try:
            self.repo = git.Repo(path)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError):
            raise StoreError(
                f"{path}: not a driftwatch state repository (create one with `driftwatch init {path}`)"
            ) from None

    # -- locking and recovery -------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the repository for one run; a second process gets LockedError at once.

        The kernel releases the lock when its holder dies, so a killed run never blocks the next.
        """
        private = self.path / PRIVATE_DIR
        private.mkdir(exist_ok=True)
        handle = open(private / "lock", "a+")  # noqa: SIM115 - held for the whole block
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise LockedError(
                    f"{self.path}: another driftwatch process (pid {holder}) is using "
                    "this state repository; wait for it to finish or stop it"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            self._recover()
            yield
        finally:
            handle.close()

    def _recover(self) -> None:
        """Undo what a killed run left: git lock files, staged or half-written snapshot files.

        A git lock file that a live process holds open (an admin's `git commit` in this
        checkout) is not stale: the run stops instead of breaking that commit.
        """
        git_dir = Path(self.repo.git_dir)
        for lock in [git_dir / "index.lock", git_dir / "HEAD.lock", *git_dir.glob("refs/**/*.lock")]:
            if not lock.exists():
                continue
            holder = _holder(lock)
            if holder is not None:
                raise StoreError(
                    f"{lock}: git is working in this repository ({holder}); try again when it has finished"
                )
            lock.unlink(missing_ok=True)
            self.warn(f"removed {lock.name} left by an interrupted git process")
        if self.head() is None:
            return
        paths = [SNAPSHOTS, LAST_VERIFIED, ALERT_STATE]
        dirty = self.repo.git.status("--porcelain", "--untracked-files=all", "--", *paths).splitlines()
        if not dirty:
            return  # nothing to restore; each step below would read the whole folder again
        shown = ", ".join(line[3:] for line in dirty[:5]) + (
            f" and {len(dirty) - 5} more" if len(dirty) > 5 else ""
        )
        self.warn(
            f"discarded uncommitted changes under snapshots/ ({shown}): driftwatch owns that "
            "folder and restores it to the last commit; approve changes in baselines/ instead"
        )
        tree = self.repo.head.commit.tree
        tracked = [p for p in paths if _in_tree(tree, p)]
        if tracked:
            self.repo.git.reset("-q", "HEAD", "--", *tracked)
            self.repo.git.checkout("HEAD", "--", *tracked)
        self.repo.git.clean("-fdq", "--", SNAPSHOTS)

    # -- reading ----------------------------------------------------------------------------

    def head(self) -> str | None:
        """The commit at HEAD, or None in an empty repository."""
        try:
            return self.repo.head.commit.hexsha
        except ValueError:
            return None

    def read_documents(self, root: str = SNAPSHOTS, blobs: dict[str, str] | None = None) -> Documents:
        """Every resource file under ``root`` in the working tree (the state at HEAD after recovery).

        When ``blobs`` is given, it receives each file's git blob id.
        """
        documents: Documents = {}
        base = self.path / root
        for file in sorted(base.rglob("*.json")) if base.is_dir() else []:
            rel = file.relative_to(self.path).as_posix()
            if is_resource_file(rel, root):
                data = file.read_bytes()
                documents[rel] = _parse_json(data, rel)
                if blobs is not None:
                    blobs[rel] = blob_id(data)
        return documents

    def read_paths(self, paths: list[str], root: str = SNAPSHOTS) -> Documents:
        """The resource files at ``paths`` in the working tree (paths that are none are left out)."""
        return {p: _load_json(self.path / p, p) for p in paths if is_resource_file(p, root)}

    def read_manifest(self) -> dict[str, Any]:
        """The manifest of the last snapshot ({} before the first run)."""
        path = self.path / MANIFEST
        return _load_json(path, MANIFEST) if path.exists() else {}

    def last_run(self) -> dict[str, Any]:
        """What the last run on this checkout recorded in ``.driftwatch/last-run.json`` ({} if none)."""
        path = self.path / PRIVATE_DIR / "last-run.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def committed_blobs(self, root: str, at: str | None = None) -> dict[str, str]:
        """The blob id of every file under ``root`` as committed at HEAD (or at commit ``at``)."""
        if self.head() is None:
            return {}
        out = self._git_bytes("ls-tree", "-r", "-z", "--full-tree", at or "HEAD", "--", root)
        blobs: dict[str, str] = {}
        for entry in out.split(b"\0"):
            if entry:
                info, _, path = entry.partition(b"\t")
                _mode, kind, sha = info.split()
                if kind == b"blob":
                    blobs[path.decode()] = sha.decode()
        return blobs

    def committed_files(self, root: str, at: str | None = None) -> dict[str, bytes]:
        """Every file under ``root`` as committed at HEAD (or at commit ``at``)."""
        return self.read_blobs(self.committed_blobs(root, at))

    def read_blobs(self, blobs: Mapping[str, str]) -> dict[str, bytes]:
        """The content of each blob id in ``blobs`` (path -> blob id), by path."""
        contents = self._cat(list(blobs.values()))
        return {path: data for path, sha in blobs.items() if (data := contents.get(sha)) is not None}

    def blobs_at(self, files: Mapping[str, str]) -> dict[str, str]:
        """The blob id of each path at its commit (``files`` maps path -> commit); absent ones left out."""
        if not files:
            return {}
        names = [f"{commit}:{path}" for path, commit in files.items()]
        out = self._git_bytes("cat-file", "--batch-check", stdin=b"".join(n.encode() + b"\n" for n in names))
        blobs: dict[str, str] = {}
        for path, line in zip(files, out.decode().splitlines(), strict=True):
            sha, _, kind = line.partition(" ")
            if kind.startswith("blob "):
                blobs[path] = sha
        return blobs

    def read_at(self, commit: str, paths: list[str]) -> Documents:
        """The given files as they were at ``commit``; files absent then are left out."""
        contents = self._cat([f"{commit}:{path}" for path in paths])
        documents: Documents = {}
        for path in paths:
            data = contents.get(f"{commit}:{path}")
            if data is None:
                continue
            try:
                documents[path] = json.loads(data)
            except ValueError:  # UnicodeDecodeError included
                raise StoreError(f"{path} at commit {commit[:10]}: not valid JSON") from None
        return documents

    def _cat(self, names: list[str]) -> dict[str, bytes | None]:
        """The contents of many git objects (ids or ``commit:path``) through one ``git cat-file``;
        None for a name that does not exist."""
        if not names:
            return {}
        unique = list(dict.fromkeys(names))
        out = self._git_bytes("cat-file", "--batch", stdin=b"".join(n.encode() + b"\n" for n in unique))
        contents: dict[str, bytes | None] = {}
        position = 0
        for name in unique:
            end = out.index(b"\n", position)
            header = out[position:end].split()
            position = end + 1
            if header[-1] == b"missing" or len(header) != 3:
                contents[name] = None
                continue
            size = int(header[2])
            contents[name] = out[position : position + size] if header[1] == b"blob" else None
            position += size + 1
        return contents

    def _git_bytes(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (0,),
    ) -> bytes:
        """Run git in the repository and return its output as bytes (for NUL-separated and batch output)."""
        command = [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *args]
        done = subprocess.run(
            command, cwd=self.path, input=stdin, capture_output=True, env={**os.environ, **(env or {})}
        )
        if done.returncode not in ok:
            raise StoreError(
                f"{self.path}: git {args[0]} failed: {done.stderr.decode(errors='replace').strip()}"
            )
        return done.stdout

    def snapshot_commits(self, limit: int = 2) -> list[str]:
        """The latest commits that changed ``snapshots/``, newest first."""
        if self.head() is None:
            return []
        out: str = self.repo.git.log(f"-n{limit}", "--format=%H", "--", SNAPSHOTS, f":!{SNAPSHOTS}/README.md")
        return out.split()

    def changed_paths(self, old: str, new: str, root: str = SNAPSHOTS) -> list[str]:
        """Files under ``root`` that differ between two commits."""
        out = self.repo.git.diff("--name-only", "--no-renames", old, new, "--", root)
        return [p for p in out.splitlines() if is_resource_file(p, root)]

    def changed_among(self, old: str, new: str, paths: list[str]) -> set[str]:
        """Which of ``paths`` differ between two commits."""
        return set(self.repo.git.diff("--name-only", "--no-renames", old, new, "--", *paths).splitlines())

    def file_log(self, paths: list[str]) -> list[CommitInfo]:
        """Commits that touched any of ``paths``, oldest first, with their ``Reason:`` trailer."""
        if self.head() is None:
            return []
        fields = "%H%x1f%aI%x1f%an%x1f%ae%x1f%s%x1f%P%x1f%(trailers:key=Reason,valueonly,separator=%x20)%x1e"
        out = self.repo.git.log("--reverse", f"--format={fields}", "--", *paths)
        commits = []
        for record in out.split("\x1e"):
            if not record.strip():
                continue
            sha, when, name, email, subject, parents, reason = record.strip("\n").split("\x1f")
            first_parent = parents.split()[0] if parents else None
            commits.append(
                CommitInfo(
                    sha,
                    datetime.fromisoformat(when),
                    name,
                    email,
                    subject,
                    first_parent,
                    reason.strip() or None,
                )
            )
        return commits

    def baseline_log(
        self, root: str, verify_with: Path | None = None, at: str | None = None
    ) -> list[PathCommit]:
        """Every commit that changed a file under ``root``, oldest first (parents before children).

        A merge lists only what it changed itself (files that differ from every parent). With
        ``verify_with`` (an SSH allowed-signers file), git checks each commit's signature.
        """
        if self.head() is None:
            return []
        sig = "%x1f%G?%x1f%GF%x1f%GP" if verify_with is not None else ""
        fields = (
            "%x1e%H%x1f%P%x1f%aI%x1f%an%x1f%ae%x1f%s"
            "%x1f%(trailers:key=Reviewed-by,valueonly,separator=%x1d)" + sig + "%x1f"
        )
        env = (
            {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gpg.ssh.allowedSignersFile"}
            | {"GIT_CONFIG_VALUE_0": str(verify_with)}
            if verify_with is not None
            else None
        )
        out = self.repo.git.log(
            "--topo-order", "--reverse", "--cc", "--name-only", "--no-renames", f"--format={fields}",
            at or "HEAD", "--", root, env=env,
        )  # fmt: skip
        commits = []
        for record in out.split("\x1e")[1:]:
            head, _, names = record.rpartition("\x1f")
            parts = head.split("\x1f")
            sha, parents, when, name, email, subject, reviewed = parts[:7]
            status, key, primary = parts[7:10] if verify_with is not None else ["", "", ""]
            commits.append(
                PathCommit(
                    sha,
                    tuple(parents.split()),
                    datetime.fromisoformat(when),
                    name,
                    email,
                    subject,
                    tuple(r.strip() for r in reviewed.split("\x1d") if r.strip()),
                    tuple(n for n in names.split("\n") if n.strip()),
                    status or None,
                    tuple(k for k in (key, primary) if k),
                )
            )
        return commits

    def commit_before(self, when: datetime, paths: list[str] | None = None) -> str | None:
        """The last commit (of HEAD's history, touching ``paths`` if given) made at or before ``when``."""
        if self.head() is None:
            return None
        out: str = self.repo.git.rev_list("-1", f"--before={when.isoformat()}", "HEAD", "--", *(paths or []))
        return out.strip() or None

    def commit_info(self, sha: str) -> CommitInfo:
        """Who made one commit, when, and its subject and ``Reason:`` trailer."""
        fields = "%H%x1f%aI%x1f%an%x1f%ae%x1f%s%x1f%P%x1f%(trailers:key=Reason,valueonly,separator=%x20)"
        sha, when, name, email, subject, parents, reason = self.repo.git.show(
            "-s", f"--format={fields}", sha
        ).split("\x1f")
        return CommitInfo(
            sha,
            datetime.fromisoformat(when),
            name,
            email,
            subject,
            (parents.split() or [None])[0],
            reason.strip() or None,
        )

    def is_ancestor(self, old: str, new: str) -> bool:
        """True when ``old`` is ``new`` or one of its ancestors."""
        if old == new:
            return True
        try:
            self.repo.git.merge_base("--is-ancestor", old, new)
        except git.GitCommandError:
            return False
        return True

    def deleted_documents(self, root: str = SNAPSHOTS, containing: str | None = None) -> Documents:
        """Resource files once under ``root`` and deleted since, as they were just before deletion.

        With ``containing``, only those whose text contains it (a cheap filter before parsing).
        """
        if self.head() is None:
            return {}
        out = self.repo.git.log(
            "--diff-filter=D", "--raw", "--no-abbrev", "--no-renames", "--format=", "--", root
        )
        last: dict[str, str] = {}  # path -> blob id just before its latest deletion
        for line in out.splitlines():
            info, _, path = line.partition("\t")
            fields = info.split()
            if len(fields) == 5 and is_resource_file(path, root):
                last.setdefault(path, fields[2])  # newest first: the latest deletion wins
        contents = self._cat(list(last.values()))
        documents: Documents = {}
        for path, blob in last.items():
            data = contents.get(blob)
            if data is None or (containing is not None and containing.encode() not in data):
                continue
            documents[path] = _parse_json(data, path)
        return documents

    def paths_containing(self, text: str, root: str = SNAPSHOTS) -> list[str]:
        """Files under ``root`` in the working tree whose content contains ``text`` (``git grep``)."""
        out = self._git_bytes("grep", "-l", "-z", "-F", "--untracked", "-e", text, "--", root, ok=(0, 1))
        return [p for p in out.decode().split("\0") if p]

    def file_changes(
        self, paths: list[str]
    ) -> list[tuple[CommitInfo, dict[str, tuple[str | None, str | None]]]]:
        """Commits that touched any of ``paths``, oldest first, each with the blob ids of those files
        before and after it (None where the file did not exist)."""
        if self.head() is None:
            return []
        fields = (
            "%x1e%H%x1f%aI%x1f%an%x1f%ae%x1f%s%x1f%P%x1f%(trailers:key=Reason,valueonly,separator=%x20)%x1f"
        )
        out = self.repo.git.log(
            "--reverse",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--diff-merges=first-parent",
            f"--format={fields}",
            "--",
            *paths,
        )
        wanted = set(paths)
        commits = []
        for record in out.split("\x1e"):
            if not record.strip():
                continue
            sha, when, name, email, subject, parents, reason, raw = record.split("\x1f")
            changes: dict[str, tuple[str | None, str | None]] = {}
            for line in raw.splitlines():
                info, _, path = line.partition("\t")
                parts = info.split()
                if path in wanted and len(parts) == 5:
                    old, new = parts[2], parts[3]
                    changes[path] = (None if set(old) == {"0"} else old, None if set(new) == {"0"} else new)
            info_ = CommitInfo(
                sha,
                datetime.fromisoformat(when),
                name,
                email,
                subject,
                parents.split()[0] if parents.strip() else None,
                reason.strip() or None,
            )
            commits.append((info_, changes))
        return commits

    def read_blob_ids(self, blobs: list[str]) -> dict[str, bytes | None]:
        """The content of each blob id (None for one that does not exist)."""
        return self._cat(blobs)

    def read_file_at(self, commit: str | None, path: str) -> dict[str, Any] | None:
        """One JSON file as it was at ``commit``, or None if it did not exist then."""
        if commit is None:
            return None
        return self.read_at(commit, [path]).get(path)

    def remote_url(self, name: str) -> str | None:
        """The URL of the git remote ``name``, or None when there is no such remote."""
        try:
            return str(self.repo.remote(name).url)
        except (ValueError, git.GitCommandError):
            return None

    def identity(self) -> tuple[str, str] | None:
        """The git user (name, email) configured for this repository, if any."""
        reader = self.repo.config_reader()
        try:
            return str(reader.get_value("user", "name")), str(reader.get_value("user", "email"))
        except Exception:
            return None

    # -- writing ----------------------------------------------------------------------------

    def record(
        self, snapshot: Snapshot, author_name: str, author_email: str, also: AlsoRecord | None = None
    ) -> Recorded:
        """Write the snapshot's changed files and commit them; no change, no commit.

        Each document is compared with the stored one by the digest of its canonical JSON, so an
        unchanged resource costs one hash: it is not read, written or staged. A resource whose
        scope was not read keeps its file; a field that could not be read keeps its last stored
        value. Only a complete listing can remove a file. ``also`` is given what is recorded (not
        yet committed) and returns driftwatch's own files to commit with it (the alert state),
        and a paragraph for the commit message.
        """
        previous_commit = self.head()
        stored, trusted = self._stored_index()
        documents: Documents = {}
        index: dict[str, tuple[str, str]] = {}  # path -> (digest, blob id) of what is stored after the run
        added: list[str] = []
        changed: list[str] = []
        for resource in snapshot.resources:
            path = snapshot_path(resource.identity)
            known = stored.get(path)
            old = self._read_stored(path) if resource.unreadable and known else None
            config = _with_last_known(resource, old)
            if not config and resource.unreadable:
                continue  # nothing was read and nothing was known: only the gap is recorded
            document = {"identity": identity_document(resource.identity), "config": config}
            documents[path] = document
            digest = content_digest(document)
            if known is not None and known[0] == digest:
                index[path] = known
                continue
            (added if known is None else changed).append(path)
            index[path] = (digest, "")
        removed: list[str] = []
        read_scopes = {str(scope) for scope in snapshot.scopes_read}
        kept: dict[str, int] = {}
        for path in sorted(stored.keys() - documents.keys()):
            old = self._read_stored(path)
            if _scope_of(old) in read_scopes:
                removed.append(path)
            else:
                documents[path] = old  # not read this run: the last known state stays
                index[path] = stored[path]
                kept[_scope_of(old)] = kept.get(_scope_of(old), 0) + 1
        scope_gaps = [g for g in snapshot.gaps if g.resource is None]
        kept_by_gap = {
            g: sum(n for scope, n in kept.items() if g.scope.covers(Scope.parse(scope))) for g in scope_gaps
        }
        gaps = tuple(  # a scope not read keeps its files: say how many, once, instead of N deletions
            replace(g, message=f"{g.message}; {kept_by_gap[g]} resource(s) kept as last read, not deleted")
            if kept_by_gap.get(g)
            else g
            for g in snapshot.gaps
        )
        explained = [g.scope for g in snapshot.gaps]
        gaps += tuple(
            CoverageGap(
                Scope.parse(scope),
                "config",
                "not-configured",
                "NotConfigured",
                f"not read: no longer in the config; {count} resource(s) kept as last read "
                "(delete their files under snapshots/ in a commit if they are gone for good)",
            )
            for scope, count in sorted(kept.items())
            if not any(e.covers(Scope.parse(scope)) for e in explained)
        )
        snapshot = replace(snapshot, gaps=gaps)
        written: dict[str, bytes | None] = {}  # what the commit takes: new bytes, or None if removed

        def put(path: str, text: str) -> bool:
            data = text.encode()
            if not self._write(path, data):
                return False
            written[path] = data
            return True

        for paths in (added, changed):
            for path in list(paths):
                text = file_text(documents[path])
                index[path] = (index[path][0], blob_id(text.encode()))
                if not put(path, text):  # the file already says this (a stale digest): no change after all
                    paths.remove(path)
        for path in removed:
            (self.path / path).unlink()
            written[path] = None
        put(MANIFEST, file_text(manifest(snapshot)))
        for account in snapshot.accounts:  # an account not reached keeps the manifest of its last read
            put(account_manifest_path("aws", account), file_text(manifest(snapshot, account)))
        if is_complete(snapshot):  # evidence of a check only when every configured scope was read
            today = snapshot.finished_at.astimezone(UTC).date().isoformat()
            verified = {"date": today, "note": "the day driftwatch last read every setting"}
            put(LAST_VERIFIED, file_text(verified))
        extra: Mapping[str, str] = {}
        note = ""
        if also is not None:
            extra, note = also(
                Recorded(None, previous_commit, documents, tuple(added), tuple(changed), tuple(removed), gaps)
            )
        for path, text in extra.items():
            put(path, text)
        commit = None
        if written:
            message = commit_message(snapshot, added, changed, removed, note)
            contents = {path: data for path, data in written.items() if data is not None}
            self.commit(message, list(written), author_name, author_email, contents=contents)
            commit = self.head()
        if commit is not None or not trusted:
            self._save_index(index)
        observed = {r.identity.key: jsonable(r.observations) for r in snapshot.resources if r.observations}
        self._write(OBSERVATIONS, untracked_bytes(observed))
        latest = [commit] if commit is not None else self.snapshot_commits(1)
        self._write(
            f"{PRIVATE_DIR}/last-run.json",
            file_text(
                {
                    "run_id": snapshot.run_id,
                    "started_at": snapshot.started_at.isoformat(),
                    "finished_at": snapshot.finished_at.isoformat(),
                    "previous_commit": previous_commit,
                    "snapshot_commit": latest[0] if latest else None,
                    "committed": commit is not None,
                }
            ),
        )
        return Recorded(
            commit,
            previous_commit,
            documents,
            tuple(added),
            tuple(changed),
            tuple(removed),
            snapshot.gaps,
            {path: blob for path, (_, blob) in index.items()},
        )

    def _stored_index(self) -> tuple[dict[str, tuple[str, str]], bool]:
        """(digest, blob id) of every stored document, and whether the saved index was valid.

        The index saved by the last run is trusted only for the tree of ``snapshots/`` it was
        made for; otherwise (a first run, a commit made by hand) every file is read again.
        """
        tree = self._snapshots_tree()
        try:
            saved = json.loads((self.path / DIGESTS).read_text(encoding="utf-8"))
            if tree is not None and saved.get("tree") == tree:
                return {path: (digest, blob) for path, (digest, blob) in saved["documents"].items()}, True
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            pass  # missing or damaged: rebuilt below
        blobs: dict[str, str] = {}
        documents = self.read_documents(blobs=blobs)
        return {path: (content_digest(doc), blobs[path]) for path, doc in documents.items()}, False

    def _save_index(self, index: Mapping[str, tuple[str, str]]) -> None:
        tree = self._snapshots_tree()
        if tree is not None:
            self._write(DIGESTS, compact_bytes({"tree": tree, "documents": index}))

    def _index_history(self) -> None:
        """Add the new commit to git's commit-graph with changed-path filters, so that the log of
        one file (``driftwatch history``) skips the commits that did not touch it. Best effort:
        an old git or a read-only object store only makes history slower."""
        with contextlib.suppress(StoreError):
            self._git_bytes("commit-graph", "write", "--reachable", "--changed-paths", "--split")

    def _snapshots_tree(self) -> str | None:
        """The id of ``snapshots/`` in HEAD's tree, or None."""
        if self.head() is None:
            return None
        try:
            return str((self.repo.head.commit.tree / SNAPSHOTS).hexsha)
        except KeyError:
            return None

    def _read_stored(self, path: str) -> dict[str, Any]:
        return _load_json(self.path / path, path)

    def write(self, path: str, text: str) -> None:
        """Write one file of the repository atomically (only when its text changes)."""
        self._write(path, text)

    def _write(self, path: str, content: str | bytes) -> bool:
        """Write ``content`` unless the file already holds it; True when it was written.

        A file is replaced atomically, so a killed run never leaves half of one; a new file under
        ``snapshots/`` is written in place (half of one is untracked, and the next run's recovery
        removes it).
        """
        data = content.encode() if isinstance(content, str) else content
        target = self.path / path
        try:
            if target.read_bytes() == data:
                return False
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.startswith(f"{SNAPSHOTS}/"):
                with open(target, "xb") as new:
                    new.write(data)
                return True
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)
        return True

    def commit(
        self,
        message: str,
        paths: list[str],
        author_name: str,
        author_email: str,
        sign: bool = False,
        contents: Mapping[str, bytes] | None = None,
    ) -> None:
        """Commit ``paths`` only (never what else is staged) as the given author and committer.

        The commit is HEAD's tree with ``paths`` as they are in the working tree (a path that is
        gone is removed); ``contents`` may give their bytes so that they are not read again. It
        is made by ``git fast-import``, which writes the new objects in one pack and hashes
        nothing else; then the real index takes the same paths, and anything else staged there
        stays staged. ``sign`` signs the commit with git's own signing set-up
        (``user.signingkey``, ``gpg.format``), which only ``git commit-tree`` can do.
        """
        branch = self._branch()
        if sign or branch is None:
            self._commit_tree(message, paths, author_name, author_email, sign)
        else:
            self._fast_import(branch, message, paths, author_name, author_email, contents or {})
        listing = b"".join(path.encode() + b"\0" for path in paths)
        self._git_bytes("update-index", "--add", "--remove", "-z", "--stdin", stdin=listing)
        self._index_history()
        self._merge_small_packs()

    def _merge_small_packs(self) -> None:
        """Keep the object store to a few packs: each fast-import writes one. A geometric repack
        merges the small packs and leaves the large one alone, so it costs what they hold."""
        packs = Path(self.repo.git_dir) / "objects" / "pack"
        if len(list(packs.glob("*.pack"))) > MAX_PACKS:
            self._git_bytes("repack", "-d", "-q", "--geometric=2")

    def _branch(self) -> str | None:
        """The branch HEAD names (``refs/heads/main``), even before its first commit; None if detached."""
        out = self._git_bytes("symbolic-ref", "-q", "HEAD", ok=(0, 1)).decode().strip()
        return out or None

    def _fast_import(
        self,
        branch: str,
        message: str,
        paths: list[str],
        author_name: str,
        author_email: str,
        contents: Mapping[str, bytes],
    ) -> None:
        """One commit on ``branch`` through ``git fast-import``: HEAD plus ``paths``, nothing else.

        The stream ends with ``done``, so a stream cut short (a killed run) commits nothing; the
        branch moves only if it still points at the parent read here.
        """
        parent = self.head()
        when = int(time.time())
        person = f"{_fast_import_name(author_name)} <{_fast_import_name(author_email)}> {when} +0000"
        encoded = message.encode()
        stream = [
            b"feature done\n",
            f"commit {branch}\nauthor {person}\ncommitter {person}\n".encode(),
            b"data %d\n%s\n" % (len(encoded), encoded),
        ]
        if parent is not None:
            stream.append(f"from {parent}\n".encode())
        for path in paths:
            data = contents.get(path)
            if data is None:
                try:
                    data = (self.path / path).read_bytes()
                except FileNotFoundError:
                    stream.append(b"D %s\n" % _fast_import_path(path))
                    continue
            stream.append(b"M 100644 inline %s\ndata %d\n" % (_fast_import_path(path), len(data)))
            stream.extend((data, b"\n"))
        stream.append(b"done\n")
        try:
            self._git_bytes(
                "fast-import", "--quiet", "--date-format=raw", stdin=b"".join(stream), env=ALWAYS_PACK
            )
        except StoreError as exc:
            if "Not updating" not in str(exc):
                raise
            raise StoreError(
                f"{self.path}: {branch} moved while this run was committing (a commit or push into "
                "this checkout); nothing was committed, and the next run records the state again"
            ) from None
        if self.head() == parent:
            raise StoreError(f"{self.path}: git fast-import did not move {branch}")

    def _commit_tree(
        self, message: str, paths: list[str], author_name: str, author_email: str, sign: bool
    ) -> None:
        """One commit through git's plumbing (a temporary index from HEAD plus ``paths``)."""
        git_dir = Path(self.repo.git_dir)
        message_file = git_dir / "DRIFTWATCH_MSG"
        temporary_index = {"GIT_INDEX_FILE": str(git_dir / "driftwatch-index")}
        listing = b"".join(path.encode() + b"\0" for path in paths)
        person = {
            "GIT_AUTHOR_NAME": author_name,
            "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": author_name,
            "GIT_COMMITTER_EMAIL": author_email,
        }
        parent = self.head()
        message_file.write_text(message, encoding="utf-8")
        try:
            if parent is not None:
                self._git_bytes("read-tree", "HEAD", env=temporary_index)
            self._git_bytes(
                "update-index", "--add", "--remove", "-z", "--stdin", stdin=listing, env=temporary_index
            )
            tree = self._git_bytes("write-tree", env=temporary_index).decode().strip()
            parents = ["-p", parent] if parent is not None else []
            sign_flag = ["-S"] if sign else []
            new = self._git_bytes(
                "commit-tree", tree, *parents, *sign_flag, "-F", str(message_file), env=person
            )
            subject = message.splitlines()[0] if message.strip() else "driftwatch"
            reflog = f"commit{'' if parent else ' (initial)'}: {subject}"
            self._git_bytes("update-ref", "-m", reflog, "HEAD", new.decode().strip(), parent or "0" * 40)
        finally:
            message_file.unlink(missing_ok=True)
            (git_dir / "driftwatch-index").unlink(missing_ok=True)

    # -- sharing through a remote -----------------------------------------------------------
    # A run fetches first, so that baselines admins pushed count, and pushes after its commit.
    # Only local commits are ever rebased, onto the remote's; nothing is ever force-pushed.

    def remote_branch(self, remote: str) -> str | None:
        """The branch to share when the repository has a remote named ``remote``, else None."""
        if not remote or remote not in {r.name for r in self.repo.remotes}:
            return None
        try:
            return self.repo.active_branch.name
        except TypeError:
            raise StoreError(
                f"{self.path}: HEAD is detached; check out the branch driftwatch shares with {remote}"
            ) from None

    def pull(self, remote: RemoteSettings, committer: tuple[str, str]) -> Synced:
        """Fetch ``remote``, then take its new commits: fast-forward, or rebase local commits onto them.

        A fetch that keeps failing is reported in ``problems`` and the run goes on with the local
        state. A rebase that conflicts is undone and raises StoreError; the local commits stay.
        """
        branch = self.remote_branch(remote.name)
        if branch is None:
            return Synced()
        problem = self._retried(remote, "fetch", lambda: self._fetch(remote, branch))
        if problem:
            return Synced(remote.name, problems=(f"{problem}; this run uses the local baselines",))
        upstream = self._upstream(remote.name, branch)
        if upstream is None:  # the remote has no such branch yet: the first push creates it
            return Synced(remote.name)
        ahead, behind = self._distance(upstream)
        if not behind:
            return Synced(remote.name)
        if not ahead:
            self._fast_forward(upstream)
            return Synced(remote.name, taken=behind)
        return Synced(remote.name, taken=behind, rewritten=self._rebase(remote, upstream, committer))

    def push(self, remote: RemoteSettings, committer: tuple[str, str]) -> Synced:
        """Push the local commits to ``remote``. A push refused because the remote moved on is
        fetched, rebased and pushed again; one that keeps failing is reported in ``problems``,
        and the commits stay here for the next run to push."""
        branch = self.remote_branch(remote.name)
        if branch is None or self.head() is None:
            return Synced()
        rewritten: tuple[tuple[str, str], ...] = ()
        taken = 0
        problem = ""
        for attempt in range(1, remote.attempts + 1):
            upstream = self._upstream(remote.name, branch)
            ahead, _ = self._distance(upstream)
            if not ahead:
                return Synced(remote.name, taken=taken, rewritten=rewritten)
            try:
                self._git_remote(remote, "push", "--porcelain", remote.name, f"HEAD:refs/heads/{branch}")
                return Synced(remote.name, pushed=ahead, taken=taken, rewritten=rewritten)
            except git.GitCommandError as exc:
                problem = _git_problem(exc)
                refused = "[rejected]" in str(exc.stdout) + str(exc.stderr)
            if refused:  # the remote moved on: take its commits and try again at once
                fetch_problem = self._retried(remote, "fetch", lambda: self._fetch(remote, branch))
                if not fetch_problem:
                    upstream = self._upstream(remote.name, branch)
                    if upstream is not None:
                        _, behind = self._distance(upstream)
                        rewritten += self._rebase(remote, upstream, committer)
                        taken += behind
                    continue
                problem = fetch_problem
            if attempt < remote.attempts:
                time.sleep(remote.backoff * 2 ** (attempt - 1))
        ahead, _ = self._distance(self._upstream(remote.name, branch))
        return Synced(
            remote.name,
            taken=taken,
            rewritten=rewritten,
            problems=(
                f"push to {remote.name} failed after {remote.attempts} attempt(s): {problem}; "
                f"{ahead} commit(s) stay in {self.path} and the next run pushes them",
            ),
        )

    def _git_remote(self, remote: RemoteSettings, *args: str) -> str:
        """A git command that talks to the remote: never prompts, stopped after ``timeout``."""
        out: str = getattr(self.repo.git, args[0])(
            *args[1:],
            env={
                "GIT_TERMINAL_PROMPT": "0",
            },
            kill_after_timeout=remote.timeout,
        )
        return out

    def _fetch(self, remote: RemoteSettings, branch: str) -> None:
        tracking = f"+refs/heads/{branch}:refs/remotes/{remote.name}/{branch}"
        self._git_remote(remote, "fetch", "--no-tags", remote.name, tracking)

    def _retried(self, remote: RemoteSettings, what: str, action: Callable[[], None]) -> str | None:
        """Run ``action`` up to ``attempts`` times with doubling pauses; the last failure, or None."""
        problem = ""
        for attempt in range(1, remote.attempts + 1):
            try:
                action()
                return None
            except git.GitCommandError as exc:
                problem = _git_problem(exc)
            if attempt < remote.attempts:
                time.sleep(remote.backoff * 2 ** (attempt - 1))
        return f"{what} from {remote.name} failed after {remote.attempts} attempt(s): {problem}"

    def _upstream(self, remote: str, branch: str) -> str | None:
        ref = f"refs/remotes/{remote}/{branch}"
        try:
            self.repo.git.rev_parse("--verify", "--quiet", ref)
        except git.GitCommandError:
            return None  # a remote without the branch yet: the first push creates it
        return ref

    def _distance(self, upstream: str | None) -> tuple[int, int]:
        """(local commits not on ``upstream``, upstream commits not here)."""
        if upstream is None:
            return int(self.repo.git.rev_list("--count", "HEAD")), 0
        ahead, behind = self.repo.git.rev_list("--left-right", "--count", f"HEAD...{upstream}").split()
        return int(ahead), int(behind)

    def _fast_forward(self, upstream: str) -> None:
        try:
            self.repo.git.merge("--ff-only", "-q", upstream)
        except git.GitCommandError as exc:
            raise StoreError(
                f"{self.path}: cannot take the new commits of {upstream.removeprefix('refs/remotes/')}: "
                f"{_git_problem(exc)}; commit or remove the local edits it names, then run again"
            ) from None

    def _rebase(
        self, remote: RemoteSettings, upstream: str, committer: tuple[str, str]
    ) -> tuple[tuple[str, str], ...]:
        """Replay the local commits onto ``upstream``; a conflict undoes the rebase and raises StoreError."""
        shown = upstream.removeprefix("refs/remotes/")
        before = self.repo.git.rev_list("--reverse", f"{upstream}..HEAD").split()
        dirty = self.repo.git.status("--porcelain", "--untracked-files=no").splitlines()
        if dirty:
            raise StoreError(
                f"{self.path}: cannot rebase {len(before)} local commit(s) onto {shown}: uncommitted "
                f"changes in {', '.join(line[3:] for line in dirty[:5])}; commit or undo them, then run again"
            )
        name, email = committer
        env = {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
        try:
            self.repo.git.rebase("-q", "--no-autostash", upstream, env=env)
        except git.GitCommandError:
            conflicts = self.repo.git.diff("--name-only", "--diff-filter=U").split()
            with contextlib.suppress(git.GitCommandError):
                self.repo.git.rebase("--abort")
            raise StoreError(
                f"{self.path}: cannot rebase {len(before)} local commit(s) onto {shown}: "
                f"{', '.join(conflicts) or 'they'} changed on both sides. Nothing is lost: the local "
                f"commits are still on this branch and are not pushed. Merge them by hand "
                f"(`git -C {self.path} pull --rebase {remote.name}`), then run again"
            ) from None
        after = self.repo.git.rev_list("--reverse", f"{upstream}..HEAD").split()
        rewritten = tuple(zip(before, after, strict=False)) if len(before) == len(after) else ()
        self._rewrite_last_run(dict(rewritten))
        return rewritten

    def _rewrite_last_run(self, rewritten: dict[str, str]) -> None:
        """Point ``last-run.json`` at the rebased commits, so that ``check`` compares the same ones."""
        last = self.last_run()
        if not last:
            return
        for key in ("previous_commit", "snapshot_commit"):
            if last.get(key) in rewritten:
                last[key] = rewritten[last[key]]
        self._write(f"{PRIVATE_DIR}/last-run.json", file_text(last))


AlsoRecord = Callable[[Recorded], tuple[Mapping[str, str], str]]
"""Given what a run records, driftwatch's own files to commit with it and a commit message paragraph."""


class BlobFiles(Mapping[str, bytes]):
    """Files by path, known by blob id and read from git only when asked for.

    Looking at which files there are, or whether two are the same (``blobs``), reads nothing;
    ``items()``, ``values()`` and ``load()`` read what they need in one ``git cat-file``.
    """

    def __init__(self, repo: StateRepo, blobs: Mapping[str, str]) -> None:
        self.blobs = dict(blobs)
        self._repo = repo
        self._read: dict[str, bytes] = {}

    def load(self, paths: Iterable[str]) -> dict[str, bytes]:
        """The content of ``paths`` (those that are files here), read at once."""
        wanted = [p for p in paths if p in self.blobs]
        missing = {p: self.blobs[p] for p in wanted if p not in self._read}
        self._read.update(self._repo.read_blobs(missing))
        return {p: self._read[p] for p in wanted if p in self._read}

    def under(self, folder: str) -> dict[str, bytes]:
        """The files under ``folder`` (``baselines/acks``), read at once."""
        return self.load(p for p in self.blobs if p.startswith(folder.rstrip("/") + "/"))

    def __getitem__(self, path: str) -> bytes:
        return self.load([path])[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self.blobs)

    def __len__(self) -> int:
        return len(self.blobs)

    def __contains__(self, path: object) -> bool:
        return path in self.blobs

    def items(self) -> ItemsView[str, bytes]:
        return self.load(self.blobs).items()

    def values(self) -> ValuesView[bytes]:
        return self.load(self.blobs).values()


@dataclass(frozen=True)
class CommitInfo:
    """One commit as history shows it."""

    sha: str
    time: datetime
    author_name: str
    author_email: str
    subject: str
    parent: str | None
    reason: str | None = None


@dataclass(frozen=True)
class PathCommit:
    """One commit that changed files under a folder: who, when, what, and its signature as git saw it.

    ``signature`` is git's ``%G?`` letter (G good, U good but of unknown validity, B bad, N none,
    E cannot be checked, ...) and ``signing_keys`` the fingerprints of the key and its primary key;
    both are empty when signatures were not checked.
    """

    sha: str
    parents: tuple[str, ...]
    time: datetime
    author_name: str
    author_email: str
    subject: str
    reviewed_by: tuple[str, ...]
    paths: tuple[str, ...]
    signature: str | None = None
    signing_keys: tuple[str, ...] = ()


def _git_problem(exc: git.GitCommandError) -> str:
    """Git's own words for a failed command: its first ``fatal:``/``error:`` line, else its last line."""
    text = str(exc.stderr or "").strip()
    text = text.removeprefix("stderr:").strip().strip("'").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    if errors:
        return errors[0]
    return lines[-1] if lines else f"git {exc.command[1] if len(exc.command) > 1 else ''} exited {exc.status}"


def _holder(lock: Path) -> str | None:
    """Which live process has ``lock`` open ("pid N"), or None; where /proc is missing, a recent
    lock file (under a minute old) counts as held."""
    proc = Path("/proc")
    if not proc.is_dir():
        return "a lock file under a minute old" if time.time() - lock.stat().st_mtime < 60 else None
    target = str(lock.resolve())
    for fd_dir in proc.glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                if os.readlink(fd) == target:
                    return f"pid {fd_dir.parent.name}"
        except OSError:
            continue  # the process ended, or is not ours to look at
    return None


def _in_tree(tree: Any, path: str) -> bool:
    try:
        tree / path
    except KeyError:
        return False
    return True


def _with_last_known(resource: Resource, old: Mapping[str, Any] | None) -> dict[str, JSONValue]:
    config = dict(resource.config)
    old_config = old.get("config", {}) if old else {}
    for name in resource.unreadable:
        if name in old_config:
            config[name] = old_config[name]
    return config


def _scope_of(document: Mapping[str, Any]) -> str:
    identity = document.get("identity", {})
    return "/".join(str(identity.get(k)) for k in ("provider", "account", "region", "type"))


def _load_json(file: Path, rel: str) -> dict[str, Any]:
    return _parse_json(file.read_bytes(), rel)


def _parse_json(data: bytes, rel: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StoreError(
            f"{rel}: not UTF-8 text (byte {exc.start}); restore it with `git checkout -- {rel}`"
        ) from None
    except json.JSONDecodeError as exc:
        raise StoreError(
            f"{rel}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}); "
            "restore it with `git checkout -- " + rel + "`"
        ) from None
    if not isinstance(parsed, dict):
        raise StoreError(f"{rel}: expected a JSON object")
    return parsed


def _fast_import_name(text: str) -> str:
    """A name or email as ``git fast-import`` takes it (no angle brackets or line breaks)."""
    return " ".join(text.replace("<", "").replace(">", "").split())


def _fast_import_path(path: str) -> bytes:
    """A path for a ``git fast-import`` command, quoted the C way when it needs to be."""
    if not path.startswith('"') and "\n" not in path:
        return path.encode()
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'.encode()


def blob_id(data: bytes) -> str:
    """The id git gives a file with this content (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def init_repo(path: Path, files: Mapping[str, str], author_name: str, author_email: str) -> str:
    """Create a state repository at ``path`` holding ``files`` in one first commit."""
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path}: is a file; driftwatch init wants a new or empty folder")
    if (path / ".git").exists():
        raise StoreError(f"{path}: already a git repository; driftwatch init wants a new or empty folder")
    if path.is_dir() and any(path.iterdir()):
        raise StoreError(
            f"{path}: is not empty; driftwatch init wants a new or empty folder, so that it "
            "overwrites nothing"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the folder: {exc.strerror}") from None
    repo = git.Repo.init(path, initial_branch="main")
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    state = StateRepo(path)
    state.commit(
        "driftwatch: new state repository\n\nCreated by `driftwatch init`: the config, "
        "the default guardrails and empty snapshot and baseline folders.\n",
        list(files),
        author_name,
        author_email,
    )
    return repo.head.commit.hexsha
