"""Approved baselines and guardrail settings, read from ``baselines/`` and validated strictly."""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftwatch.errors import BaselineError, StoreError
from driftwatch.layout import BASELINES, GUARDRAILS, baseline_path, identity_from_document, is_resource_file
from driftwatch.model import ResourceId, Severity
from driftwatch.rules import META_RULES, RULES, Rule, RuleSettings
from driftwatch.rules.declarative import parse_rules
from driftwatch.rules.engine import default_settings
from driftwatch.rules.reverted import BaselineVersion
from driftwatch.store import StateRepo

BASELINE_KEYS = frozenset({"identity", "config", "partial"})
"""The keys of a baseline file; ``"partial": true`` marks one that pins only some settings."""


@dataclass(frozen=True)
class Approved:
    """One resource's approved baseline: who it is, the approved config, and the file it is in."""

    identity: ResourceId
    config: dict[str, Any]
    path: str
    partial: bool = False


Baselines = dict[str, Approved]
"""Approved baselines by resource key."""


def working_files(repo: Path, root: str = BASELINES) -> dict[str, bytes]:
    """The files under ``root`` as they are on disk (what an admin is about to commit)."""
    base = repo / root
    return (
        {
            file.relative_to(repo).as_posix(): file.read_bytes()
            for file in sorted(base.rglob("*"))
            if file.is_file()
        }
        if base.is_dir()
        else {}
    )


def load_guardrails(path: Path, label: str = GUARDRAILS) -> dict[str, RuleSettings]:
    """The rule settings in a guardrail file on disk."""
    return parse_guardrails(path.read_bytes() if path.is_file() else None, label)


