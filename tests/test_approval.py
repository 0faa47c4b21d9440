"""Approval by commit: only approvers' commits (signed, reviewed when required) change what is approved."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from driftwatch.approval import approved_view, ssh_fingerprint
from driftwatch.config import ApprovalSettings, Approver
from driftwatch.defaults import initial_files
from driftwatch.store import StateRepo, init_repo
from tests.conftest import Invoke, write_config
from tests.test_cli import APPROVER, git, make_public, seed

APPROVERS = """
[[approval.approvers]]
name = "Alice Admin"
email = "alice@example.com"
"""
WEB = "aws/123456789012/global/s3/bucket/team-web.json"
MALLORY = ("-c", "user.name=Mallory", "-c", "user.email=mallory@example.com")
ALICE = ("-c", "user.name=Alice Admin", "-c", "user.email=alice@example.com")


def commit_config(repo: Path, who: tuple[str, ...] = ALICE, message: str = "approvers") -> str:
    """Commit the config file as ``who`` (the committed [approval] table is the one in force)."""
    git(repo, *who, "commit", "-qm", message, "driftwatch.toml")
    return git(repo, "rev-parse", "HEAD").strip()


def test_a_non_approver_edit_is_a_finding_and_drift_is_still_against_the_approved_baseline(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    seed(aws)
    config = str(write_config(state_repo, aws, ("us-east-1",), APPROVERS))
    commit_config(state_repo)
    assert invoke("-c", config, "run").exit_code == 0
    assert (
        invoke("-c", config, "approve", "--all", "--reason", "reviewed", "--author", APPROVER).exit_code == 0
    )
    approval = git(state_repo, "rev-parse", "HEAD").strip()
    make_public(aws, "team-web")
    assert invoke("-c", config, "collect").exit_code == 0
    # Mallory hides the drift: the public state copied into baselines/, and the rule switched off.
    shutil.copy(state_repo / "snapshots" / WEB, state_repo / "baselines" / WEB)
    guardrails = state_repo / "baselines/guardrails.toml"
    guardrails.write_text(guardrails.read_text() + "\n[rules.s3-bucket-public]\nenabled = false\n")
    git(state_repo, *MALLORY, "commit", "-qam", "baseline update")
    tamper = git(state_repo, "rev-parse", "HEAD").strip()

    report = json.loads(invoke("-c", config, "check", "--format", "json").stdout)
    found = {(f["rule"], f["severity"], f["resource"]) for f in report["findings"]}
    assert found == {
        ("baseline-tampered", "critical", "arn:aws:s3:::team-web"),
        ("baseline-tampered", "critical", "git:state:global:baseline/file/baselines/guardrails.toml"),
        ("s3-bucket-public", "critical", "arn:aws:s3:::team-web"),  # the approved version still counts
        ("s3-public-access-block-weakened", "high", "arn:aws:s3:::team-web"),
    }
    web = next(
        f for f in report["findings"] if f["rule"] == "baseline-tampered" and "team-web" in f["resource"]
    )
    day = git(state_repo, "log", "-1", "--format=%as").strip()
    assert web["message"] == (
        f"baselines/{WEB} was changed without approval: commit {tamper[:10]} by Mallory "
        f"<mallory@example.com> on {day} (mallory@example.com is not an approver); the version "
        f"approved in commit {approval[:10]} stays in force"
    )
    assert {c["path"] for c in web["changes"]} == {"Policy", "PolicyStatus", "PublicAccessBlock"}

    # Approving the very state Mallory wrote: driftwatch restores, then approves, as Alice.
    fixed = invoke("-c", config, "approve", "team-web", "--reason", "public on purpose", "--author", APPROVER)
    assert fixed.exit_code == 0, fixed.stderr
    assert git(state_repo, "log", "-2", "--format=%an|%s").splitlines() == [
        "Alice Admin|approve: arn:aws:s3:::team-web",
        "Alice Admin|restore approved baselines before approving",
    ]
    after = json.loads(invoke("-c", config, "check", "--format", "json").stdout)
    assert {(f["rule"], f["resource"]) for f in after["findings"]} == {
        ("baseline-tampered", "git:state:global:baseline/file/baselines/guardrails.toml")
    }
    refused = invoke(
        "-c", config, "approve", "team-web", "--reason", "x", "--author", "Mallory <mallory@example.com>"
    )
    assert (refused.exit_code, refused.stderr.strip()) == (
        1,
        "driftwatch: Mallory <mallory@example.com> is not an approver ([approval] approvers in the "
        "config); this commit would not count as an approval",
    )


@pytest.mark.parametrize(
    ("with_config", "fast_forward"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_an_orphan_commit_merged_in_is_not_an_approval(
    state_repo: Path, aws: str, invoke: Invoke, with_config: bool, fast_forward: bool
) -> None:
    seed(aws)
    config = str(write_config(state_repo, aws, ("us-east-1",), APPROVERS))
    commit_config(state_repo)
    assert invoke("-c", config, "run").exit_code == 0
    assert invoke("-c", config, "approve", "--all", "--reason", "ok", "--author", APPROVER).exit_code == 0
    make_public(aws, "team-web")
    assert invoke("-c", config, "collect").exit_code == 0
    public = (state_repo / "snapshots" / WEB).read_text()
    # Mallory's parentless commit holds only her baseline; merged in, her version wins.
    git(state_repo, "checkout", "-q", "--orphan", "x")
    git(state_repo, "rm", "-rqf", "--cached", ".")
    (state_repo / "baselines" / WEB).write_text(public)
    git(state_repo, "add", f"baselines/{WEB}")
    if with_config:  # and a config that lists her as an approver
        (state_repo / "driftwatch.toml").write_text(Path(config).read_text() + MALLORY_APPROVER)
        git(state_repo, "add", "driftwatch.toml")
    git(state_repo, *MALLORY, "commit", "-qm", "baseline")
    orphan = git(state_repo, "rev-parse", "HEAD").strip()
    git(state_repo, "clean", "-qfdx", "-e", ".driftwatch")
    merge = ("merge", "-q", "--allow-unrelated-histories", "-m", "merge")
    if fast_forward:  # main merged into hers, then main moved there: her commit roots the first parents
        git(state_repo, "checkout", "-qf", "x")
        git(state_repo, *MALLORY, *merge, "-X", "ours", "main")
        git(state_repo, "checkout", "-qf", "main")
        git(state_repo, "merge", "-q", "--ff-only", "x")
    else:
        git(state_repo, "checkout", "-qf", "main")
        git(state_repo, *MALLORY, *merge, "-X", "theirs", "x")
    assert (state_repo / "baselines" / WEB).read_text() == public

    checked = invoke("-c", config, "check", "--format", "json")
    assert checked.exit_code == 2, checked.stderr
    report = json.loads(checked.stdout)
    found = {(f["rule"], f["resource"]) for f in report["findings"]}
    assert ("baseline-tampered", "arn:aws:s3:::team-web") in found
    assert ("s3-bucket-public", "arn:aws:s3:::team-web") in found  # the approved baseline still counts
    tampered = {f["resource"]: f["message"] for f in report["findings"] if f["rule"] == "baseline-tampered"}
    hers = {r for r, m in tampered.items() if f"commit {orphan[:10]} by Mallory <mallory@example.com>" in m}
    config_file = "git:state:global:baseline/file/driftwatch.toml"
    assert set(tampered) == hers == {"arn:aws:s3:::team-web", *([config_file] if with_config else [])}


MALLORY_APPROVER = '\n[[approval.approvers]]\nname = "Mallory"\nemail = "mallory@example.com"\n'


def test_the_approvers_are_those_approvers_approved_in_the_committed_config(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    seed(aws)
    config = write_config(state_repo, aws, ("us-east-1",), APPROVERS)
    listed = commit_config(state_repo)
    assert invoke("-c", str(config), "run").exit_code == 0
    assert (
        invoke("-c", str(config), "approve", "--all", "--reason", "ok", "--author", APPROVER).exit_code == 0
    )
    make_public(aws, "team-web")
    assert invoke("-c", str(config), "collect").exit_code == 0
    # Mallory lists herself as an approver in the same commit as her baseline edit.
    shutil.copy(state_repo / "snapshots" / WEB, state_repo / "baselines" / WEB)
    config.write_text(config.read_text() + MALLORY_APPROVER)
    git(state_repo, *MALLORY, "commit", "-qam", "baseline update")
    tamper = git(state_repo, "rev-parse", "HEAD").strip()

    result = invoke("-c", str(config), "check", "--format", "json")
    report = json.loads(result.stdout)
    found = {(f["rule"], f["resource"]) for f in report["findings"]}
    assert {
        ("baseline-tampered", "git:state:global:baseline/file/driftwatch.toml"),
        ("baseline-tampered", "arn:aws:s3:::team-web"),
        ("s3-bucket-public", "arn:aws:s3:::team-web"),  # drift is still against Alice's approval
    } <= found
    day = git(state_repo, "log", "-1", "--format=%as").strip()
    assert [f["message"] for f in report["findings"] if f["resource"].endswith("driftwatch.toml")] == [
        f"driftwatch.toml: its [approval] table (who may approve) was changed without approval: commit "
        f"{tamper[:10]} by Mallory <mallory@example.com> on {day} (mallory@example.com is not an approver); "
        f"the [approval] settings approved in commit {listed[:10]} stay in force"
    ]
    refused = invoke(
        "-c", str(config), "approve", "team-web", "--reason", "x", "--author", "Mallory <mallory@example.com>"
    )
    assert refused.exit_code == 1 and "is not an approver" in refused.stderr

    # Alice approves the list with Mallory on it: from then on, Mallory's approvals count.
    git(state_repo, *ALICE, "revert", "--no-edit", tamper)
    config.write_text(config.read_text() + MALLORY_APPROVER)
    commit_config(state_repo, message="approvers: Mallory")
    after = json.loads(invoke("-c", str(config), "check", "--format", "json").stdout)
    assert [f for f in after["findings"] if f["rule"] == "baseline-tampered"] == []
    assert (
        invoke(
            "-c",
            str(config),
            "approve",
            "team-web",
            "--reason",
            "ok",
            "--author",
            "Mallory <mallory@example.com>",
        ).exit_code
        == 0
    )
    final = json.loads(invoke("-c", str(config), "check", "--format", "json").stdout)
    assert [f["rule"] for f in final["findings"] if f["resource"] == "arn:aws:s3:::team-web"] == []


def test_an_uncommitted_change_of_the_approvers_is_not_used_and_is_reported(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    seed(aws)
    config = write_config(state_repo, aws, ("us-east-1",), APPROVERS)
    listed = commit_config(state_repo)
    assert invoke("-c", str(config), "run").exit_code == 0
    config.write_text(config.read_text() + MALLORY_APPROVER)  # not committed
    report = json.loads(invoke("-c", str(config), "check", "--format", "json").stdout)
    assert [f["message"] for f in report["findings"] if f["rule"] == "baseline-tampered"] == [
        "driftwatch.toml: the [approval] table in the working tree is not the committed one and is not used; "
        f"the [approval] settings approved in commit {listed[:10]} stay in force. An approver makes a "
        "change take effect by committing it"
    ]
    refused = invoke(
        "-c", str(config), "approve", "--all", "--reason", "x", "--author", "Mallory <mallory@example.com>"
    )
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[0] == (
        f"driftwatch: warning: {config}: [approval] differs from the committed one, which is the one in "
        f"force (approved in commit {listed[:10]}); an approver commits a change for it to take effect"
    )


def _key(tmp_path: Path, name: str) -> tuple[Path, str]:
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key, key.with_suffix(".pub").read_text().strip()


def _commit_baseline(repo: Path, text: str, who: tuple[str, str], key: Path | None, trailer: str = "") -> str:
    target = repo / "baselines" / WEB
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(repo, "add", "-A")
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-S"] if key else ["commit"]
    who_args = ["-c", f"user.name={who[0]}", "-c", f"user.email={who[1]}"]
    git(repo, *who_args, *sign, "-qm", f"baseline {text}" + (f"\n\n{trailer}" if trailer else ""))
    return git(repo, "rev-parse", "HEAD").strip()


def test_signed_approvals_only_with_the_approvers_own_key_and_a_second_reviewer(tmp_path: Path) -> None:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    alice_key, alice_pub = _key(tmp_path, "alice")
    eve_key, _ = _key(tmp_path, "eve")
    alice = ("Alice Admin", "alice@example.com")
    bob = Approver("Bob", "bob@example.com", (alice_pub,))
    settings = ApprovalSettings(
        (Approver("Alice Admin", "alice@example.com", (alice_pub,)), bob), require_signed=True
    )
    good = _commit_baseline(repo, "1", alice, alice_key)
    _commit_baseline(repo, "2", alice, eve_key)  # Alice's name, someone else's key
    _commit_baseline(repo, "3", alice, None)  # not signed
    view = approved_view(StateRepo(repo), settings)
    path = f"baselines/{WEB}"
    assert (view.files[path], view.approved_at[path]) == (b"1", good)
    reasons = [u.reason for u in view.tampered[path]]
    assert reasons[1] == "not signed (require_signed = true)"
    assert reasons[0].startswith("signed with a key that is not alice@example.com's (SHA256:")
    assert ssh_fingerprint(alice_pub) not in reasons[0]

    two = ApprovalSettings(settings.approvers, require_signed=True, two_person=True)
    _commit_baseline(repo, "4", alice, alice_key, "Reviewed-by: Alice Admin <alice@example.com>")
    assert path not in approved_view(StateRepo(repo), two).files  # none reviewed: reviewing oneself is not
    reviewed = _commit_baseline(repo, "5", alice, alice_key, "Reviewed-by: Bob <bob@example.com>")
    view = approved_view(StateRepo(repo), two)
    assert (view.files[path], view.approved_at[path], view.tampered) == (b"5", reviewed, {})
    _commit_baseline(repo, "6", alice, alice_key)
    view = approved_view(StateRepo(repo), two)
    assert view.files[path] == b"5"
    assert [(u.commit, u.reason) for u in view.tampered[path]] == [
        (
            git(repo, "rev-parse", "HEAD").strip(),
            "no Reviewed-by: trailer naming a second approver (two_person = true)",
        )
    ]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (
            "[approval]\nrequire_signed = true\n",
            "[approval] require_signed: needs at least one [[approval.approvers]] entry",
        ),
        (
            '[[approval.approvers]]\nname = "A"\nemail = "a@x.io"\nsigning_keys = ["nope"]\n',
            "[[approval.approvers]] #1 signing_keys[0]: is neither an SSH public key (ssh-ed25519 AAAA...) "
            "nor a GPG fingerprint (40 hex digits)",
        ),
    ],
)
def test_approval_config_errors(tmp_path: Path, extra: str, error: str) -> None:
    from driftwatch.config import load_config
    from driftwatch.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text(extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"c.toml: {error}"


def test_approve_signs_when_required_and_says_when_the_commit_does_not_count(
    state_repo: Path, aws: str, invoke: Invoke, tmp_path: Path
) -> None:
    seed(aws)
    alice_key, alice_pub = _key(tmp_path, "alice")
    eve_key, _ = _key(tmp_path, "eve")
    approvers = (
        '\n[[approval.approvers]]\nname = "Alice Admin"\nemail = "alice@example.com"\n'
        f'signing_keys = ["{alice_pub}"]\n'
    )
    config = write_config(state_repo, aws, ("us-east-1",), approvers)
    config.write_text(config.read_text().replace("require_signed = false", "require_signed = true"))
    commit_config(state_repo)
    assert invoke("-c", str(config), "collect").exit_code == 0
    git(state_repo, "config", "gpg.format", "ssh")
    git(state_repo, "config", "user.signingkey", str(eve_key))
    wrong = invoke("-c", str(config), "approve", "team-logs", "--reason", "ok", "--author", APPROVER)
    assert wrong.exit_code == 0, wrong.stderr
    assert "does not count as an approval: signed with a key that is not alice@example.com's" in wrong.stderr
    git(state_repo, "config", "user.signingkey", str(alice_key))
    right = invoke("-c", str(config), "approve", "team-logs", "--reason", "ok", "--author", APPROVER)
    assert right.exit_code == 0 and right.stderr == "", right.stderr
    assert git(state_repo, "log", "-2", "--format=%s").splitlines() == [
        "approve: arn:aws:s3:::team-logs",
        "restore approved baselines before approving",
    ]  # eve's commit had already written this content: it is restored, then approved signed
    report = json.loads(invoke("-c", str(config), "check", "--format", "json").stdout)
    assert [f["rule"] for f in report["findings"] if f["resource"] == "arn:aws:s3:::team-logs"] == []
