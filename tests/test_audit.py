"""What an auditor reads: history, show and the HTML report of a repository with runs, approvals and acks."""

from __future__ import annotations

import json
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import boto3

from tests.conftest import Invoke, write_config
from tests.test_approval import ALICE, APPROVERS, MALLORY, WEB, commit_config
from tests.test_cli import APPROVER, git, make_public, seed


class Tables(HTMLParser):
    """The text of each section (by h2 id) and the rows of its tables."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.rows: dict[str, list[list[str]]] = {}
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self.section = dict(attrs).get("id") or ""
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []
        elif tag in ("link", "script", "img"):
            self.links.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.setdefault(self.section, []).append(self.row)
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def next_second() -> None:
    """Wait for the clock's next second: git dates have one-second resolution, and an auditor's
    question "as of DATE" can only tell apart commits made in different seconds."""
    now = time.time()
    time.sleep(1 - (now - int(now)) + 0.01)


def build(state_repo: Path, aws: str, invoke: Invoke) -> dict[str, str]:
    """Two runs, an approval, drift, an acknowledgement and an unapproved edit; the commits by name.

    The runs and the approval are made in different seconds, as they are in life."""
    seed(aws)
    config = str(write_config(state_repo, aws, ("us-east-1",), APPROVERS))
    commit_config(state_repo)
    commits = {}
    assert invoke("-c", config, "run").exit_code == 0
    commits["run1"] = git(state_repo, "log", "-1", "--format=%H", "--", "snapshots").strip()  # then alerts
    next_second()
    approved = invoke(
        "-c", config, "approve", "team-web", "--reason", "web bucket reviewed", "--ticket", "OPS-7",
        "--author", APPROVER,
    )  # fmt: skip
    assert approved.exit_code == 0, approved.stderr
    commits["approval"] = git(state_repo, "rev-parse", "HEAD").strip()
    make_public(aws, "team-web")
    next_second()
    drift = json.loads(invoke("-c", config, "run", "--format", "json").stdout)
    commits["run2"] = git(state_repo, "log", "-1", "--format=%H", "--", "snapshots").strip()
    public = next(f for f in drift["findings"] if f["rule"] == "s3-bucket-public")
    acked = invoke(
        "-c", config, "ack", public["id"], "--reason", "campaign site until launch", "--until", "2099-12-31",
        "--author", APPROVER,
    )  # fmt: skip
    assert acked.exit_code == 0, acked.stderr
    commits["ack"] = git(state_repo, "rev-parse", "HEAD").strip()
    commits["finding"] = public["id"]
    shutil.copy(state_repo / "snapshots" / WEB, state_repo / "baselines" / WEB)
    git(state_repo, *MALLORY, "commit", "-qam", "baseline update")
    commits["tamper"] = git(state_repo, "rev-parse", "HEAD").strip()
    commits["config"] = config
    return commits


def test_history_show_and_report_on_a_repository_with_runs_approvals_and_acks(
    state_repo: Path, aws: str, invoke: Invoke, tmp_path: Path
) -> None:
    c = build(state_repo, aws, invoke)
    config = c["config"]
    when = {k: git(state_repo, "log", "-1", "--format=%aI", v).strip() for k, v in c.items() if len(v) == 40}
    short = {k: v[:10] for k, v in c.items()}
    public_policy = (
        'Policy: null -> {"Statement":[{"Action":["s3:getobject"],"Effect":"Allow","Principal":{"AWS":["*"]},'
        '"Resource":["arn:aws:s3:::team-web/*"]}]}'
    )
    drift = [
        public_policy,
        'PolicyStatus: null -> {"IsPublic":true}',
        'PublicAccessBlock: {"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,'
        '"RestrictPublicBuckets":true} -> null',
    ]
    history = invoke("-c", config, "history", "team-web", "--since", when["approval"])
    assert history.exit_code == 0, history.stderr
    assert [line.strip() for line in history.stdout.splitlines() if line.strip()] == [
        "History of arn:aws:s3:::team-web",
        f"{when['approval']}  {short['approval']}  approval  Alice Admin <alice@example.com>",
        "approve: arn:aws:s3:::team-web",
        "Reason: web bucket reviewed",
        "(resource first recorded)",
        f"{when['run2']}  {short['run2']}  snapshot  driftwatch <driftwatch@localhost>",
        "driftwatch: 1 changed, 0 added, 0 removed (s3 1)",
        *drift,
        f"{when['ack']}  {short['ack']}  ack       Alice Admin <alice@example.com>",
        "ack: s3-bucket-public arn:aws:s3:::team-web until 2099-12-31",
        f"s3-bucket-public (finding {c['finding']}) accepted until 2099-12-31",
        "Reason: campaign site until launch",
        f"{when['tamper']}  {short['tamper']}  unapproved  Mallory <mallory@example.com>",
        "baseline update",
        "not an approval: mallory@example.com is not an approver; no effect",
        *drift,
    ]
    entries = json.loads(
        invoke("-c", config, "history", "team-web", "--format", "json", "--until", when["run1"]).stdout
    )["entries"]
    # --until is inclusive to the second: run1 is the only entry made by then.
    assert [(e["kind"], e["commit"], e["author"]) for e in entries] == [
        ("snapshot", c["run1"], "driftwatch <driftwatch@localhost>")
    ]

    # The trailers answer without driftwatch.
    fields = "--format=%(trailers:key=Approved-by,key=Reason,key=Ticket,key=Driftwatch-Approved)"
    assert git(state_repo, "log", "-1", fields, c["approval"]).strip().splitlines() == [
        "Approved-by: Alice Admin <alice@example.com>",
        "Reason: web bucket reviewed",
        "Ticket: OPS-7",
        "Driftwatch-Approved: arn:aws:s3:::team-web",
    ]
    fields = "--format=%(trailers:key=Acknowledged-by,key=Until,key=Driftwatch-Finding,valueonly,separator=|)"
    assert git(state_repo, "log", "-1", fields, c["ack"]).strip() == (
        f"Alice Admin <alice@example.com>|2099-12-31|{c['finding']}"
    )

    # What did it look like when approved, and who approved that? And after the drift?
    then = json.loads(
        invoke("-c", config, "show", "team-web", "--at", when["approval"], "--format", "json").stdout
    )
    assert (then["state_commit"], then["approval_commit"], then["approved_by"], then["approval_reason"]) == (
        c["run1"],
        c["approval"],
        "Alice Admin <alice@example.com>",
        "web bucket reviewed",
    )
    assert then["state"] == then["baseline"] and then["state"]["PolicyStatus"] is None
    now = json.loads(
        invoke("-c", config, "show", "team-web", "--at", "2099-01-01", "--format", "json").stdout
    )
    assert (now["state_commit"], now["approval_commit"], now["state"]["PolicyStatus"]) == (
        c["run2"],
        c["approval"],
        {"IsPublic": True},
    )  # Mallory's copy is not what was approved
    assert now["baseline"] == then["baseline"]
    text = invoke("-c", config, "show", "team-web", "--at", when["approval"]).stdout.splitlines()
    assert text[:3] == [
        f"arn:aws:s3:::team-web as of {when['approval']}",
        "",
        f"State: recorded {when['run1']} in {short['run1']} (driftwatch: 0 changed, 7 added, 0 removed "
        "(ec2 1, iam 3, s3 3))",
    ]
    assert (
        f"Approved baseline: approved {when['approval']} in {short['approval']} by Alice Admin "
        "<alice@example.com>" in text
    )
    before = invoke("-c", config, "show", "team-web", "--at", "2000-01-01").stdout.splitlines()
    assert before[1:] == ["", "State: not recorded then.", "", "Approved baseline: none then."]

    # The acknowledged finding is reported, not alerted; it does not fail the check.
    check = invoke("-c", config, "check", "--fail-on", "critical")
    assert "ACKNOWLEDGED (accepted for a time, not alerted)" in check.stdout
    assert (
        "  [s3-bucket-public] arn:aws:s3:::team-web until 2099-12-31 by Alice Admin <alice@example.com>: "
        "campaign site until launch" in check.stdout
    )
    assert check.exit_code == 2  # baseline-tampered is critical and not acknowledged

    out = tmp_path / "report.html"
    written = invoke("-c", config, "report", "--html", str(out), "--since", when["run1"][:10])
    assert written.exit_code == 0, written.stderr
    parser = Tables()
    parser.feed(out.read_text())
    assert parser.links == []  # self-contained
    rows = parser.rows
    findings = [r[:2] for r in rows["findings"] if r[0] != "Rule"]
    assert findings[:2] == [
        ["baseline-tampered", "arn:aws:s3:::team-web"],
        ["s3-public-access-block-weakened", "arn:aws:s3:::team-web"],
    ]
    assert {r[0] for r in findings[2:]} == {"unapproved-resource"} and len(findings) == 8
    assert rows["acknowledged"][1:] == [
        [
            "critical",
            "s3-bucket-public",
            "arn:aws:s3:::team-web",
            "Alice Admin <alice@example.com>",
            "campaign site until launch",
            "2099-12-31",
        ]
    ]
    init = git(state_repo, "rev-list", "--max-parents=0", "HEAD").strip()[:10]
    assert [r[1:3] for r in rows["changes"][1:]] == [
        [init, "driftwatch: new state repository"],
        [short["run1"], "driftwatch: 0 changed, 7 added, 0 removed (ec2 1, iam 3, s3 3)"],
        [short["run2"], "driftwatch: 1 changed, 0 added, 0 removed (s3 1)"],
    ]
    assert rows["changes"][3][3] == "snapshots/" + WEB
    assert [r[1:] for r in rows["approvals"][1:]] == [
        [short["approval"], "approval", "Alice Admin <alice@example.com>", "approve: arn:aws:s3:::team-web",
         "web bucket reviewed"],
        [short["ack"], "ack", "Alice Admin <alice@example.com>",
         "ack: s3-bucket-public arn:aws:s3:::team-web until 2099-12-31", "campaign site until launch"],
        [short["tamper"], "unapproved", "Mallory <mallory@example.com>", "baseline update",
         "not an approval: mallory@example.com is not an approver"],
    ]  # fmt: skip
    assert ["Last run", f"{written_run(state_repo)}, commit {short['run2']}"] in rows[""]
    assert written.stdout.startswith(f"Wrote {out}: 8 open finding(s), 1 acknowledged, 6 commit(s) from ")


def written_run(repo: Path) -> str:
    return str(json.loads((repo / ".driftwatch/last-run.json").read_text())["run_id"])


def test_history_shows_a_non_approvers_ack_as_unapproved_and_keeps_deleted_acks(
    state_repo: Path, aws: str, invoke: Invoke
) -> None:
    c = build(state_repo, aws, invoke)
    ack = next((state_repo / "baselines/acks").glob("*.json"))
    # Mallory stretches Alice's acknowledgement; then Alice withdraws it.
    ack.write_text(ack.read_text().replace("2099-12-31", "2199-12-31"))
    git(state_repo, *MALLORY, "commit", "-qam", "ack: longer")
    stretched = git(state_repo, "rev-parse", "HEAD").strip()
    git(state_repo, "rm", "-q", str(ack))
    git(state_repo, *ALICE, "commit", "-qm", "ack: withdrawn")
    withdrawn = git(state_repo, "rev-parse", "HEAD").strip()

    history = json.loads(invoke("-c", c["config"], "history", "team-web", "--format", "json").stdout)
    acks = [(e["commit"], e["kind"], e["note"]) for e in history["entries"] if e["subject"].startswith("ack")]
    what = f"s3-bucket-public (finding {c['finding']})"
    assert acks == [
        (c["ack"], "ack", f"{what} accepted until 2099-12-31"),
        (
            stretched,
            "unapproved",
            "not an approval: mallory@example.com is not an approver; no effect "
            f"({what} accepted until 2199-12-31)",
        ),
        (withdrawn, "ack", f"{what} no longer accepted"),
    ]


def test_report_lists_the_findings_check_lists_with_trusted_accounts(
    state_repo: Path, aws: str, invoke: Invoke, tmp_path: Path
) -> None:
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    iam = boto3.client("iam", endpoint_url=aws, region_name="us-east-1")
    iam.create_role(RoleName="partner-access", AssumeRolePolicyDocument=json.dumps(trust))
    config = write_config(state_repo, aws, ("us-east-1",))
    config.write_text(
        config.read_text().replace("trusted_accounts = []", 'trusted_accounts = ["444455556666"]')
    )
    assert invoke("-c", str(config), "run").exit_code == 0

    def reported() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        check = json.loads(invoke("-c", str(config), "check", "--format", "json").stdout)
        out = tmp_path / "report.html"
        assert invoke("-c", str(config), "report", "--html", str(out)).exit_code == 0
        parser = Tables()
        parser.feed(out.read_text())
        html = {(r[0], r[1]) for r in parser.rows["findings"] if r[0] != "Rule"}
        return {(f["rule"], f["resource"]) for f in check["findings"]}, html

    in_check, in_report = reported()
    assert in_check == in_report
    assert not any(rule == "iam-role-trust-external" for rule, _ in in_check)
    config.write_text(
        config.read_text().replace('trusted_accounts = ["444455556666"]', "trusted_accounts = []")
    )
    in_check, in_report = reported()
    assert in_check == in_report
    assert ("iam-role-trust-external", "arn:aws:iam::123456789012:role/partner-access") in in_check
