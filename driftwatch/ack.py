"""Acknowledgements: a finding accepted until a date, recorded in git by an approver under baselines/acks/.

An acknowledged finding is reported with who accepted it and why, and is not alerted; the day
after its date it alerts again. The files live under ``baselines/`` so that only an approval
commit can add or change one (see approval.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from driftwatch import __version__
from driftwatch.approval import approved_view, settings_in_force
from driftwatch.approve import ApproveError, check_approver, not_counted
from driftwatch.config import NO_APPROVERS, ApprovalSettings
from driftwatch.errors import BaselineError
from driftwatch.layout import BASELINES
from driftwatch.model import Acknowledgement, Finding
from driftwatch.normalise import file_text
from driftwatch.store import StateRepo

ACKS = f"{BASELINES}/acks"


def ack_path(finding_id: str) -> str:
    """The file that records the acknowledgement of one finding."""
    return f"{ACKS}/{finding_id}.json"


def parse_until(text: str, today: date) -> date:
    """The last day an acknowledgement holds (YYYY-MM-DD, today or later); ApproveError otherwise."""
    try:
        until = date.fromisoformat(text.strip())
    except ValueError:
        raise ApproveError(f"--until {text!r}: expected a date such as 2027-01-31") from None
    if until < today:
        raise ApproveError(f"--until {text}: is in the past (today is {today.isoformat()} UTC)")
    return until


@dataclass(frozen=True)
class Acknowledged:
    """The commit that records an acknowledgement, and why it does not count after all (if so)."""

    commit: str
    not_counted: str | None = None


def acknowledge(
    repo: StateRepo,
    finding: Finding,
    *,
    reason: str,
    until: date,
    author: tuple[str, str],
    reviewed_by: Sequence[str] = (),
    approval: ApprovalSettings = NO_APPROVERS,
) -> Acknowledged:
    """Record that ``finding`` is accepted until ``until``, in one commit by ``author``.

    Like an approval, the commit is checked as every later check will check it: a missing or
    wrong signature shows at once in ``not_counted``.
    """
    if not reason.strip():
        raise ApproveError("--reason is required: say why this finding is accepted")
    name, email = author
    approval = settings_in_force(repo, approval).settings
    check_approver(approval, name, email, reviewed_by)
    now = datetime.now(UTC).replace(microsecond=0)
    document = {
        "finding": finding.id,
        "rule": finding.rule,
        "resource": finding.resource.key,
        "message": finding.message,
        "reason": " ".join(reason.split()),
        "until": until.isoformat(),
        "by": f"{name} <{email}>",
        "at": now.isoformat(),
    }
    path = ack_path(finding.id)
    message = "\n".join(
        [
            f"ack: {finding.rule} {finding.resource.key} until {until.isoformat()}",
            "",
            reason.strip(),
            "",
            f"! [{finding.severity}] {finding.message}",
            "",
            f"Acknowledged-by: {name} <{email}>",
            *(f"Reviewed-by: {r}" for r in reviewed_by),
            f"Reason: {document['reason']}",
            f"Until: {until.isoformat()}",
            f"Driftwatch-Finding: {finding.id}",
            f"Driftwatch-Resource: {finding.resource.key}",
            f"Driftwatch-Version: {__version__}",
        ]
    )
    with repo.lock():
        repo.write(path, file_text(document))
        repo.commit(message + "\n", [path], name, email, sign=approval.require_signed)
        head = repo.head() or ""
        return Acknowledged(head, not_counted(repo, approval, head))


def read_acks(
    files: Mapping[str, bytes], commits: Mapping[str, str] | None = None
) -> dict[str, Acknowledgement]:
    """The acknowledgements among approved ``files``, by finding id; malformed ones are skipped."""
    acks: dict[str, Acknowledgement] = {}
    for path, data in sorted(files.items()):
        if path.startswith(ACKS + "/"):
            try:
                ack = parse_ack(path, data, (commits or {}).get(path))
            except BaselineError:
                continue  # check-config names the problem; a broken ack never silences anything
            acks[ack.finding_id] = ack
    return acks


def parse_ack(path: str, data: bytes, commit: str | None = None) -> Acknowledgement:
    """One acknowledgement file; BaselineError naming the file and what is wrong otherwise."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise BaselineError(f"{path}: not valid JSON ({exc})") from None
    if not path.endswith(".json") or not isinstance(doc, dict):
        raise BaselineError(f"{path}: an acknowledgement is a JSON object in {ACKS}/<finding id>.json")
    missing = [k for k in ("finding", "by", "reason", "until", "at") if not isinstance(doc.get(k), str)]
    if missing:
        raise BaselineError(f'{path}: "{missing[0]}" must be a string (`driftwatch ack` writes these files)')
    try:
        until, at = date.fromisoformat(doc["until"]), datetime.fromisoformat(doc["at"])
    except ValueError as exc:
        raise BaselineError(f'{path}: "until" or "at" is not a date: {exc}') from None
    return Acknowledgement(doc["finding"], doc["by"], doc["reason"], until, at, commit)


def mark_acknowledged(
    findings: Sequence[Finding], acks: Mapping[str, Acknowledgement], today: date
) -> list[Finding]:
    """``findings`` with the acknowledgements in force attached; expired ones attach nothing."""
    return [
        replace(f, acknowledged=acks[f.id]) if f.id in acks and acks[f.id].in_force(today) else f
        for f in findings
    ]


def current_acks(repo: StateRepo, approval: ApprovalSettings = NO_APPROVERS) -> dict[str, Acknowledgement]:
    """The approved acknowledgements of the repository, expired ones included."""
    view = approved_view(repo, approval)
    return read_acks(view.files.under(ACKS), view.approved_at)
