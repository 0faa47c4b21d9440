"""Reverted fixes: a setting back at a value that an earlier approved baseline had replaced.

A bucket made private by an approved fix and public again later is the headline case of
configuration drift: someone undid a fix. The finding says so, with the fix's date and commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from driftwatch.model import Finding, ResourceId, Reversion, Severity
from driftwatch.provider_changes import values_at
from driftwatch.rules import ResourceState

HEADLINES = {
    "s3-bucket-public": "reverted to public",
    "sg-open-to-world": "re-opened to the world",
    "iam-user-mfa-missing": "MFA removed again",
    "s3-public-access-block-weakened": "Block Public Access weakened again",
    "s3-acls-reenabled": "ACLs re-enabled again",
    "ec2-imdsv1-enabled": "IMDSv1 re-enabled",
}
"""How a reverted fix is named for the rules that guard against exposure; others say "reverted"."""

FLEET_WIDE = "fleet-wide-change"

ALWAYS_CRITICAL = frozenset(
    {"s3-bucket-public", "sg-open-to-world", "iam-user-mfa-missing", "s3-public-access-block-weakened"}
)
"""Rules whose reverted findings are critical whatever their configured severity: an exposure
someone had already fixed, undone. Being critical and reverted, they come first in every output."""


@dataclass(frozen=True)
class BaselineVersion:
    """One approved version of a resource's baseline: the commit, when, who, and the config."""

    commit: str
    when: datetime
    author: str
    config: Mapping[str, Any]


History = Callable[[ResourceId], Sequence[BaselineVersion]]
"""The approved versions of a resource's baseline, oldest first."""


def label_reverted(
    findings: Sequence[Finding], states: Mapping[str, ResourceState], history: History
) -> list[Finding]:
    """``findings`` with those that undo an approved fix labelled, most severe first.

    A ``fleet-wide-change`` is labelled when its change undoes a fix on one of its resources
    (a setting put back on every bucket), so that the undone fix is not lost in the group.
    """
    result = []
    for finding in findings:
        state = states.get(finding.resource.key)
        if finding.against == "baseline" and finding.changes and state and state.current is not None:
            fix = _fix_undone(finding, state.current, history(finding.resource))
            if fix is not None:
                finding = _labelled(finding, fix)
        elif finding.rule == FLEET_WIDE and finding.changes:
            for resource in finding.related:
                member = states.get(resource.key)
                if member is not None and member.current is not None:
                    fix = _fix_undone(finding, member.current, history(resource))
                    if fix is not None:
                        finding = _labelled(finding, fix)
                        break
        result.append(finding)
    return sorted(result, key=lambda f: f.sort_key)


def _fix_undone(
    finding: Finding, current: Mapping[str, Any], versions: Sequence[BaselineVersion]
) -> BaselineVersion | None:
    """The latest approved version that changed a path away from the value it has again now."""
    for change in finding.changes:
        if not change.path:
            continue
        try:
            now = values_at(current, change.path)
            values = [values_at(v.config, change.path) for v in versions]
        except ValueError:
            continue  # a path the reader cannot address (a key with quotes in it)
        for newer in range(len(values) - 1, 0, -1):
            if values[newer - 1] == now and values[newer] != now:
                return versions[newer]
    return None


def _labelled(finding: Finding, fix: BaselineVersion) -> Finding:
    reversion = Reversion(fix.when, fix.commit, fix.author)
    headline = HEADLINES.get(finding.rule, "reverted")
    severity = Severity.CRITICAL if finding.rule in ALWAYS_CRITICAL else finding.severity
    return replace(
        finding,
        severity=severity,
        reverted=reversion,
        message=f"{headline} ({reversion.describe()}): {finding.message}",
    )
