"""Changes across a fleet: one finding for the same change on many resources, and new defaults.

A provider that changes a default changes it on every resource of a type at once, and a script
or template can do the same. Reported resource by resource that is a flood that hides what
happened, so the same change (path, value before, value after) on enough resources of one type
becomes one finding that lists them, and the per-resource ``baseline-drift`` it explains is folded
into it: ``provider-default-change`` when the catalogue of provider changes explains it or an SDK
upgrade added the field, ``fleet-wide-change`` otherwise. A security rule's finding is never folded:
it stays on its resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from driftwatch.compare import diff_configs
from driftwatch.model import Against, Change, Finding, KnownChange, ResourceId, Severity
from driftwatch.normalise import canonical_text
from driftwatch.provider_changes import CatalogueEntry, explaining, values_at
from driftwatch.rules import META_RULES, ResourceState, RuleSettings, touches
from driftwatch.rules.engine import drift_message, evaluate

FLEET_RULE = "provider-default-change"
"""Catalogued provider changes and SDK schema changes; its settings say what counts as fleet-wide."""
FLEET_WIDE_RULE = "fleet-wide-change"
"""The same change on many resources that nothing explains: one finding, as severe as the drift."""
_ANY = "*"


@dataclass(frozen=True)
class ToolUpgrade:
    """The SDK changed between the previous run and this one (``botocore 1.34.1 -> 1.35.0``)."""

    tool: str
    before: str
    after: str


Signature = tuple[str, str, str, str, str]
"""(provider, type, path, canonical value before, canonical value after or "*")."""


AddedByUpgrade = Callable[[Sequence[ResourceId], str], ToolUpgrade | None]
"""Whether the key at a path appeared on these resources in the run that upgraded the SDK to the
version now in use: that upgrade if so (the runner reads it from the snapshots' history)."""


def group_fleet_changes(
    states: Mapping[str, ResourceState],
    findings: Sequence[Finding],
    settings: Mapping[str, RuleSettings],
    catalogue: Sequence[CatalogueEntry],
    upgrade: ToolUpgrade | None = None,
    added_by_upgrade: AddedByUpgrade | None = None,
) -> list[Finding]:
    """``findings`` with the ``baseline-drift`` of every fleet-wide change folded into one finding.

    A change is fleet-wide when it touches at least ``min_resources`` resources of one type and
    at least ``min_share`` of all the resources of that type (a catalogued provider change: of
    those that had the value it changes); a field that appeared counts when it appeared on every
    resource. A change a rule reports on a resource (a bucket made public) is never grouped.
    ``upgrade`` is the SDK upgrade since the previous run; ``added_by_upgrade`` tells a key an
    earlier run's upgrade added, so that such a field stays schema until it is approved.
    """
    rule = settings.get(FLEET_RULE)
    if rule is None or not rule.enabled:
        return list(findings)
    claimed: dict[str, list[str]] = {}
    for finding in findings:
        if finding.rule not in META_RULES:
            claimed.setdefault(finding.resource.key, []).extend(c.path for c in finding.changes if c.path)
    population: dict[tuple[str, str], list[ResourceState]] = {}
    members: dict[Signature, dict[str, Change]] = {}
    for key, state in states.items():
        if state.current is None:
            continue
        population.setdefault((state.identity.provider, state.identity.type), []).append(state)
        taken = claimed.get(key, [])
        for change in (*state.previous_changes, *state.baseline_changes):
            if taken and touches(change, taken):
                continue  # a rule speaks for this change on this resource
            for part in refined(change):
                for signature in _signatures(state.identity, part):
                    members.setdefault(signature, {}).setdefault(key, part)
    least, share = int(rule.params["min_resources"]), float(rule.params["min_share"])
    groups: dict[tuple[str, str, frozenset[str]], list[Signature]] = {}
    schema: dict[Signature, ToolUpgrade] = {}
    for signature, found in members.items():
        kind = population[signature[:2]]
        if signature[4] == _ANY:
            # A field that appeared counts when it appeared on every resource that was there
            # before: one created in this run had nothing to gain it from.
            # Nor does one not approved yet that has the field already (created after it came).
            path = signature[2]
            reached = [
                s
                for s in kind
                if _has_reference(s)
                and (s.identity.key in found or s.baseline is not None or not _present(s.current, path))
            ]
            everywhere = len(found) == len(reached)
            # A key new to the API's answers after an SDK upgrade is schema, not settings, on a
            # type of any size (one password policy, three buckets), until it is approved.
            sdk = (
                _schema_upgrade(path, [states[k] for k in found], upgrade, added_by_upgrade)
                if everywhere
                else None
            )
            if sdk is not None:
                schema[signature] = sdk
            qualifies = everywhere and (len(found) >= least or sdk is not None)
        elif len(found) < least:
            continue
        elif len(found) / len(kind) >= share:
            qualifies = True
        elif _explained(catalogue, [states[k] for k in found]):
            # A catalogued provider change can only reach the resources that had its old value
            # (counted only for such a change: it reads every resource of the type).
            unchanged = sum(1 for s in kind if s.identity.key not in found and _holds(s, signature))
            qualifies = len(found) / (len(found) + unchanged) >= share
        else:
            qualifies = False
        if qualifies:
            groups.setdefault((*signature[:2], frozenset(found)), []).append(signature)
    result = list(findings)
    wide = settings.get(FLEET_WIDE_RULE)
    for (provider, type_, _), signatures in sorted(groups.items(), key=lambda g: sorted(g[1])):
        exact = [s for s in signatures if s[4] != _ANY]
        chosen = exact or signatures
        kind = population[(provider, type_)]
        upgraded = {s[2]: schema[s] for s in signatures if s in schema}  # keys an SDK upgrade added
        sdk = next(iter(upgraded.values())) if all(s[2] in upgraded for s in chosen) else None
        group = _Group({s: members[s] for s in chosen}, states, len(kind))
        result = group.fold(result, rule, wide, catalogue, settings, sdk)
    return sorted(result, key=lambda f: f.sort_key)


def _schema_upgrade(
    path: str,
    found: Sequence[ResourceState],
    upgrade: ToolUpgrade | None,
    added_by_upgrade: AddedByUpgrade | None,
) -> ToolUpgrade | None:
    """The SDK upgrade that explains ``path`` appearing on the resources ``found``, if one does.

    In the run of the upgrade the key is new since the previous run; in the runs after, until
    approved, it is missing from the baselines and appeared in the run of the upgrade.
    """
    if upgrade is not None and all(_new_key(_last_known(s), path) for s in found):
        return upgrade
    if added_by_upgrade is None:
        return None
    if not all(s.baseline is not None and _new_key(s.baseline, path) for s in found):
        return None
    return added_by_upgrade([s.identity for s in found], path)


def key_added(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, path: str) -> bool:
    """True when the key at ``path`` is not in ``before`` at all and is in ``after``."""
    return before is not None and _new_key(before, path) and _present(after, path)


def _present(config: Mapping[str, Any] | None, path: str) -> bool:
    try:
        return config is not None and bool(values_at(config, path))
    except ValueError:
        return False


def _explained(catalogue: Sequence[CatalogueEntry], found: Sequence[ResourceState]) -> bool:
    """True when one catalogued provider change explains the change on every resource ``found``."""
    return any(
        entry.applies_to == "existing"
        and all(
            entry.applies(s.identity.provider, s.identity.type)
            and (entry.explains(s.previous, s.current) or entry.explains(s.baseline, s.current))
            for s in found
        )
        for entry in catalogue
    )


def refined(change: Change) -> list[Change]:
    """``change`` split into changes inside the elements of a list when that is what it is.

    The comparator reports a change inside a list as the whole list before and after; two
    buckets whose encryption rules differ (KMS keys) but gained the same key inside them show
    the same refined change: ``Encryption.Rules[*].BlockedEncryptionTypes: null -> {...}``.
    """
    before, after = change.before, change.after
    if not (isinstance(before, list) and isinstance(after, list) and len(before) == len(after)):
        return [change]
    if not all(isinstance(v, dict) for v in (*before, *after)):
        return [change]
    parts = []
    for old, new in zip(before, after, strict=True):
        for inner in diff_configs(change.resource, old, new, change.against):
            joiner = "" if inner.path.startswith("[") else "."
            path = f"{change.path}[*]{joiner}{inner.path}"
            parts.append(Change(change.resource, path, inner.before, inner.after, change.against))
    return parts or [change]


def _has_reference(state: ResourceState) -> bool:
    """True when the resource was known before this run (recorded, or approved)."""
    return state.previous is not None or state.baseline is not None


def _last_known(state: ResourceState) -> Mapping[str, Any] | None:
    """The resource's document at the previous run, else as approved."""
    return state.previous if state.previous is not None else state.baseline


def _new_key(reference: Mapping[str, Any] | None, path: str) -> bool:
    """True when ``path`` was not in the document ``reference`` at all (not even as null)."""
    try:
        return not values_at(reference, path)
    except ValueError:
        return False


def _holds(state: ResourceState, signature: Signature) -> bool:
    """True when a resource's setting at the signature's path still has the value before."""
    try:
        values = values_at(state.current, signature[2])
    except ValueError:
        return False
    now = values[0] if len(values) == 1 and "[*]" not in signature[2] else (values or None)
    if isinstance(now, list) and all(canonical_text(v) == signature[3] for v in now):
        return True
    return canonical_text(now) == signature[3]


def _signatures(identity: ResourceId, change: Change) -> list[Signature]:
    if not change.path:
        return []  # a resource created or deleted is not a changed setting
    head = (identity.provider, identity.type, change.path, canonical_text(change.before))
    exact = (*head, canonical_text(change.after))
    return [exact, (*head, _ANY)] if change.before is None and change.after is not None else [exact]


def group_covers(group: Finding, change: Change) -> bool:
    """True when ``change``, on one of the resources of the fleet-wide finding ``group``, is the
    group's change or made of it (what ``approve --finding`` takes into that resource's baseline)."""
    signatures = []
    for c in group.changes:
        after = _ANY if c.before is None and c.after is None else canonical_text(c.after)
        head = (group.resource.provider, group.resource.type, c.path, canonical_text(c.before))
        signatures.append((*head, after))
    return _covered(signatures, change)


def _covered(signatures: Sequence[Signature], change: Change) -> bool:
    def part_covered(part: Change) -> bool:
        before, after = canonical_text(part.before), canonical_text(part.after)
        return any(s[2] == part.path and s[3] == before and s[4] in (_ANY, after) for s in signatures)

    return bool(change.path) and all(part_covered(part) for part in refined(change))


class _Group:
    """One fleet-wide change: its signatures, the resources it touched, and their states."""

    def __init__(
        self,
        by_signature: dict[Signature, dict[str, Change]],
        states: Mapping[str, ResourceState],
        total: int,
    ) -> None:
        self.signatures = sorted(by_signature)
        self.by_signature = by_signature
        self.keys = sorted(next(iter(by_signature.values())))
        self.all_states = states
        self.states = {k: states[k] for k in self.keys}
        self.provider, self.type = self.signatures[0][:2]
        self.total = total
        self.paths = {s[2] for s in self.signatures}
        self.any_value = all(s[4] == _ANY for s in self.signatures)

    def covers(self, change: Change) -> bool:
        """True when ``change`` is this group's change (on one of its resources), or made of it."""
        return _covered(self.signatures, change)

    def fold(
        self,
        findings: list[Finding],
        rule: RuleSettings,
        wide: RuleSettings | None,
        catalogue: Sequence[CatalogueEntry],
        settings: Mapping[str, RuleSettings],
        sdk: ToolUpgrade | None,
    ) -> list[Finding]:
        """``findings`` with this group's ``baseline-drift`` folded into one finding about it.

        Only plain drift is folded: what a rule says of a resource stays on the resource. A
        change nothing explains becomes a group only when it stands for drift findings.
        """
        kept: list[Finding] = []
        folded: list[Finding] = []
        for finding in findings:
            if finding.rule != "baseline-drift" or finding.resource.key not in self.states:
                kept.append(finding)
                continue
            rest = tuple(c for c in finding.changes if not self.covers(c))
            if len(rest) < len(finding.changes):
                folded.append(finding)
            if not rest:
                continue
            if len(rest) < len(finding.changes):
                state = self.states[finding.resource.key]
                finding = replace(finding, changes=rest, message=drift_message(state, rest))
            kept.append(finding)
        entry = self._catalogued(catalogue)
        if entry is None and sdk is None and (wide is None or not wide.enabled or not folded):
            return findings
        return [*kept, self._finding(folded, rule, wide, entry, settings, sdk)]

    def _finding(
        self,
        folded: list[Finding],
        rule: RuleSettings,
        wide: RuleSettings | None,
        entry: CatalogueEntry | None,
        settings: Mapping[str, RuleSettings],
        sdk: ToolUpgrade | None,
    ) -> Finding:
        accounts = sorted({self.states[k].identity.account for k in self.keys})
        identity = ResourceId(
            self.provider, accounts[0] if len(accounts) == 1 else _ANY, _ANY, self.type, _ANY
        )
        now = [k for k in self.keys if self._changed_now(k)]
        against: Against = "previous" if now else "baseline"
        changes = tuple(Change(identity, s[2], *self._values(s), against) for s in self.signatures)
        what = ", ".join(c.path for c in changes) + (" appeared, a value on each" if self.any_value else "")
        count = f"{len(self.keys)} of {self.total} {self.type}"
        if len(now) == len(self.keys):
            when = "in one run"
        else:  # changes that built up over several runs are not one change at one moment
            when = "against the approved baseline" + (f", {len(now)} of them in this run" if now else "")
        known: KnownChange | None = None
        name, severity = FLEET_RULE, rule.severity
        if sdk is not None:
            message = (
                f"{sdk.tool} {sdk.before} -> {sdk.after} added {', '.join(sorted(self.paths))} "
                f"to every {self.type} ({len(self.keys)}): a new field in the API's answers, not a change "
                "of settings; approve it to take it into the baselines"
            )
        elif entry is not None:
            known, severity = entry.known, entry.severity
            message = (
                f"the same change on {count} {when} ({what}). "
                f"Matches a known provider default change: {known.describe()}"
            )
            if known.effect != "neutral":
                message += f"; it {known.effect} security"
        else:
            assert wide is not None  # fold() makes no group of an unexplained change without it
            name = FLEET_WIDE_RULE
            severity = Severity(max([wide.severity, *(f.severity for f in folded)]))
            message = (
                f"the same change on {count} {when} ({what}). No known provider default change "
                "explains it: review and approve it as one change"
            )
            tightened = self._tightened(settings)
            if tightened:
                message += f"; it tightens security (no longer {', '.join(tightened)})"
        return Finding(
            name,
            severity,
            identity,
            message,
            against,
            changes,
            new_since_previous=bool(now),
            related=tuple(self.states[k].identity for k in self.keys),
            known_change=known,
            subject=",".join(sorted(self.paths)),
        )

    def _changed_now(self, key: str) -> bool:
        return any(self.covers(c) for c in self.states[key].previous_changes)

    def _values(self, signature: Signature) -> tuple[Any, Any]:
        """The value before and after of a signature (no single value after for "appeared")."""
        sample = next(iter(self.by_signature[signature].values()))
        return sample.before, None if signature[4] == _ANY else sample.after

    def _reference(self, key: str) -> Mapping[str, Any] | None:
        state = self.states[key]
        return state.previous if self._changed_now(key) else state.baseline

    def _catalogued(self, catalogue: Sequence[CatalogueEntry]) -> CatalogueEntry | None:
        for entry in catalogue:
            if (
                entry.applies_to == "existing"
                and entry.applies(self.provider, self.type)
                and all(entry.explains(self._reference(k), self.states[k].current) for k in self.keys)
            ):
                return entry
        return None

    def _tightened(self, settings: Mapping[str, RuleSettings]) -> list[str]:
        """The guardrail rules that held against these resources before the change and not after."""
        context = {
            k: ResourceState(s.identity, s.current, None, None)
            for k, s in self.all_states.items()
            if s.identity.type != self.type
        }

        def guardrails(which: str) -> set[tuple[str, str]]:
            states = dict(context)
            for key, state in self.states.items():
                config = state.current if which == "now" else self._reference(key)
                states[key] = ResourceState(state.identity, config, None, None)
            found = evaluate(states, settings, judged=self.states)
            return {(f.rule, f.resource.key) for f in found}

        gone = guardrails("then") - guardrails("now")
        return sorted({rule for rule, _ in gone if rule not in META_RULES})


def label_known_changes(
    states: Mapping[str, ResourceState], findings: Sequence[Finding], catalogue: Sequence[CatalogueEntry]
) -> list[Finding]:
    """Drift too rare to be grouped that a catalogued provider change explains, labelled with it.

    Only ``baseline-drift`` findings whose every change lies in the entry's settings are labelled
    (and take the entry's severity): a rule's verdict on a setting speaks for itself. A provider
    changes every resource it reaches, so while another resource of the type still has the old
    value (a bucket still unencrypted) the change was someone's edit, and keeps its severity.
    """
    untouched: dict[tuple[str, str], bool] = {}

    def old_value_left(entry: CatalogueEntry, identity: ResourceId) -> bool:
        if (entry.known.id, identity.type) not in untouched:
            untouched[entry.known.id, identity.type] = any(
                s.identity.type == identity.type and s.current is not None and entry.still_before(s.current)
                for s in states.values()
            )
        return untouched[entry.known.id, identity.type]

    result = []
    for finding in findings:
        state = states.get(finding.resource.key)
        if finding.rule == "baseline-drift" and finding.known_change is None and state is not None:
            reference = state.previous if finding.against == "previous" else state.baseline
            identity = state.identity
            entry = explaining(catalogue, identity.provider, identity.type, reference, state.current)
            if (
                entry is not None
                and all(_root_key(c.path) in entry.top_level_keys for c in finding.changes)
                and not old_value_left(entry, identity)
            ):
                known = entry.known
                message = f"{finding.message}. Matches a known provider default change: {known.describe()}"
                finding = replace(finding, severity=entry.severity, known_change=known, message=message)
        result.append(finding)
    return result


def _root_key(path: str) -> str:
    """The top-level key of a change path (``Encryption`` of ``Encryption.Rules[0]``)."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def label_new_defaults(
    states: Mapping[str, ResourceState], findings: Sequence[Finding], catalogue: Sequence[CatalogueEntry]
) -> list[Finding]:
    """Findings about a resource created with a provider's new default, labelled with it.

    A resource first seen in this run whose settings differ from an older resource of its type
    exactly by a catalogued "new resources" change is not configured differently: it was
    created after the provider changed the default (unless its creation time says otherwise).
    """
    labelled: dict[str, KnownChange] = {}
    older_by_type: dict[str, list[Mapping[str, Any]]] = {}  # once per type, not once per new resource
    for s in states.values():
        if s.previous is not None and s.current is not None:
            older_by_type.setdefault(s.identity.type, []).append(s.current)
    for key, state in states.items():
        if state.previous is not None or state.current is None:
            continue
        older = older_by_type.get(state.identity.type, [])
        for entry in catalogue:
            if (
                entry.applies_to == "new"
                and entry.applies(state.identity.provider, state.identity.type)
                and not entry.created_before(state.current)
                and any(_differs_only_by(entry, old, state.current) for old in older)
            ):
                labelled[key] = entry.known
                break
    result = []
    for finding in findings:
        known = labelled.get(finding.resource.key)
        if known is not None and finding.known_change is None:
            finding = replace(
                finding,
                known_change=known,
                message=f"{finding.message} (created with a provider's new default: {known.describe()})",
            )
        result.append(finding)
    return result


def _differs_only_by(entry: CatalogueEntry, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    if not entry.explains(old, new):
        return False
    differing = {
        k
        for k in (set(old) | set(new)) - entry.ignore
        if canonical_text(old.get(k)) != canonical_text(new.get(k))
    }
    return differing <= entry.top_level_keys and bool(differing)
