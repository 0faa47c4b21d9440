"""Commits of a few paths: git fast-import for speed, git commit-tree where a signature is wanted."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path

from driftwatch.errors import StoreError
from driftwatch.store.gitrepo import GitRepository

ALWAYS_PACK = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "fastimport.unpackLimit",
    "GIT_CONFIG_VALUE_0": "0",
}
"""git fast-import keeps even a few objects as a pack (not loose files); packs are merged as they add up."""

MAX_PACKS = 20
"""Packs in the object store above which a run merges the small ones (git's own gc waits for 50)."""


class Committer(GitRepository):
    """Makes commits of chosen paths only, without touching anything else that is staged."""

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
        try:
            return str(self.repo.head.reference.path)  # read from .git/HEAD, without a git process
        except TypeError:  # GitPython's word for a detached HEAD
            return None

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
        for path in sorted(paths):  # neighbours in a folder are alike: git deltifies them faster
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

    def _index_history(self) -> None:
        """Add the new commit to git's commit-graph with changed-path filters, so that the log of
        one file (``driftwatch history``) skips the commits that did not touch it. Best effort:
        an old git or a read-only object store only makes history slower."""
        with contextlib.suppress(StoreError):
            self._git_bytes("commit-graph", "write", "--reachable", "--changed-paths", "--split")


def _fast_import_name(text: str) -> str:
    """A name or email as ``git fast-import`` takes it (no angle brackets or line breaks)."""
    return " ".join(text.replace("<", "").replace(">", "").split())


def _fast_import_path(path: str) -> bytes:
    """A path for a ``git fast-import`` command, quoted the C way when it needs to be."""
    if not path.startswith('"') and "\n" not in path:
        return path.encode()
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'.encode()
