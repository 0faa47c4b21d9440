"""A state repository shared through a remote: a local bare repo as remote, a second clone as the admin."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from driftwatch.config import RemoteSettings
from driftwatch.defaults import initial_files
from driftwatch.errors import StoreError
from driftwatch.store import StateRepo, Synced, init_repo
from tests.conftest import Invoke
from tests.test_cli import APPROVER, make_public, seed
from tests.test_store import AUTHOR, LOGS, bucket, snapshot

QUICK = RemoteSettings(attempts=2, backoff=0)
ADMIN = ("Alice Admin", "alice@example.com")


def git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=Operator", "-c", "user.email=ops@example.com", "-C", str(repo), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def share(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Push ``repo`` to a new bare remote and clone it for an admin; returns (remote, admin clone)."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "-u", "origin", "main")
    admin = tmp_path / "admin"
    subprocess.run(["git", "clone", "-q", str(remote), str(admin)], check=True)
    git(admin, "config", "user.name", ADMIN[0])
    git(admin, "config", "user.email", ADMIN[1])
    return remote, admin


def admin_commits(admin: Path, path: str, text: str, message: str) -> str:
    git(admin, "pull", "-q", "--rebase")
    (admin / path).parent.mkdir(parents=True, exist_ok=True)
    (admin / path).write_text(text)
    git(admin, "add", path)
    git(admin, "commit", "-q", "-m", message)
    git(admin, "push", "-q")
    return git(admin, "rev-parse", "HEAD")


MOVE_MAIN_THEN_DECLINE = """#!/bin/sh
# Once: the admin's commit lands on main while the collector's push is under way; this push is declined.
if [ -f "$GIT_DIR/admin-moved" ]; then exit 0; fi
touch "$GIT_DIR/admin-moved"
unset GIT_QUARANTINE_PATH
git update-ref refs/heads/main refs/heads/admin-edit
echo "main moved on" >&2
exit 1
"""


def admin_commits_during_next_push(remote: Path, admin: Path, path: str, text: str, message: str) -> str:
    """The admin commits ``path`` now, and the remote puts it on main while the collector's next push
    is under way (declining that push once): as if the admin pushed between the run's fetch and push."""
    git(admin, "pull", "-q")
    (admin / path).parent.mkdir(parents=True, exist_ok=True)
    (admin / path).write_text(text)
    git(admin, "add", path)
    git(admin, "commit", "-q", "-m", message)
    git(admin, "push", "-q", "origin", "HEAD:refs/heads/admin-edit")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(MOVE_MAIN_THEN_DECLINE)
    hook.chmod(0o755)
    return git(admin, "rev-parse", "HEAD")


def test_an_approval_pushed_between_two_runs_is_used_by_the_next(
    state_repo: Path, aws: str, invoke: Invoke, tmp_path: Path
) -> None:
    seed(aws)
    git(state_repo, "commit", "-q", "-am", "config for this account")
    remote, admin = share(state_repo, tmp_path)
    config = str(state_repo / "driftwatch.toml")
    first = invoke("-c", config, "run")
    assert first.exit_code == 0 and "state repository remote" not in first.stderr, first.stderr
    assert git(remote, "rev-parse", "main") == git(state_repo, "rev-parse", "HEAD")

    git(admin, "pull", "-q")
    approved = invoke(
        "-c", str(admin / "driftwatch.toml"), "approve", "--all", "--reason", "ok", "--author", APPROVER
    )
    assert approved.exit_code == 0, approved.stderr
    git(admin, "push", "-q")

    make_public(aws, "team-web")
    second = invoke("-c", config, "run", "--format", "json")
    assert second.exit_code == 2, second.stderr
    findings = json.loads(second.stdout)["findings"]
    # Nothing is unapproved any more: the admin's approval counts, and the drift is against it.
    assert {(f["rule"], f["resource"], f["against"]) for f in findings} == {
        ("s3-bucket-public", "arn:aws:s3:::team-web", "baseline"),
        ("s3-public-access-block-weakened", "arn:aws:s3:::team-web", "baseline"),
    }
    assert git(state_repo, "log", "--format=%an: %s", "-5").splitlines() == [
        "driftwatch: driftwatch: alerts delivered",  # to the console (its report is the JSON document)
        "driftwatch: driftwatch: 1 changed, 0 added, 0 removed (s3 1)",
        "Alice Admin: approve: 8 resource(s)",
        "driftwatch: driftwatch: alerts delivered",
        "driftwatch: driftwatch: 0 changed, 8 added, 0 removed (ec2 2, iam 3, s3 3)",
    ]
    assert git(remote, "rev-parse", "main") == git(state_repo, "rev-parse", "HEAD")
    assert git(state_repo, "rev-parse", "HEAD~1") == findings[0]["commit"]


