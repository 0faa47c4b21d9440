"""The state repository: snapshot files in git, written only when changed, one commit per run."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import Any

import git
import orjson

from driftwatch.errors import LockedError, StoreError
from driftwatch.jsontext import untracked_bytes
from driftwatch.layout import (
    ALERT_STATE,
    LAST_VERIFIED,
    MANIFEST,
    PRIVATE_DIR,
    SNAPSHOTS,
    account_manifest_path,
    identity_document,
    snapshot_path,
)
from driftwatch.model import CoverageGap, JSONValue, Resource, Scope, Snapshot, content_digest
from driftwatch.normalise import file_text, jsonable
from driftwatch.run_record import commit_message, is_complete, manifest
from driftwatch.store.commit import Committer
from driftwatch.store.gitrepo import Documents, blob_id, load_json
from driftwatch.store.log import HistoryLog
from driftwatch.store.remote import RemoteSync

OBSERVATIONS = f"{PRIVATE_DIR}/observations.json"
"""Untracked: what the last run observed but never stores as configuration (last-used dates)."""

DIGESTS = f"{PRIVATE_DIR}/digests.json"
"""Untracked: the digest and blob id of each stored document, valid for one tree of ``snapshots/``."""
DIGESTS_FORMAT = 2
"""Digests are ``_document_digest`` of a document's identity and its config's ``content_digest``."""


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


class StateRepo(RemoteSync, Committer, HistoryLog):
    """A git repository holding ``snapshots/`` and ``baselines/``; only ``driftwatch.store`` imports git."""

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
            identity = identity_document(resource.identity)
            document = {"identity": identity, "config": config}
            documents[path] = document
            config_digest = content_digest(config) if resource.unreadable else resource.digest
            digest = _document_digest(identity, config_digest)
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
        unexplained = {
            scope: count
            for scope, count in sorted(kept.items())
            if not any(e.covers(Scope.parse(scope)) for e in explained)
        }
        # A region the account no longer has enabled is one event for all it held (case 19).
        off: dict[Scope, int] = {}
        for scope in list(unexplained):
            region = next((r for r in snapshot.disabled_regions if r.covers(Scope.parse(scope))), None)
            if region is not None:
                off[region] = off.get(region, 0) + unexplained.pop(scope)
        gaps += tuple(
            CoverageGap(
                region,
                "ec2.describe_regions",
                "region-disabled",
                "NotOptedIn",
                f"region {region.region} is no longer enabled for account {region.account}; "
                f"{count} resource(s) unreachable, kept as last read, not deleted",
            )
            for region, count in sorted(off.items())
        )
        gaps += tuple(
            CoverageGap(
                Scope.parse(scope),
                "config",
                "not-configured",
                "NotConfigured",
                f"not read: no longer in the config; {count} resource(s) kept as last read "
                "(delete their files under snapshots/ in a commit if they are gone for good)",
            )
            for scope, count in unexplained.items()
        )
        snapshot = replace(snapshot, gaps=gaps)
        written: list[str] = []  # what the commit takes: paths written or removed
        commit = None
        # Each written file goes to git at once: git packs it while the next one is written.
        with self.streamed_commit() as staged:

            def put(path: str, content: str | bytes, new: bool = False) -> bool:
                data = content.encode() if isinstance(content, str) else content
                if not self._write(path, data, new):
                    return False
                staged.add(path, data)
                written.append(path)
                return True

            new_paths = set(added)
            for path in sorted(added + changed):  # alike neighbours in a folder: git deltifies them faster
                data = file_text(documents[path]).encode()
                index[path] = (index[path][0], blob_id(data))
                # A stored file saying this already (a stale digest) is no change after all.
                if not put(path, data, new=path in new_paths):
                    (added if path in new_paths else changed).remove(path)
            for path in removed:
                (self.path / path).unlink()
                staged.remove(path)
                written.append(path)
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
                recorded = Recorded(
                    None, previous_commit, documents, tuple(added), tuple(changed), tuple(removed), gaps
                )
                extra, note = also(recorded)
            for path, text in extra.items():
                put(path, text)
            if written:
                message = commit_message(snapshot, added, changed, removed, note)
                staged.finish(message, author_name, author_email)
                commit = self.head()
        if commit is not None or not trusted:
            self._save_index(index)
        self._write(OBSERVATIONS, _observations_bytes(snapshot.resources))
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
            saved = orjson.loads((self.path / DIGESTS).read_bytes())
            if tree is not None and saved.get("tree") == tree and saved.get("format") == DIGESTS_FORMAT:
                return {path: (digest, blob) for path, (digest, blob) in saved["documents"].items()}, True
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            pass  # missing or damaged: rebuilt below
        blobs: dict[str, str] = {}
        documents = self.read_documents(blobs=blobs)
        return {path: (_stored_digest(doc), blobs[path]) for path, doc in documents.items()}, False

    def _save_index(self, index: Mapping[str, tuple[str, str]]) -> None:
        tree = self._snapshots_tree()
        if tree is not None:  # unsorted: only driftwatch reads it, and sorting 50,000 paths shows
            self._write(DIGESTS, orjson.dumps({"format": DIGESTS_FORMAT, "tree": tree, "documents": index}))

    def _snapshots_tree(self) -> str | None:
        """The id of ``snapshots/`` in HEAD's tree, or None."""
        if self.head() is None:
            return None
        try:
            return str((self.repo.head.commit.tree / SNAPSHOTS).hexsha)
        except KeyError:
            return None

    def _read_stored(self, path: str) -> dict[str, Any]:
        return load_json(self.path / path, path)


AlsoRecord = Callable[[Recorded], tuple[Mapping[str, str], str]]
"""Given what a run records, driftwatch's own files to commit with it and a commit message paragraph."""


def _observations_bytes(resources: tuple[Resource, ...]) -> bytes:
    """What the run observed, by resource key (untracked). orjson writes dates as ``isoformat``
    does; only a value it cannot write (a Decimal, bytes) needs ``jsonable`` first."""
    observed = {r.identity.key: r.observations for r in resources if r.observations}
    try:
        return orjson.dumps(observed, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # orjson's JSONEncodeError included
        return untracked_bytes({key: jsonable(value) for key, value in observed.items()})


def _document_digest(identity: Mapping[str, Any], config_digest: str) -> str:
    """The digest of a stored document ``{"identity": ..., "config": ...}``, from its config's
    ``content_digest``, which the normaliser often knows already: the config is not hashed again."""
    return content_digest({"identity": identity, "config": config_digest})


def _stored_digest(document: Mapping[str, Any]) -> str:
    """``_document_digest`` of a document read from a file; one with other keys (written by hand)
    matches no resource, so that the next run writes it again."""
    if document.keys() != {"identity", "config"}:
        return ""
    return _document_digest(document["identity"], content_digest(document["config"]))


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


def _with_last_known(resource: Resource, old: Mapping[str, Any] | None) -> Mapping[str, JSONValue]:
    if not resource.unreadable:
        return resource.config
    config = dict(resource.config)
    old_config = old.get("config", {}) if old else {}
    for name in resource.unreadable:
        if name in old_config:
            config[name] = old_config[name]
    return config


def _scope_of(document: Mapping[str, Any]) -> str:
    identity = document.get("identity", {})
    return "/".join(str(identity.get(k)) for k in ("provider", "account", "region", "type"))


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
