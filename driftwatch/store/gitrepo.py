"""A git repository read through git's own commands: files, blobs and trees at a commit."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, ValuesView
from pathlib import Path
from typing import Any

import git

from driftwatch.errors import StoreError
from driftwatch.layout import MANIFEST, PRIVATE_DIR, SNAPSHOTS, is_resource_file

Documents = dict[str, dict[str, Any]]
"""Resource files by repository path, each ``{"identity": ..., "config": ...}``."""


class GitRepository:
    """A git repository on disk, read and written through the git command (git's own plumbing
    where it is faster than GitPython); the base of ``StateRepo``."""

    def __init__(self, path: Path, warn: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.warn = warn or (lambda _message: None)
        try:
            self.repo = git.Repo(path)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError):
            raise StoreError(
                f"{path}: not a driftwatch state repository (create one with `driftwatch init {path}`)"
            ) from None

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
                documents[rel] = parse_json(data, rel)
                if blobs is not None:
                    blobs[rel] = blob_id(data)
        return documents

    def read_paths(self, paths: list[str], root: str = SNAPSHOTS) -> Documents:
        """The resource files at ``paths`` in the working tree (paths that are none are left out)."""
        return {p: load_json(self.path / p, p) for p in paths if is_resource_file(p, root)}

    def read_manifest(self) -> dict[str, Any]:
        """The manifest of the last snapshot ({} before the first run)."""
        path = self.path / MANIFEST
        return load_json(path, MANIFEST) if path.exists() else {}

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

    def file_versions(self, path: str, commits: Iterable[str]) -> dict[str, bytes | None]:
        """One file's content at each of ``commits`` (None where it did not exist), by commit."""
        wanted = list(dict.fromkeys(commits))
        contents = self._cat([f"{commit}:{path}" for commit in wanted])
        return {commit: contents.get(f"{commit}:{path}") for commit in wanted}

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

    def write(self, path: str, text: str) -> None:
        """Write one file of the repository atomically (only when its text changes)."""
        self._write(path, text)

    def _write(self, path: str, content: str | bytes, new: bool = False) -> bool:
        """Write ``content`` unless the file already holds it; True when it was written.

        A file is replaced atomically, so a killed run never leaves half of one, except under
        ``snapshots/``: there files are written in place, and half of one (a killed run) differs
        from the last commit, so the next run's recovery restores it (or removes it, if new).
        Replacing each file through a temporary one would create an inode and free another per
        file, and a file system slows down creating files while it has freed many recently.
        ``new`` says the file is not expected to exist: it is then not read first (at tens of
        thousands of new files, each failed read and folder check adds up).
        """
        data = content.encode() if isinstance(content, str) else content
        target = self.path / path
        if not new:
            try:
                if target.read_bytes() == data:
                    return False
            except FileNotFoundError:
                new = True
        if path.startswith(f"{SNAPSHOTS}/"):
            if not new:
                target.write_bytes(data)
                return True
            try:
                _create(target, data)
            except FileExistsError:
                return self._write(path, data)  # there after all: written only if it differs
            return True
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            temporary.write_bytes(data)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
        os.replace(temporary, target)
        return True


def _create(file: Path, data: bytes) -> None:
    """Write a new file (FileExistsError if there is one), making its folder when it is missing."""
    try:
        handle = open(file, "xb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        file.parent.mkdir(parents=True, exist_ok=True)
        handle = open(file, "xb")  # noqa: SIM115
    with handle:
        handle.write(data)


class BlobFiles(Mapping[str, bytes]):
    """Files by path, known by blob id and read from git only when asked for.

    Looking at which files there are, or whether two are the same (``blobs``), reads nothing;
    ``items()``, ``values()`` and ``load()`` read what they need in one ``git cat-file``.
    """

    def __init__(self, repo: GitRepository, blobs: Mapping[str, str]) -> None:
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


def git_problem(exc: git.GitCommandError) -> str:
    """Git's own words for a failed command: its first ``fatal:``/``error:`` line, else its last line."""
    text = str(exc.stderr or "").strip()
    text = text.removeprefix("stderr:").strip().strip("'").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    if errors:
        return errors[0]
    return lines[-1] if lines else f"git {exc.command[1] if len(exc.command) > 1 else ''} exited {exc.status}"


def load_json(file: Path, rel: str) -> dict[str, Any]:
    return parse_json(file.read_bytes(), rel)


def parse_json(data: bytes, rel: str) -> dict[str, Any]:
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


def blob_id(data: bytes) -> str:
    """The id git gives a file with this content (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
