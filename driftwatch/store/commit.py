"""Commits of a few paths: git fast-import for speed, git commit-tree where a signature is wanted."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import git

from driftwatch.errors import StoreError
from driftwatch.store.gitrepo import GitRepository

ALWAYS_PACK = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "fastimport.unpackLimit",
    "GIT_CONFIG_VALUE_0": "0",
}
"""git fast-import keeps even a few objects as a pack (not loose files); packs are merged as they add up."""

FAST_IMPORT = {
    **ALWAYS_PACK,
    # glibc hands the heap's top back to the kernel after each blob's compression buffers are
    # freed, and takes it again for the next one: four brk calls a blob, two thirds of
    # fast-import's time for 50,000 blobs. A high trim threshold keeps it (other libcs ignore it).
    "MALLOC_TRIM_THRESHOLD_": str(64 << 20),
}
"""The environment of ``git fast-import``."""

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
    ) -> None:
        """Commit ``paths`` only (never what else is staged) as the given author and committer.

        The commit is HEAD's tree with ``paths`` as they are in the working tree (a path that is
        gone is removed). It is made by ``git fast-import`` (see ``StreamedCommit``); ``sign``
        signs the commit with git's own signing set-up (``user.signingkey``, ``gpg.format``),
        which only ``git commit-tree`` can do.
        """
        if sign:
            self._commit_tree(message, paths, author_name, author_email, sign)
            self._committed(paths)
            return
        with self.streamed_commit() as staged:
            for path in sorted(paths):  # neighbours in a folder are alike: git deltifies them faster
                try:
                    data = (self.path / path).read_bytes()
                except FileNotFoundError:
                    staged.remove(path)
                    continue
                staged.add(path, data)
            staged.finish(message, author_name, author_email)

    @contextlib.contextmanager
    def streamed_commit(self) -> Iterator[StreamedCommit | HeldCommit]:
        """A commit of files handed over one by one as they are written (``StreamedCommit``);
        leaving the block without ``finish`` commits nothing."""
        branch = self._branch()
        if branch is None:
            yield HeldCommit(self)
            return
        staged = StreamedCommit(self, branch)
        try:
            yield staged
        except BaseException:
            with contextlib.suppress(StoreError):
                staged.close()  # what went wrong first is what the user hears of
            raise
        staged.close()

    def _committed(self, paths: list[str]) -> None:
        """After a commit: the real index takes the committed paths (anything else staged there
        stays staged), and the commit-graph the commit."""
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


class StreamedCommit:
    """One commit made by ``git fast-import`` from files handed over while they are written.

    Each file goes to git as soon as it is added, so that git hashes and packs it, and stages it
    in the real index, on the other core while driftwatch serialises and writes the next one;
    ``finish`` then makes the commit of HEAD plus those paths, nothing else (anything else
    staged stays staged). The stream ends with ``done``, so a stream cut short (a killed run)
    commits nothing; without ``finish`` the files given stay unreferenced objects, staged but
    not committed (the next run's recovery puts them back as HEAD has them). The branch moves
    only if it still points at the parent read when the commit is made.
    """

    def __init__(self, committer: Committer, branch: str) -> None:
        self._committer = committer
        self._branch = branch
        self._importer = _GitInput(
            committer.path, ("fast-import", "--quiet", "--date-format=raw"), b"feature done\n", FAST_IMPORT
        )
        # --info-only: the index takes each file's blob id and stat data, and git stores no second
        # copy of the blob as a loose object (the blob is in fast-import's pack)
        self._indexer = _GitInput(
            committer.path, ("update-index", "--add", "--remove", "--info-only", "-z", "--stdin")
        )
        self._changes: dict[str, int | None] = {}  # path -> fast-import mark of its blob; None: removed
        self._marks = 0

    def add(self, path: str, data: bytes) -> None:
        """``path`` holds ``data`` in the commit (added or changed); the file is written already."""
        self._marks += 1
        self._importer.write(b"blob\nmark :%d\ndata %d\n%s\n" % (self._marks, len(data), data))
        self._indexer.write(path.encode() + b"\0")
        self._changes[path] = self._marks

    def remove(self, path: str) -> None:
        """``path`` is not in the commit; the file is gone already."""
        self._indexer.write(path.encode() + b"\0")
        self._changes[path] = None

    def finish(self, message: str, author_name: str, author_email: str) -> None:
        """Make the commit of everything added and removed."""
        parent = self._committer.head()
        when = int(time.time())
        person = f"{_fast_import_name(author_name)} <{_fast_import_name(author_email)}> {when} +0000"
        encoded = message.encode()
        commands = [
            f"commit {self._branch}\nauthor {person}\ncommitter {person}\n".encode(),
            b"data %d\n%s\n" % (len(encoded), encoded),
        ]
        if parent is not None:
            commands.append(f"from {parent}\n".encode())
        for path, mark in self._changes.items():
            quoted = _fast_import_path(path)
            commands.append(b"D %s\n" % quoted if mark is None else b"M 100644 :%d %s\n" % (mark, quoted))
        self._importer.write(b"".join(commands))
        self.close()
        if self._committer.head() == parent:
            raise StoreError(f"{self._committer.path}: git fast-import did not move {self._branch}")
        self._committer._index_history()
        self._committer._merge_small_packs()

    def close(self) -> None:
        """End both streams (without a commit if ``finish`` did not make one); StoreError if git
        failed."""
        importing = self._importer.end(b"done\n")
        indexing = self._indexer.end()
        if importing and "Not updating" in importing:
            raise StoreError(
                f"{self._committer.path}: {self._branch} moved while this run was committing (a commit "
                "or push into this checkout); nothing was committed, and the next run records the "
                "state again"
            )
        for name, problem in (("fast-import", importing), ("update-index", indexing)):
            if problem is not None:
                raise StoreError(f"{self._committer.path}: git {name} failed: {problem}")


class HeldCommit:
    """``StreamedCommit``'s stand-in on a detached HEAD, where fast-import has no branch to move:
    the paths are committed at the end as the working tree has them, through ``git commit-tree``."""

    def __init__(self, committer: Committer) -> None:
        self._committer = committer
        self._paths: dict[str, None] = {}

    def add(self, path: str, data: bytes) -> None:  # the working tree has ``data``
        self._paths[path] = None

    def remove(self, path: str) -> None:
        self._paths[path] = None

    def finish(self, message: str, author_name: str, author_email: str) -> None:
        self._committer._commit_tree(message, list(self._paths), author_name, author_email, sign=False)
        self._committer._committed(list(self._paths))


class _GitInput:
    """A git command fed through its standard input while driftwatch goes on working; it starts
    with the first write (a stream that gets nothing runs no process)."""

    def __init__(
        self, cwd: Path, args: tuple[str, ...], first: bytes = b"", env: Mapping[str, str] | None = None
    ) -> None:
        self._cwd = cwd
        self._args = args
        self._first = first  # what the stream starts with
        self._env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if self._process is None:
            if self._started:
                raise StoreError(f"{self._cwd}: git {self._args[0]} was already ended")
            self._started = True
            self._process = subprocess.Popen(
                [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *self._args],
                cwd=self._cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=self._env,
            )
            data = self._first + data
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(data)
        except BrokenPipeError:  # git stopped: ``end`` says why
            problem = self.end()
            raise StoreError(f"{self._cwd}: git {self._args[0]} stopped: {problem}") from None

    def end(self, last: bytes = b"") -> str | None:
        """Send ``last``, wait for git; what it said if it failed, else None."""
        process, self._process = self._process, None
        if process is None:
            return None
        _, stderr = process.communicate(last)
        if process.returncode == 0:
            return None
        return stderr.decode(errors="replace").strip() or f"exit status {process.returncode}"


def _fast_import_name(text: str) -> str:
    """A name or email as ``git fast-import`` takes it (no angle brackets or line breaks)."""
    return " ".join(text.replace("<", "").replace(">", "").split())


def _fast_import_path(path: str) -> bytes:
    """A path for a ``git fast-import`` command, quoted the C way when it needs to be."""
    if not path.startswith('"') and "\n" not in path:
        return path.encode()
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'.encode()