def _text(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{label}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None


@dataclass(frozen=True)
class Guardrails:
    """A guardrail file: every rule's settings, and the file's own ``[[guardrail]]`` rules."""

    settings: dict[str, RuleSettings]
    rules: tuple[Rule, ...] = ()


def parse_guardrails(data: bytes | None, label: str = GUARDRAILS) -> dict[str, RuleSettings]:
    """The rule settings in a guardrail file; BaselineError naming the file, rule and key otherwise."""
    return parse_guardrail_file(data, label).settings


def parse_guardrail_file(data: bytes | None, label: str = GUARDRAILS) -> Guardrails:
    """The rule settings and the ``[[guardrail]]`` rules of a guardrail file, validated."""
    if data is None:
        raise BaselineError(
            f"{label}: missing; restore it from git or copy the default from "
            "driftwatch's baselines/guardrails.toml, and commit it"
        )
    try:
        raw = tomllib.loads(_text(data, label))
    except tomllib.TOMLDecodeError as exc:
        raise BaselineError(f"{label}: not valid TOML: {exc}") from None
    unknown_top = set(raw) - {"rules", "guardrail"}
    if unknown_top:
        raise BaselineError(
            f"{label}: unknown table or key {sorted(unknown_top)[0]!r} (only [rules.NAME] and [[guardrail]])"
        )
    rules = raw.get("rules", {})
    if not isinstance(rules, dict):
        raise BaselineError(f"{label}: rules must be tables [rules.NAME]")
    settings = default_settings()
    known = set(RULES) | set(META_RULES)
    for name, table in rules.items():
        where = f"{label}: [rules.{name}]"
        if name not in known:
            raise BaselineError(f"{where}: unknown rule (known rules: {', '.join(sorted(known))})")
        if not isinstance(table, dict):
            raise BaselineError(f"{where}: must be a table")
        settings[name] = _rule_settings(where, name, dict(table), settings[name])
    own = parse_rules(raw.get("guardrail", []), label, taken=lambda name: name in known)
    for rule in own:
        settings[rule.name] = RuleSettings(rule.enabled, rule.severity)
    return Guardrails(settings, tuple(rule.as_rule() for rule in own))


def _rule_settings(where: str, name: str, table: dict[str, Any], default: RuleSettings) -> RuleSettings:
    enabled = table.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise BaselineError(f"{where} enabled: must be true or false, not {enabled!r}")
    severity = _severity(where, "severity", table.pop("severity", str(default.severity)))
    params = dict(default.params)
    for key, value in table.items():
        if key not in params:
            allowed = ", ".join(["enabled", "severity", *sorted(params)])
            raise BaselineError(f"{where} {key}: unknown key for rule {name} (allowed: {allowed})")
        expected = params[key]
        if key.endswith("severity"):
            _severity(where, key, value)
        elif isinstance(expected, list):
            if not isinstance(value, list) or not all(isinstance(v, type(expected[0])) for v in value):
                raise BaselineError(f"{where} {key}: must be a list of {type(expected[0]).__name__}")
            if key.endswith("ports") and not all(1 <= port <= 65535 for port in value):
                raise BaselineError(f"{where} {key}: ports are numbers from 1 to 65535")
        elif isinstance(expected, float) and type(value) in (int, float):
            value = float(value)
            if key.endswith("share") and not 0 < value <= 1:
                raise BaselineError(f"{where} {key}: a share between 0 and 1 (0.5 = half), not {value}")
        elif type(value) is not type(expected):
            raise BaselineError(f"{where} {key}: must be {type(expected).__name__}, not {value!r}")
        elif key.startswith("min_") and isinstance(value, int) and value < 1:
            raise BaselineError(f"{where} {key}: must be at least 1, not {value}")
        params[key] = value
    return RuleSettings(enabled, severity, params)


def _severity(where: str, key: str, value: Any) -> Severity:
    if not isinstance(value, str):
        raise BaselineError(f"{where} {key}: must be a severity string, not {value!r}")
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise BaselineError(f"{where} {key}: {exc}") from None


def parse_baselines(files: Mapping[str, bytes], identical: Mapping[str, Any] | None = None) -> Baselines:
    """Every approved baseline among ``files`` (path -> content), keyed by resource key.

    ``identical`` maps baseline paths to documents already read whose file is byte for byte the
    same (a snapshot equal to its baseline): they are validated without being parsed again.
    """
    baselines: Baselines = {}
    identical = identical or {}
    for rel in sorted(set(files) | set(identical)):
        if not is_resource_file(rel, BASELINES):
            continue
        if rel in identical:
            approved = _approved(identical[rel], rel)
        else:
            approved = _approved(_parsed(_text(files[rel], rel), rel), rel)
        key = approved.identity.key
        if key in baselines:
            raise BaselineError(
                f"{rel}: approves {key} again; {baselines[key].path} already does. Keep one of them"
            )
        baselines[key] = approved
    return baselines


def parse_baseline(text: str, label: str) -> Baselines:
    """One baseline file's text as ``{resource key: Approved}``; BaselineError otherwise."""
    return baseline_from_document(_parsed(text, label), label)


def _parsed(text: str, label: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{label}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None


def baseline_from_document(document: Any, label: str) -> Baselines:
    """One baseline document as ``{resource key: Approved}``; BaselineError otherwise."""
    approved = _approved(document, label)
    return {approved.identity.key: approved}


def _approved(document: Any, label: str) -> Approved:
    """One baseline document, validated (every approved resource goes through here on each check)."""
    try:
        identity = identity_from_document(document, label)
    except ValueError as exc:
        raise BaselineError(str(exc)) from None
    if not document.keys() <= BASELINE_KEYS:
        unknown = sorted(set(document) - BASELINE_KEYS)
        raise BaselineError(
            f"{label}: unknown key {unknown[0]!r} (a baseline has: {', '.join(sorted(BASELINE_KEYS))})"
        )
    expected = baseline_path(identity)
    if label.startswith(BASELINES + "/") and label != expected:
        raise BaselineError(f"{label}: its identity belongs at {expected}; move the file or fix its identity")
    partial = document.get("partial", False)
    if not isinstance(partial, bool):
        raise BaselineError(f'{label}: "partial" must be true or false')
    config = document.get("config")
    if not isinstance(config, Mapping):
        raise BaselineError(f'{label}: "config" must be a JSON object with the approved settings')
    # The config object itself, not a copy: a baseline identical to the snapshot shares it, and
    # the comparator skips what is the same object.
    return Approved(identity, config if isinstance(config, dict) else dict(config), label, partial)


def approved_histories(
    repo: StateRepo, identities: Iterable[ResourceId], least: int = 1
) -> dict[str, list[BaselineVersion]]:
    """``approved_history`` of many resources at once, by key: one ``git log`` and one read of the blobs.

    A resource whose baseline was written by fewer than ``least`` commits gets no versions, and
    none of its blobs is read (a fix undone needs two versions: the fix and the one before).
    """
    keys = {baseline_path(identity): identity.key for identity in identities}
    if not keys:
        return {}
    log = repo.file_changes(sorted(keys))
    written = Counter(path for _, changes in log for path, (_, new) in changes.items() if new)
    kept = {path for path, count in written.items() if count >= least}
    contents = repo.read_blob_ids(
        [new for _, changes in log for path, (_, new) in changes.items() if new and path in kept]
    )
    histories: dict[str, list[BaselineVersion]] = {key: [] for key in keys.values()}
    for commit, changes in log:
        for path, (_, new) in changes.items():
            if path not in kept:
                continue
            try:
                document = json.loads((contents.get(new) or b"").decode("utf-8")) if new else None
            except ValueError:  # UnicodeDecodeError included
                continue  # a malformed version was never in force; it cannot have fixed anything
            config = document.get("config") if isinstance(document, dict) else None
            if isinstance(config, dict) and path in keys:
                histories[keys[path]].append(
                    BaselineVersion(commit.sha, commit.time, commit.author_name, config)
                )
    return histories


def approved_history(repo: StateRepo, identity: ResourceId) -> list[BaselineVersion]:
    """Every committed version of a resource's baseline, oldest first (unreadable ones skipped)."""
    path = baseline_path(identity)
    versions = []
    for commit in repo.file_log([path]):
        try:
            document = repo.read_file_at(commit.sha, path)
        except StoreError:
            continue  # a malformed version was never in force; it cannot have fixed anything
        config = document.get("config") if isinstance(document, dict) else None
        if isinstance(config, dict):
            versions.append(BaselineVersion(commit.sha, commit.time, commit.author_name, config))
    return versions
