"""The history of a state repository as git's log tells it: commits by path, author, date and signature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import git

from driftwatch.layout import PRIVATE_DIR, SNAPSHOTS, is_resource_file
from driftwatch.store.gitrepo import Documents, GitRepository, parse_json


class HistoryLog(GitRepository):
    """What git's log says: the commits that changed some files, who made them, and when."""

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

    def commit_adding(self, path: str, text: str) -> str | None:
        """The latest commit that changed how often ``text`` occurs in ``path`` (git's pickaxe):
        the one that put it there, when the file holds it now."""
        if self.head() is None:
            return None
        out: str = self.repo.git.log("-n1", "--format=%H", f"-S{text}", "--", path)
        return out.strip() or None

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

        Every side of a merge is followed, even one whose files the merge took whole (git's
        default would drop the other side's history). A merge lists only what it changed itself
        (files that differ from every parent). With
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
            "--topo-order", "--reverse", "--full-history", "--cc", "--name-only", "--no-renames",
            f"--format={fields}", at or "HEAD", "--", root, env=env,
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

    def first_commit(self, at: str | None = None) -> str | None:
        """The repository's first commit (``driftwatch init``): the root of HEAD's (or ``at``'s) history.

        When a history with no common root has been merged in, there are several roots, and the
        first-parent chain may lead to the other one (a fast-forward onto it). So the root is
        remembered in this checkout's private folder while it is the only one, and that one is
        the first commit from then on; a checkout that never saw it alone takes the root of the
        first-parent chain.
        """
        if self.head() is None:
            return None
        pin = self.path / PRIVATE_DIR / "first-commit"
        known = pin.read_text(encoding="utf-8").strip() if pin.is_file() else None
        roots: list[str] = self.repo.git.rev_list("--max-parents=0", at or "HEAD").split()
        if known in roots:
            return known
        if len(roots) == 1:
            if known is None and at is None:
                pin.parent.mkdir(exist_ok=True)
                pin.write_text(roots[0] + "\n", encoding="utf-8")
            return roots[0]
        chain: str = self.repo.git.rev_list("--first-parent", "--max-parents=0", at or "HEAD")
        return chain.split()[0] if chain.split() else None

    def descendants_changing(self, start: str, path: str, at: str | None = None) -> set[str]:
        """The commits of HEAD's (or ``at``'s) history that descend from ``start`` and change ``path``."""
        out: str = self.repo.git.rev_list(
            "--full-history", "--ancestry-path", f"{start}..{at or 'HEAD'}", "--", path
        )
        return set(out.split())

    def paths_ever(self, root: str) -> list[str]:
        """Every file that was ever under ``root`` in HEAD's history, deleted ones included."""
        if self.head() is None:
            return []
        out: str = self.repo.git.log("--format=", "--name-only", "--no-renames", "--", root)
        return sorted({p for p in out.splitlines() if p.strip()})

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
            documents[path] = parse_json(data, path)
        return documents

    def paths_containing(self, text: str, root: str = SNAPSHOTS) -> list[str]:
        """Files under ``root`` in the working tree whose content contains ``text`` (``git grep``)."""
        out = self._git_bytes("grep", "-l", "-z", "-F", "--untracked", "-e", text, "--", root, ok=(0, 1))
        return [p for p in out.decode().split("\0") if p]

    def file_changes(self, paths: list[str], alone: str | None = None) -> list[tuple[CommitInfo, FileBlobs]]:
        """Commits that touched any of ``paths``, oldest first, each with the blob ids of those files
        before and after it (None where the file did not exist).

        ``alone`` (one of ``paths``, in a large and busy folder) is logged by itself: git skips the
        commits that did not touch it by the commit-graph's changed-path filters, which it uses
        for a log of one path only, instead of comparing each commit's trees. Only a linear history
        is read so: each log is then a part of its one chain of commits, put back in order by
        ``git rev-list``. A history with merges is read in one log of every path, as git orders it.
        """
        if self.head() is None:
            return []
        if alone is None or paths == [alone]:
            return self._file_changes(paths)
        lines = self.repo.git.rev_list("--parents", "HEAD").splitlines()
        if any(line.count(" ") > 1 for line in lines):  # a merge
            return self._file_changes(paths)
        found: dict[str, tuple[CommitInfo, FileBlobs]] = {}
        for info, changes in [
            *self._file_changes([alone]),
            *self._file_changes([p for p in paths if p != alone]),
        ]:
            found.setdefault(info.sha, (info, {}))[1].update(changes)
        order = {line.split(" ", 1)[0]: -i for i, line in enumerate(lines)}  # rev-list lists newest first
        return sorted(found.values(), key=lambda entry: order[entry[0].sha])

    def _file_changes(self, paths: list[str]) -> list[tuple[CommitInfo, FileBlobs]]:
        """``file_changes`` in one ``git log`` of ``paths``."""
        if not paths:
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
            *_pathspecs(paths),
        )
        wanted = set(paths)
        commits = []
        for record in out.split("\x1e"):
            if not record.strip():
                continue
            sha, when, name, email, subject, parents, reason, raw = record.split("\x1f")
            changes: FileBlobs = {}
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
            if changes:  # a wider pathspec also lists commits that touched only other files
                commits.append((info_, changes))
        return commits


FileBlobs = dict[str, tuple[str | None, str | None]]
"""Paths changed by a commit, each with its blob id before and after (None: the file did not exist)."""

MAX_PATHSPECS = 256
"""Above this many paths, ``git log`` is given their folders: 50,000 paths overflow the command line."""


def _pathspecs(paths: list[str]) -> list[str]:
    """``paths``, or when there are too many, the fewest folders that hold them (then the top ones)."""
    if len(paths) <= MAX_PATHSPECS:
        return paths
    folders = sorted({path.rpartition("/")[0] or "." for path in paths})
    if len(folders) <= MAX_PATHSPECS:
        return folders
    return sorted({path.split("/", 1)[0] if "/" in path else "." for path in paths})


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