def test_a_remote_that_is_down_loses_nothing_and_gets_the_commits_later(
    state_repo: Path, aws: str, invoke: Invoke, tmp_path: Path
) -> None:
    seed(aws)
    path = state_repo / "driftwatch.toml"
    path.write_text(path.read_text().replace("attempts = 3\nbackoff = 2.0", "attempts = 2\nbackoff = 0"))
    git(state_repo, "commit", "-q", "-am", "config for this account")
    remote, _ = share(state_repo, tmp_path)
    away = remote.rename(tmp_path / "remote-away.git")
    config = str(state_repo / "driftwatch.toml")

    first = invoke("-c", config, "run", "--fail-on", "critical")
    assert first.exit_code == 0, first.stderr
    assert "state repository remote: fetch from origin failed after 2 attempt(s): " in first.stderr
    assert (
        f"state repository remote: push to origin failed after 2 attempt(s): fatal: '{remote}' does not "
        f"appear to be a git repository; 1 commit(s) stay in {state_repo} and the next run pushes them"
    ) in first.stderr
    make_public(aws, "team-web")
    second = invoke("-c", config, "run", "--fail-on", "critical")
    # Each run: its snapshot, then the commit that records its alerts as delivered.
    assert second.exit_code == 2 and "3 commit(s) stay in" in second.stderr
    local = git(state_repo, "log", "--format=%H %s").splitlines()

    away.rename(remote)
    third = invoke("-c", config, "run", "--fail-on", "critical")
    assert third.exit_code == 2 and "state repository remote" not in third.stderr, third.stderr
    now = git(state_repo, "log", "--format=%H %s").splitlines()
    assert now[-len(local) :] == local  # nothing rewritten or lost (the run may add its own commit)
    assert git(remote, "log", "--format=%H %s", "main").splitlines() == now


Shared = tuple[StateRepo, Path, Path]


@pytest.fixture
def shared(tmp_path: Path) -> tuple[StateRepo, Path, Path]:
    init_repo(tmp_path / "state", initial_files(), *AUTHOR)
    remote, admin = share(tmp_path / "state", tmp_path)
    return StateRepo(tmp_path / "state"), remote, admin


def test_a_refused_push_is_resolved_by_rebasing_the_collectors_commit(
    shared: Shared,
) -> None:
    repo, remote, admin = shared
    with repo.lock():
        assert repo.pull(QUICK, AUTHOR).taken == 0
        recorded = repo.record(snapshot(bucket("logs", Versioning={})), *AUTHOR)
        # The admin pushes an approval after this run fetched and before it pushes.
        approval = admin_commits(admin, "baselines/README.md", "approved\n", "approve: logs")
        synced = repo.push(QUICK, AUTHOR)
    assert recorded.commit is not None
    new = git(repo.path, "rev-parse", "HEAD")
    assert (synced.pushed, synced.taken, synced.rewritten, synced.problems) == (
        1,
        1,
        ((recorded.commit, new),),
        (),
    )
    assert git(remote, "rev-parse", "main") == new
    assert git(repo.path, "rev-parse", "HEAD~1") == approval  # the collector's commit now sits on the admin's
    assert (
        git(repo.path, "log", "-1", "--format=%an %s")
        == "driftwatch driftwatch: 0 changed, 1 added, 0 removed (s3 1)"
    )
    assert repo.last_run()["snapshot_commit"] == new  # check compares the rebased commit
    assert (repo.path / LOGS).exists() and (repo.path / "baselines/README.md").read_text() == "approved\n"


