"""What a run records about itself: the manifest stored with the snapshot, and the commit message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from driftwatch import __version__
from driftwatch.layout import MANIFEST, SNAPSHOTS, identity_from_document
from driftwatch.model import CoverageGap, Scope, Snapshot


def manifest(snapshot: Snapshot, account: str | None = None) -> dict[str, Any]:
    """The manifest stored with a snapshot: scopes read or not and why, gaps, tool versions.

    With ``account``, that account's own manifest: only its scopes and gaps. Without, the
    whole run's, which also says how each account was reached, or why it was not.
    """

    def mine(scope: Scope) -> bool:
        return account is None or scope.account == account

    scopes: dict[str, str] = {str(s): "read" for s in snapshot.scopes_read if mine(s)}
    chosen = [g for g in snapshot.gaps if mine(g.scope)]
    for gap in chosen:
        if gap.resource is None and gap.kind == "region-disabled":
            scopes[str(gap.scope)] = "skipped: region not enabled"
        elif gap.resource is None:
            scopes[str(gap.scope)] = f"not read: {gap.kind} ({gap.code})"
        elif str(gap.scope) not in scopes:
            scopes[str(gap.scope)] = f"partly read: {gap.kind} ({gap.code})"
    gaps = [
        {
            "scope": str(g.scope),
            "api_call": g.api_call,
            "kind": g.kind,
            "code": g.code,
            "message": g.message,
            "resource": g.resource.key if g.resource else None,
            "field": g.field,
        }
        for g in chosen
    ]
    document: dict[str, Any] = {"scopes": scopes, "gaps": sorted(gaps, key=json.dumps)}
    if account is not None:
        return {"account": account, "reached": snapshot.accounts.get(account), **document}
    accounts = {a: f"read: {how}" for a, how in snapshot.accounts.items()}
    accounts |= {
        g.scope.account: f"not read: {g.kind} ({g.code})"
        for g in snapshot.gaps
        if g.scope.is_account_wide and g.scope.account not in snapshot.accounts
    }
    if accounts:
        document["accounts"] = dict(sorted(accounts.items()))
    return {**document, "tool_versions": {"driftwatch": __version__, **snapshot.tool_versions}}


def is_complete(snapshot: Snapshot) -> bool:
    """True when everything configured was read (a region the account has not enabled aside)."""
    return not any(g.kind != "region-disabled" for g in snapshot.gaps)


def _service(path: str) -> str:
    parts = path.split("/")
    if len(parts) >= 5 and parts[1] == "saas":  # snapshots/saas/<collector>/<kind>/<id>.json
        return parts[2]
    return parts[4] if len(parts) >= 6 else "?"


def commit_message(
    snapshot: Snapshot, added: list[str], changed: list[str], removed: list[str], note: str = ""
) -> str:
    """A subject readable in ``git log --oneline``, the changed resources, ``note`` (what the run
    told people), and a trailer block."""
    counts: dict[str, int] = {}
    for path in added + changed + removed:
        counts[_service(path)] = counts.get(_service(path), 0) + 1
    per_service = ", ".join(f"{svc} {n}" for svc, n in sorted(counts.items()))
    missing = [g for g in snapshot.gaps if g.resource is None and g.kind != "region-disabled"]
    fields = [g for g in snapshot.gaps if g.resource is not None]
    if added or changed or removed:
        subject = (
            f"driftwatch: {len(changed)} changed, {len(added)} added, {len(removed)} removed ({per_service})"
        )
    elif missing or fields:
        subject = (
            f"driftwatch: partial read, {len(missing)} scope(s) and {len(fields)} setting(s) not read, "
            "no change in the rest"
        )
    else:
        subject = "driftwatch: settings verified, no change"
    lines = [subject, ""]
    for mark, paths in (("+", added), ("~", changed), ("-", removed)):
        lines += [f"{mark} {p.removeprefix(SNAPSHOTS + '/')}" for p in sorted(paths)]
    field_gaps = [g for g in snapshot.gaps if g.resource is not None]
    scope_gaps = [g for g in snapshot.gaps if g.resource is None]
    if snapshot.gaps:
        lines += [
            "",
            f"Not read this run ({len(scope_gaps)} scopes, {len(field_gaps)} fields; last known state kept):",
        ]
        lines += [f"! {g.describe()}" for g in snapshot.gaps[:50]]
        if len(snapshot.gaps) > 50:
            lines.append(f"! ... and {len(snapshot.gaps) - 50} more (see {MANIFEST})")
    if note:
        lines += ["", note.rstrip("\n")]
    lines += [
        "",
        f"Read {len(snapshot.resources)} resources from {len(snapshot.scopes_read)} scopes, "
        f"{snapshot.started_at.isoformat(timespec='seconds')} to "
        f"{snapshot.finished_at.isoformat(timespec='seconds')}.",
        "",
        f"Driftwatch-Run: {snapshot.run_id}",
        f"Driftwatch-Version: {__version__}",
        f"Driftwatch-Resources: {len(snapshot.resources)}",
        f"Driftwatch-Changed: {len(added) + len(changed) + len(removed)}",
        f"Driftwatch-Gaps: {len(snapshot.gaps)}",
    ]
    return "\n".join(lines) + "\n"


def unreadable_fields(manifest: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The settings a run could not read, by resource key and field, from its manifest."""
    fields: dict[str, dict[str, str]] = {}
    for gap in manifest.get("gaps", []):
        if gap.get("resource") and gap.get("field"):
            fields.setdefault(gap["resource"], {})[gap["field"]] = gap.get("code", "")
    return fields


def gaps_from_manifest(manifest: dict[str, Any], current: Mapping[str, Any]) -> list[CoverageGap]:
    """The coverage gaps a manifest records, with the identities of the resources in ``current``."""
    identities = {}
    for path, document in current.items():
        identity = identity_from_document(document, path)
        identities[identity.key] = identity
    gaps = []
    for gap in manifest.get("gaps", []):
        gaps.append(
            CoverageGap(
                Scope.parse(str(gap.get("scope", ""))),
                gap.get("api_call", ""),
                gap.get("kind", "error"),
                gap.get("code", ""),
                gap.get("message", ""),
                identities.get(gap.get("resource") or ""),
                gap.get("field"),
            )
        )
    return gaps
