"""The state repository: one commit per changed run, nothing lost to failures, kills or a second process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import git
import pytest

from driftwatch.defaults import initial_files
from driftwatch.errors import LockedError, StoreError
from driftwatch.model import CoverageGap, Resource, ResourceId, Scope, Snapshot
from driftwatch.store import MAX_PACKS, StateRepo, init_repo

ACCOUNT = "111122223333"
BUCKETS = Scope("aws", ACCOUNT, "global", "s3/bucket")
GROUPS = Scope("aws", ACCOUNT, "eu-west-1", "ec2/security-group")
AUTHOR = ("driftwatch", "driftwatch@localhost")
DAY_1 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def bucket(name: str, **config: object) -> Resource:
    identity = ResourceId("aws", ACCOUNT, "global", "s3/bucket", name, f"arn:aws:s3:::{name}")
    return Resource(identity, {"Name": name, **config})


def group(group_id: str, **config: object) -> Resource:
    identity = ResourceId("aws", ACCOUNT, "eu-west-1", "ec2/security-group", group_id)
    return Resource(identity, {"GroupId": group_id, **config})


def snapshot(
    *resources: Resource,
    scopes: tuple[Scope, ...] = (BUCKETS, GROUPS),
    gaps: tuple[CoverageGap, ...] = (),
    when: datetime = DAY_1,
) -> Snapshot:
    return Snapshot(
        f"run-{when:%H%M%S}", when, when + timedelta(seconds=5), resources, frozenset(scopes), gaps
    )


@pytest.fixture
def repo(tmp_path: Path) -> StateRepo:
    init_repo(tmp_path / "state", initial_files(), *AUTHOR)
    return StateRepo(tmp_path / "state")


def commits(repo: StateRepo) -> int:
    return int(repo.repo.git.rev_list("--count", "HEAD"))


def stored(repo: StateRepo, path: str) -> dict[str, object]:
    return json.loads((repo.path / path).read_text())  # type: ignore[no-any-return]


LOGS = "snapshots/aws/111122223333/global/s3/bucket/logs.json"
WEB = "snapshots/aws/111122223333/global/s3/bucket/web.json"
SG = "snapshots/aws/111122223333/eu-west-1/ec2/security-group/sg-1.json"


def test_first_run_commits_every_file_then_an_unchanged_run_commits_nothing(repo: StateRepo) -> None:
    with repo.lock():
        first = repo.record(snapshot(bucket("logs", Versioning={}), group("sg-1")), *AUTHOR)
    assert first.added == (LOGS, SG) and first.commit is not None
    assert stored(repo, LOGS) == {
        "config": {"Name": "logs", "Versioning": {}},
        "identity": {
            "account": ACCOUNT,
            "arn": "arn:aws:s3:::logs",
            "id": "logs",
            "provider": "aws",
            "region": "global",
            "type": "s3/bucket",
        },
    }
    assert (repo.path / LOGS).read_text().endswith("}\n")
    with repo.lock():
        again = repo.record(
            snapshot(bucket("logs", Versioning={}), group("sg-1"), when=DAY_1 + timedelta(hours=1)), *AUTHOR
        )
    assert again.commit is None and commits(repo) == 2
    assert again.added == again.changed == again.removed == ()


def test_commit_message_tells_what_changed_and_carries_trailers(repo: StateRepo) -> None:
    with repo.lock():
        repo.record(snapshot(bucket("logs", Tags={}), bucket("web")), *AUTHOR)
        repo.record(snapshot(bucket("logs", Tags={"team": "ops"}), group("sg-1")), *AUTHOR)
    message = repo.repo.head.commit.message
    assert message.splitlines()[0] == "driftwatch: 1 changed, 1 added, 1 removed (ec2 1, s3 2)"
    assert "~ aws/111122223333/global/s3/bucket/logs.json" in message
    assert "+ aws/111122223333/eu-west-1/ec2/security-group/sg-1.json" in message
    assert "- aws/111122223333/global/s3/bucket/web.json" in message
    trailers = repo.repo.git.log("-1", "--format=%(trailers:key=Driftwatch-Changed,valueonly)").strip()
    assert trailers == "3"
    assert repo.repo.head.commit.author.name == "driftwatch"


def test_a_scope_that_was_not_read_keeps_its_files(repo: StateRepo) -> None:
    with repo.lock():
        repo.record(snapshot(bucket("logs"), group("sg-1")), *AUTHOR)
        gap = CoverageGap(GROUPS, "ec2.describe_security_groups", "denied", "UnauthorizedOperation", "no")
        result = repo.record(snapshot(bucket("logs"), scopes=(BUCKETS,), gaps=(gap,)), *AUTHOR)
    assert result.removed == ()
    assert (repo.path / SG).exists()
    manifest = stored(repo, "snapshots/manifest.json")
    assert manifest["scopes"] == {
        "aws/111122223333/global/s3/bucket": "read",
        "aws/111122223333/eu-west-1/ec2/security-group": "not read: denied (UnauthorizedOperation)",
    }
    # The manifest changed (the scope is now a gap), so the run is recorded, without deleting anything.
    assert "Not read this run (1 scopes, 0 fields" in repo.repo.head.commit.message


def test_an_unreadable_field_keeps_its_last_known_value(repo: StateRepo) -> None:
    block = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    with repo.lock():
        repo.record(snapshot(bucket("logs", PublicAccessBlock=block, Tags={})), *AUTHOR)
        denied = Resource(
            bucket("logs").identity,
            {"Name": "logs", "Tags": {"a": "b"}},
            unreadable={"PublicAccessBlock": "AccessDenied"},
        )
        gap = CoverageGap(
            BUCKETS,
            "s3.get_public_access_block",
            "denied",
            "AccessDenied",
            "Access Denied",
            denied.identity,
            "PublicAccessBlock",
        )
        result = repo.record(snapshot(denied, gaps=(gap,)), *AUTHOR)
    assert result.changed == (LOGS,)
    assert stored(repo, LOGS)["config"] == {"Name": "logs", "PublicAccessBlock": block, "Tags": {"a": "b"}}
    (entry,) = stored(repo, "snapshots/manifest.json")["gaps"]  # type: ignore[misc]
    assert entry == {
        "api_call": "s3.get_public_access_block",
        "code": "AccessDenied",
        "field": "PublicAccessBlock",
        "kind": "denied",
        "message": "Access Denied",
        "resource": "arn:aws:s3:::logs",
        "scope": "aws/111122223333/global/s3/bucket",
    }


def test_a_new_resource_whose_only_field_was_unreadable_is_not_written(repo: StateRepo) -> None:
    identity = ResourceId("aws", ACCOUNT, "global", "s3/account-public-access-block", "account")
    with repo.lock():
        result = repo.record(snapshot(Resource(identity, {}, {"PublicAccessBlock": "AccessDenied"})), *AUTHOR)
    assert result.added == ()
    assert not (repo.path / "snapshots/aws/111122223333/global/s3/account-public-access-block").exists()


def test_at_most_one_verification_commit_a_day(repo: StateRepo) -> None:
    with repo.lock():
        repo.record(snapshot(bucket("logs")), *AUTHOR)
        same_day = repo.record(snapshot(bucket("logs"), when=DAY_1 + timedelta(hours=8)), *AUTHOR)
        next_day = repo.record(snapshot(bucket("logs"), when=DAY_1 + timedelta(days=1)), *AUTHOR)
    assert same_day.commit is None
    assert next_day.commit is not None
    assert repo.repo.head.commit.summary == "driftwatch: settings verified, no change"
    assert stored(repo, "last-verified.json")["date"] == "2026-12-02"
    last_run = json.loads((repo.path / ".driftwatch/last-run.json").read_text())
    assert last_run["finished_at"] == "2026-12-02T09:00:05+00:00"


def test_a_second_process_is_refused_while_a_run_holds_the_lock(repo: StateRepo) -> None:
    refused = pytest.raises(LockedError, match=r"another driftwatch process \(pid \d+\) is using")
    with repo.lock(), refused, StateRepo(repo.path).lock():
        pass


def test_a_killed_holder_releases_the_lock(repo: StateRepo) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time\nfrom pathlib import Path\nfrom driftwatch.store import StateRepo\n"
                f"with StateRepo(Path({str(repo.path)!r})).lock():\n"
                "    print('locked', flush=True)\n    time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(LockedError), repo.lock():
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with repo.lock():  # the kernel released the dead holder's lock
        pass


def test_recovery_after_a_kill_restores_the_last_commit_and_keeps_other_work(repo: StateRepo) -> None:
    with repo.lock():
        repo.record(snapshot(bucket("logs", Tags={}), group("sg-1")), *AUTHOR)
    head = repo.head()
    git_dir = Path(repo.repo.git_dir)
    # What a SIGKILL in the middle of a run can leave behind:
    (repo.path / SG).unlink()
    repo.repo.git.add("--", SG)  # a staged deletion
    (git_dir / "index.lock").write_text("")
    (repo.path / LOGS).write_text('{"config": {"Name": "lo')  # half-written
    (repo.path / WEB).write_text("{}")  # a new file the killed run wrote
    (repo.path / "snapshots/aws/111122223333/global/s3/bucket/.web.json.tmp").write_text("{")
    # Work of an admin in the same checkout, which driftwatch must not touch:
    baseline = repo.path / "baselines/aws/111122223333/global/s3/bucket/logs.json"
    baseline.parent.mkdir(parents=True)
    baseline.write_text('{"draft": true}\n')
    with repo.lock():
        assert repo.read_documents().keys() == {LOGS, SG}
        result = repo.record(
            snapshot(bucket("logs", Tags={}), group("sg-1"), when=DAY_1 + timedelta(minutes=5)), *AUTHOR
        )
    assert result.commit is None and repo.head() == head
    assert not (git_dir / "index.lock").exists()
    assert not (repo.path / WEB).exists()
    assert baseline.read_text() == '{"draft": true}\n'
    assert repo.repo.git.status("--porcelain") == "?? baselines/aws/"


def test_records_never_commit_files_staged_by_someone_else(repo: StateRepo) -> None:
    (repo.path / "notes.txt").write_text("admin notes\n")
    repo.repo.git.add("notes.txt")
    with repo.lock():
        repo.record(snapshot(bucket("logs")), *AUTHOR)
    assert "notes.txt" not in repo.repo.git.show("--name-only", "--format=", "HEAD")
    assert repo.repo.git.status("--porcelain") == "A  notes.txt"


def test_init_refuses_an_existing_repository(tmp_path: Path) -> None:
    git.Repo.init(tmp_path)
    from driftwatch.errors import StoreError

    with pytest.raises(StoreError, match="already a git repository"):
        init_repo(tmp_path, initial_files(), *AUTHOR)


def test_init_under_a_file_is_refused_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreError, match=r"afile/sub: cannot create the folder: Not a directory"):
        init_repo(tmp_path / "afile/sub", initial_files(), *AUTHOR)


def test_a_folder_that_is_not_a_state_repository_is_named(tmp_path: Path) -> None:
    from driftwatch.errors import StoreError

    with pytest.raises(
        StoreError, match=r"not a driftwatch state repository \(create one with `driftwatch init"
    ):
        StateRepo(tmp_path)


def test_a_partial_read_is_not_recorded_as_verified(repo: StateRepo) -> None:
    with repo.lock():
        repo.record(snapshot(bucket("logs"), group("sg-1")), *AUTHOR)
        gap = CoverageGap(GROUPS, "ec2.describe_security_groups", "denied", "UnauthorizedOperation", "no")
        partial = repo.record(
            snapshot(bucket("logs"), scopes=(BUCKETS,), gaps=(gap,), when=DAY_1 + timedelta(days=1)), *AUTHOR
        )
    assert partial.commit is not None  # the manifest records the gap
    assert (
        repo.repo.head.commit.summary
        == "driftwatch: partial read, 1 scope(s) and 0 setting(s) not read, no change in the rest"
    )
    assert stored(repo, "last-verified.json")["date"] == "2026-12-01"


def test_a_scope_no_longer_configured_is_a_gap_not_a_deletion(repo: StateRepo) -> None:
    with repo.lock():
        repo.record(snapshot(bucket("logs"), group("sg-1")), *AUTHOR)
        result = repo.record(snapshot(bucket("logs"), scopes=(BUCKETS,)), *AUTHOR)
    assert result.removed == () and (repo.path / SG).exists()
    (gap,) = result.gaps
    assert (str(gap.scope), gap.kind) == ("aws/111122223333/eu-west-1/ec2/security-group", "not-configured")
    assert gap.message.startswith("not read: no longer in the config; 1 resource(s) kept as last read")
    assert stored(repo, "snapshots/manifest.json")["scopes"][
        "aws/111122223333/eu-west-1/ec2/security-group"
    ] == ("not read: not-configured (NotConfigured)")


def test_a_lock_file_that_git_holds_open_is_not_removed(repo: StateRepo) -> None:
    lock = Path(repo.repo.git_dir) / "index.lock"
    refused = pytest.raises(StoreError, match=r"index.lock: git is working in this repository \(pid")
    # This process holds the file open, as a running `git commit` would.
    with open(lock, "w"), refused, repo.lock():
        pass
    assert lock.exists()
    lock.unlink()


def test_recovery_says_what_it_discards(tmp_path: Path) -> None:
    init_repo(tmp_path / "state", initial_files(), *AUTHOR)
    warnings: list[str] = []
    repo = StateRepo(tmp_path / "state", warn=warnings.append)
    with repo.lock():
        repo.record(snapshot(bucket("logs")), *AUTHOR)
    (repo.path / LOGS).write_text("{}\n")
    (repo.path / "snapshots/NOTES.md").write_text("my notes\n")
    with repo.lock():
        pass
    (warning,) = warnings
    assert warning.startswith("discarded uncommitted changes under snapshots/ (")
    assert "snapshots/NOTES.md" in warning and LOGS in warning
    assert not (repo.path / "snapshots/NOTES.md").exists()


def test_paths_that_git_fast_import_must_quote_are_committed_as_named(repo: StateRepo) -> None:
    odd = {'"quoted" name': "quoted", "with space and ü": "spaced", "trailing\\back": "slash"}
    with repo.lock():
        recorded = repo.record(snapshot(*(bucket(name) for name in odd)), *AUTHOR)
    committed = repo.repo.git.ls_tree("-r", "--name-only", "-z", "HEAD", "--", "snapshots/").split("\0")
    assert sorted(p for p in committed if p.endswith(".json") and "bucket" in p) == sorted(recorded.added)
    for path in recorded.added:
        assert repo.repo.git.show(f"HEAD:{path}") == (repo.path / path).read_text().rstrip("\n")
    assert repo.repo.git.status("--porcelain") == ""


def test_a_run_on_a_detached_head_commits_there(repo: StateRepo) -> None:
    repo.repo.git.checkout("-q", "--detach")
    before = repo.head()
    with repo.lock():
        recorded = repo.record(snapshot(bucket("logs")), *AUTHOR)
    assert recorded.commit is not None and recorded.commit != before
    assert repo.repo.git.rev_parse("HEAD^") == before
    assert repo.repo.head.is_detached
    assert repo.repo.git.status("--porcelain") == ""  # the index has what was committed


def test_a_run_that_fails_after_writing_commits_nothing_and_the_next_one_records_it(repo: StateRepo) -> None:
    with repo.lock():
        repo.record(snapshot(bucket("logs", Tags={})), *AUTHOR)
    head = repo.head()

    def failing(recorded: object) -> tuple[dict[str, str], str]:
        raise RuntimeError("the comparison failed")

    later = snapshot(bucket("logs", Tags={"team": "ops"}), bucket("web"), when=DAY_1 + timedelta(minutes=5))
    with repo.lock(), pytest.raises(RuntimeError, match="the comparison failed"):
        repo.record(later, *AUTHOR, also=failing)  # the files were written and handed to git already
    assert repo.head() == head
    assert stored(repo, WEB)["config"] == {"Name": "web"}  # written, not committed
    assert not list(Path(repo.repo.git_dir).glob("fast_import_crash_*"))
    with repo.lock():  # recovery: snapshots/ as committed, the index too
        assert repo.repo.git.status("--porcelain") == ""
        recorded = repo.record(later, *AUTHOR)
    assert recorded.added == (WEB,) and recorded.changed == (LOGS,)
    assert repo.repo.git.rev_parse("HEAD^") == head
    assert repo.repo.git.status("--porcelain") == ""


def test_a_commit_is_refused_when_the_branch_moved_under_it(repo: StateRepo, tmp_path: Path) -> None:
    clone = git.Repo.clone_from(repo.path, tmp_path / "clone")
    with clone.config_writer() as config:
        config.set_value("user", "name", "Other").set_value("user", "email", "other@example.com")
    clone.git.commit("--allow-empty", "-qm", "someone else")
    parent = repo.head()
    # the branch moves after the commit's parent was read, as a concurrent `git push` into it would
    original = repo.head

    def moved_after_reading() -> str | None:
        seen = original()
        repo.repo.git.fetch("-q", str(tmp_path / "clone"), "main:main", "--update-head-ok")
        return seen

    repo.head = moved_after_reading  # type: ignore[method-assign]
    (repo.path / "snapshots" / "x.txt").write_text("x\n")
    with pytest.raises(StoreError, match="main moved while this run was committing"):
        repo.commit("late", ["snapshots/x.txt"], *AUTHOR)
    repo.head = original  # type: ignore[method-assign]
    assert repo.repo.git.log("-1", "--format=%s") == "someone else"
    assert repo.repo.git.rev_parse("HEAD^") == parent


def test_many_runs_leave_a_few_packs_and_every_commit_readable(repo: StateRepo) -> None:
    for run in range(MAX_PACKS + 5):
        when = DAY_1 + timedelta(minutes=run)
        with repo.lock():
            repo.record(snapshot(bucket("logs", Run=run), when=when), *AUTHOR)
    packs = list((Path(repo.repo.git_dir) / "objects" / "pack").glob("*.pack"))
    assert 0 < len(packs) <= MAX_PACKS
    assert repo.repo.git.fsck("--strict", "--no-progress") == ""
    assert json.loads(repo.repo.git.show(f"HEAD:{LOGS}"))["config"]["Run"] == MAX_PACKS + 4
    assert json.loads(repo.repo.git.show(f"HEAD~{MAX_PACKS + 4}:{LOGS}"))["config"]["Run"] == 0


def test_an_id_too_long_for_a_file_name_gets_a_short_unique_one_and_keeps_its_identity(
    repo: StateRepo,
) -> None:
    docs = Scope("saas", "docs", "global", "docs/page")

    def page(id_: str) -> Resource:
        return Resource(ResourceId("saas", "docs", "global", "docs/page", id_), {"title": id_[:10]})

    first, second = "wiki/" + "é" * 150 + "/one", "wiki/" + "é" * 150 + "/two"  # 300+ bytes, same start
    repo.record(snapshot(page(first), page(second), bucket("logs"), scopes=(docs, BUCKETS)), *AUTHOR)
    names = sorted(p.name for p in (repo.path / "snapshots/saas/docs/page").iterdir())
    assert len(names) == 2 and all(len(n.encode()) <= 205 for n in names)
    assert {stored(repo, f"snapshots/saas/docs/page/{n}")["identity"]["id"] for n in names} == {first, second}  # type: ignore[index]
    assert (repo.path / "snapshots/aws/111122223333/global/s3/bucket/logs.json").exists()  # short: as before

    unchanged = repo.record(
        snapshot(page(first), page(second), bucket("logs"), scopes=(docs, BUCKETS)), *AUTHOR
    )
    assert unchanged.commit is None
    gone = repo.record(snapshot(page(first), bucket("logs"), scopes=(docs, BUCKETS)), *AUTHOR)
    assert [stored_id(repo, gone.previous_commit, p) for p in gone.removed] == [second]


def stored_id(repo: StateRepo, commit: str | None, path: str) -> str:
    assert commit is not None
    return str(json.loads(repo.repo.git.show(f"{commit}:{path}"))["identity"]["id"])


def test_the_changes_of_more_files_than_a_command_line_holds_are_read_in_one_log(repo: StateRepo) -> None:
    many = [bucket(f"b{i:05d}", Tags={"n": "1"}) for i in range(3000)]
    repo.record(snapshot(*many, group("sg-1")), *AUTHOR)
    changed = [bucket(f"b{i:05d}", Tags={"n": "2"}) if i < 2 else many[i] for i in range(3000)]
    repo.record(snapshot(*changed, group("sg-1", Description="other")), *AUTHOR)
    repo.record(snapshot(*changed, group("sg-1", Description="only the group")), *AUTHOR)
    paths = [f"snapshots/aws/{ACCOUNT}/global/s3/bucket/b{i:05d}.json" for i in range(3000)]
    paths += [f"snapshots/aws/{ACCOUNT}/global/s3/bucket/never-{i}.json" for i in range(60000)]

    log = repo.file_changes(paths)  # 63,000 paths: about 4 MB of arguments, past Linux's limit

    assert [len(changes) for _, changes in log] == [3000, 2]  # the group's own commit is not listed
    first, second = log
    assert second[1][paths[0]][0] == first[1][paths[0]][1]  # the blob before is the one added first
    assert set(second[1]) == set(paths[:2])


GIT_AUTHOR = {"GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1]}
GIT_AUTHOR |= {"GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1]}


def commit_files(repo: StateRepo, files: dict[str, str], when: str, message: str = "change") -> str:
    """Write ``files`` and commit them with git itself, at the author and committer date ``when``."""
    for path, text in files.items():
        (repo.path / path).parent.mkdir(parents=True, exist_ok=True)
        (repo.path / path).write_text(text)
    repo.repo.git.add("--all")
    dates = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    repo.repo.git.commit("-q", "-m", message, env=GIT_AUTHOR | dates)
    return repo.head() or ""


SNAP = f"snapshots/aws/{ACCOUNT}/global/s3/bucket/logs.json"
BASE = f"baselines/aws/{ACCOUNT}/global/s3/bucket/logs.json"


def test_a_file_logged_alone_keeps_gits_order_even_against_the_commit_dates(repo: StateRepo) -> None:
    made = [
        commit_files(repo, {SNAP: "1"}, "2026-12-01T09:00:00Z"),
        commit_files(repo, {BASE: "1"}, "2026-12-01T09:00:00Z"),  # the same second
        commit_files(repo, {SNAP: "2", BASE: "2"}, "2026-12-01T08:00:00Z"),  # dated before its parent
        commit_files(repo, {"snapshots/other.json": "x"}, "2026-12-01T10:00:00Z"),
        commit_files(repo, {SNAP: "3"}, "2026-12-01T07:00:00Z"),
    ]

    log = repo.file_changes([SNAP, BASE], alone=SNAP)

    assert log == repo.file_changes([SNAP, BASE])
    assert [info.sha for info, _ in log] == made[:3] + made[4:]
    assert set(log[2][1]) == {SNAP, BASE}


def test_a_history_with_merges_is_read_in_one_log_of_every_file(repo: StateRepo) -> None:
    start = commit_files(repo, {SNAP: "0", BASE: "0"}, "2026-12-01T09:00:00Z")
    main = repo.repo.active_branch.name
    repo.repo.git.checkout("-q", "-b", "side")
    side_snap = commit_files(repo, {SNAP: "side"}, "2026-12-01T09:01:00Z")
    side_base = commit_files(repo, {BASE: "side"}, "2026-12-01T09:02:00Z")
    repo.repo.git.checkout("-q", main)
    main_snap = commit_files(repo, {SNAP: "main"}, "2026-12-01T09:03:00Z")
    # The merge keeps main's snapshot and the side's baseline.
    repo.repo.git.merge("-q", "--no-commit", "-s", "ours", "side", env=GIT_AUTHOR)
    repo.repo.git.checkout("side", "--", BASE)
    merge = commit_files(repo, {}, "2026-12-01T09:04:00Z", "merge side")

    log = repo.file_changes([SNAP, BASE], alone=SNAP)

    assert log == repo.file_changes([SNAP, BASE])
    assert {start, side_snap, side_base, main_snap, merge} <= {info.sha for info, _ in log}


def test_observations_are_written_outside_git_with_dates_as_iso_text(repo: StateRepo) -> None:
    used = datetime(2026, 11, 30, 8, 15, 1, 250000, tzinfo=UTC)
    plain = Resource(bucket("logs").identity, {"Name": "logs"}, observations={"LastUsed": used})
    counted = {"LastUsed": used, "Uses": Decimal("3")}
    odd = Resource(bucket("web").identity, {"Name": "web"}, observations=counted)
    with repo.lock():
        repo.record(snapshot(plain), *AUTHOR)
    assert json.loads((repo.path / ".driftwatch/observations.json").read_text()) == {
        "arn:aws:s3:::logs": {"LastUsed": "2026-11-30T08:15:01.250000+00:00"}
    }
    with repo.lock():  # a value orjson cannot write (a Decimal) takes the slower way, same text
        repo.record(snapshot(plain, odd, when=DAY_1 + timedelta(minutes=5)), *AUTHOR)
    assert json.loads((repo.path / ".driftwatch/observations.json").read_text()) == {
        "arn:aws:s3:::logs": {"LastUsed": "2026-11-30T08:15:01.250000+00:00"},
        "arn:aws:s3:::web": {"LastUsed": "2026-11-30T08:15:01.250000+00:00", "Uses": 3},
    }
    assert "LastUsed" not in (repo.path / WEB).read_text()
