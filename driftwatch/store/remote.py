"""Sharing a state repository through its git remote: fetch, fast-forward or rebase, push, with retries."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import git

from driftwatch.config import RemoteSettings
from driftwatch.errors import StoreError
from driftwatch.layout import ALERT_STATE, LAST_VERIFIED, PRIVATE_DIR, SNAPSHOTS
from driftwatch.normalise import file_text
from driftwatch.store.gitrepo import GitRepository, git_problem


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


class RemoteSync(GitRepository):
    """Shares the repository through a git remote: fetch before a run, push after it."""

    # A run fetches first, so that baselines admins pushed count, and pushes after its commit.
    # Only the collector's own local commits are ever rebased, onto the remote's; nothing is ever
    # force-pushed. Anyone else's commit (an admin's signed approval) is never rewritten.

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
        fetched, rebased and pushed again; one that keeps failing, or whose rebase conflicts (it is
        undone), is reported in ``problems``, and the commits stay here for the next run to push."""
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
                problem = git_problem(exc)
                refused = "[rejected]" in str(exc.stdout) + str(exc.stderr)
            if refused:  # the remote moved on: take its commits and try again at once
                fetch_problem = self._retried(remote, "fetch", lambda: self._fetch(remote, branch))
                if not fetch_problem:
                    upstream = self._upstream(remote.name, branch)
                    if upstream is not None:
                        _, behind = self._distance(upstream)
                        try:
                            rewritten += self._rebase(remote, upstream, committer)
                        except StoreError as exc:  # the run goes on from its local commits (alerts too)
                            return Synced(
                                remote.name,
                                taken=taken,
                                rewritten=rewritten,
                                problems=(f"push to {remote.name} refused, the remote moved on: {exc}",),
                            )
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
                problem = git_problem(exc)
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
                f"{git_problem(exc)}; commit or remove the local edits it names, then run again"
            ) from None

    def _rebase(
        self, remote: RemoteSettings, upstream: str, committer: tuple[str, str]
    ) -> tuple[tuple[str, str], ...]:
        """Replay the local commits onto ``upstream``; a conflict undoes the rebase and raises StoreError."""
        shown = upstream.removeprefix("refs/remotes/")
        before = self.repo.git.rev_list("--reverse", f"{upstream}..HEAD").split()
        foreign = self._not_made_by(committer, upstream)
        if foreign:
            more = f" (and {len(foreign) - 1} more such commit(s))" if len(foreign) > 1 else ""
            raise StoreError(
                f"{self.path}: cannot take the new commits of {shown}: local commit {foreign[0]}{more} "
                "was not made by driftwatch's collector, and rebasing it would rewrite it (dropping any "
                "signature, so an approval would stop counting). Nothing is lost: it is still on this "
                "branch and not pushed. Merge by hand, which keeps it as it is "
                f"(`git -C {self.path} pull --no-rebase {remote.name}`), push, then run again"
            )
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

    def _not_made_by(self, collector: tuple[str, str], upstream: str) -> list[str]:
        """The local commits not on ``upstream`` that are not the collector's own, described.

        The collector's commits are authored by it, unsigned, not merges, and touch only
        ``snapshots/``, ``last-verified.json`` and ``alert-state.json``.
        """
        fields = "%x1e%H%x1f%P%x1f%an <%ae>%x1f%ae%x1f%s%x1f"
        out = self.repo.git.log(
            "--reverse", "--name-only", "--no-renames", f"--format={fields}", f"{upstream}..HEAD"
        )
        foreign = []
        for record in out.split("\x1e")[1:]:
            sha, parents, author, email, subject, names = record.split("\x1f")
            paths = [n for n in names.splitlines() if n.strip()]
            own = (
                len(parents.split()) == 1
                and email.lower() == collector[1].lower()
                and all(p in (LAST_VERIFIED, ALERT_STATE) or p.startswith(SNAPSHOTS + "/") for p in paths)
                and not self.repo.commit(sha).gpgsig
            )
            if not own:
                foreign.append(f"{sha[:10]} ({subject!r} by {author})")
        return foreign

    def _rewrite_last_run(self, rewritten: dict[str, str]) -> None:
        """Point ``last-run.json`` at the rebased commits, so that ``check`` compares the same ones."""
        last = self.last_run()
        if not last:
            return
        for key in ("previous_commit", "snapshot_commit"):
            if last.get(key) in rewritten:
                last[key] = rewritten[last[key]]
        self._write(f"{PRIVATE_DIR}/last-run.json", file_text(last))