def test_local_commits_are_rebased_onto_the_remote_before_a_run(shared: Shared) -> None:
    repo, remote, admin = shared
    with repo.lock():
        repo.record(snapshot(bucket("logs")), *AUTHOR)  # not pushed: as after a run while the remote was down
    approval = admin_commits(admin, "baselines/README.md", "approved\n", "approve: logs")
    with repo.lock():
        synced = repo.pull(QUICK, AUTHOR)
    assert (synced.taken, len(synced.rewritten)) == (1, 1)
    assert git(repo.path, "rev-parse", "HEAD~1") == approval
    assert git(remote, "rev-parse", "main") == approval  # pushed only after the run commits


def test_an_admins_signed_commit_in_the_collectors_checkout_is_never_rebased(
    shared: Shared, tmp_path: Path
) -> None:
    repo, remote, admin = shared
    key = tmp_path / "alice"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with repo.lock():
        repo.record(snapshot(bucket("logs")), *AUTHOR)  # the collector's, not pushed yet
    (repo.path / "baselines").mkdir(exist_ok=True)
    (repo.path / "baselines/README.md").write_text("approved here\n")
    git(repo.path, "add", "baselines/README.md")
    signing = ("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}")
    who = ("-c", f"user.name={ADMIN[0]}", "-c", f"user.email={ADMIN[1]}")
    git(repo.path, *signing, *who, "commit", "-q", "-S", "-m", "approve: readme", "baselines/README.md")
    signed = git(repo.path, "rev-parse", "HEAD")
    admin_commits(admin, "baselines/other.txt", "x\n", "approve: other")
    with repo.lock(), pytest.raises(StoreError) as error:
        repo.pull(QUICK, AUTHOR)
    assert str(error.value) == (
        f"{repo.path}: cannot take the new commits of origin/main: local commit {signed[:10]} "
        f"('approve: readme' by {ADMIN[0]} <{ADMIN[1]}>) was not made by driftwatch's collector, and "
        "rebasing it would rewrite it (dropping any signature, so an approval would stop counting). Nothing "
        "is lost: it is still on this branch and not pushed. Merge by hand, which keeps it as it is "
        f"(`git -C {repo.path} pull --no-rebase origin`), push, then run again"
    )
    assert git(repo.path, "rev-parse", "HEAD") == signed
    # As told: merged by hand, the signed commit reaches the remote as it was made.
    git(repo.path, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    with repo.lock():
        assert repo.pull(QUICK, AUTHOR).rewritten == ()
        repo.push(QUICK, AUTHOR)
    assert git(remote, "merge-base", "--is-ancestor", signed, "main") == ""
    assert "gpgsig" in git(remote, "cat-file", "commit", signed)


def test_a_rebase_that_conflicts_stops_the_run_and_loses_nothing(
    shared: Shared,
) -> None:
    repo, _, admin = shared
    with repo.lock():
        repo.record(snapshot(bucket("logs", Versioning={})), *AUTHOR)
        repo.push(QUICK, AUTHOR)
        repo.record(snapshot(bucket("logs", Versioning={"Status": "Enabled"})), *AUTHOR)
    local = git(repo.path, "rev-parse", "HEAD")
    admin_commits(admin, LOGS, "{}\n", "edit a snapshot by hand")  # what the collector owns
    with repo.lock(), pytest.raises(StoreError) as error:
        repo.pull(QUICK, AUTHOR)
    assert str(error.value) == (
        f"{repo.path}: cannot rebase 1 local commit(s) onto origin/main: {LOGS} changed on both sides. "
        "Nothing is lost: the local commits are still on this branch and are not pushed. Merge them by hand "
        f"(`git -C {repo.path} pull --rebase origin`), then run again"
    )
    assert git(repo.path, "rev-parse", "HEAD") == local
    assert git(repo.path, "status", "--porcelain") == ""
    assert not (Path(repo.repo.git_dir) / "rebase-merge").exists()


def test_without_a_remote_nothing_is_fetched_or_pushed(tmp_path: Path) -> None:
    init_repo(tmp_path / "state", initial_files(), *AUTHOR)
    repo = StateRepo(tmp_path / "state")
    with repo.lock():
        repo.record(snapshot(bucket("logs")), *AUTHOR)
        assert repo.pull(QUICK, AUTHOR) == repo.push(QUICK, AUTHOR) == Synced()
    share(repo.path, tmp_path)
    assert repo.push(RemoteSettings(name=""), AUTHOR) == Synced()  # a remote, but sharing switched off
