"""Changes across a fleet: one finding for the same change on many resources, and new defaults.

A provider that changes a default changes it on every resource of a type at once. Reported
resource by resource that is a flood that hides what happened, so the same change (path, value
before, value after) on enough resources of one type becomes one ``provider-default-change``
finding that lists them; the per-resource findings it explains are folded into it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from driftwatch.model import Against, Change, Finding, KnownChange, ResourceId
from driftwatch.normalise import canonical_text
from driftwatch.provider_changes import CatalogueEntry
from driftwatch.rules import ResourceState, RuleSettings
from driftwatch.rules.engine import META_RULES, drift_message, evaluate

FLEET_RULE = "provider-default-change"
_ANY = "*"


@dataclass(frozen=True)
class ToolUpgrade:
    """The SDK changed between the previous run and this one (``botocore 1.34.1 -> 1.35.0``)."""

    tool: str
    before: str
    after: str


Signature = tuple[str, str, str, str, str]
"""(provider, type, path, canonical value before, canonical value after or "*")."""


def group_fleet_changes(
    states: Mapping[str, ResourceState],
    findings: Sequence[Finding],
    settings: Mapping[str, RuleSettings],
    catalogue: Sequence[CatalogueEntry],
    upgrade: ToolUpgrade | None = None,
) -> list[Finding]:
    """``findings`` with every fleet-wide change folded into one finding per change."""
    rule = settings.get(FLEET_RULE)
    if rule is None or not rule.enabled:
        return list(findings)
    population: dict[tuple[str, str], int] = {}
    members: dict[Signature, dict[str, Change]] = {}
    for key, state in states.items():
        if state.current is None:
            continue
        kind = (state.identity.provider, state.identity.type)
        population[kind] = population.get(kind, 0) + 1
        for change in (*state.previous_changes, *state.baseline_changes):
            for signature in _signatures(state.identity, change):
                members.setdefault(signature, {}).setdefault(key, change)
    least, share = int(rule.params["min_resources"]), float(rule.params["min_share"])
    groups: dict[tuple[str, str, frozenset[str]], list[Signature]] = {}
    for signature, found in members.items():
        total = population[signature[:2]]
        if signature[4] == _ANY:  # a field that appeared: only when it appeared everywhere
            qualifies = len(found) == total >= least
        else:
            qualifies = len(found) >= least and len(found) / total >= share
        if qualifies:
            groups.setdefault((*signature[:2], frozenset(found)), []).append(signature)
    result = list(findings)
    for (_, _, keys), signatures in sorted(groups.items(), key=lambda g: sorted(g[1])):
        exact = [s for s in signatures if s[4] != _ANY]
        chosen = exact or signatures
        group = _Group(
            chosen, {k: members[chosen[0]][k] for k in keys}, states, population[signature_kind(chosen)]
        )
        result = group.fold(result, rule, catalogue, settings, upgrade)
    return sorted(result, key=lambda f: f.sort_key)


def signature_kind(signatures: list[Signature]) -> tuple[str, str]:
    """The provider and type of a group's signatures."""
    return signatures[0][0], signatures[0][1]


def _signatures(identity: ResourceId, change: Change) -> list[Signature]:
    if not change.path:
        return []  # a resource created or deleted is not a changed setting
    head = (identity.provider, identity.type, change.path, canonical_text(change.before))
    exact = (*head, canonical_text(change.after))
    return [exact, (*head, _ANY)] if change.before is None and change.after is not None else [exact]


class _Group:
    """One fleet-wide change: its signatures, the resources it touched, and their states."""

    def __init__(
        self,
        signatures: list[Signature],
        changes: dict[str, Change],
        states: Mapping[str, ResourceState],
        total: int,
    ) -> None:
        self.signatures = signatures
        self.keys = sorted(changes)
        self.all_states = states
        self.states = {k: states[k] for k in self.keys}
        self.changes = changes
        self.provider, self.type = signatures[0][:2]
        self.total = total
        self.paths = {s[2] for s in signatures}
        self.any_value = all(s[4] == _ANY for s in signatures)

    def covers(self, change: Change) -> bool:
        """True when ``change`` is this group's change (on one of its resources)."""
        if change.path not in self.paths:
            return False
        before, after = canonical_text(change.before), canonical_text(change.after)
        return any(s[2] == change.path and s[3] == before and s[4] in (_ANY, after) for s in self.signatures)

    def fold(
        self,
        findings: list[Finding],
        rule: RuleSettings,
        catalogue: Sequence[CatalogueEntry],
        settings: Mapping[str, RuleSettings],
        upgrade: ToolUpgrade | None,
    ) -> list[Finding]:
        kept: list[Finding] = []
        folded: list[Finding] = []
        for finding in findings:
            if finding.resource.key not in self.states or not finding.changes:
                kept.append(finding)
                continue
            rest = tuple(c for c in finding.changes if not self.covers(c))
            if not rest:
                folded.append(finding)
            elif len(rest) < len(finding.changes) and finding.rule == "baseline-drift":
                state = self.states[finding.resource.key]
                kept.append(replace(finding, changes=rest, message=drift_message(state, rest)))
            else:
                kept.append(finding)
        return [*kept, self._finding(folded, rule, catalogue, settings, upgrade)]

    def _finding(
        self,
        folded: list[Finding],
        rule: RuleSettings,
        catalogue: Sequence[CatalogueEntry],
        settings: Mapping[str, RuleSettings],
        upgrade: ToolUpgrade | None,
    ) -> Finding:
        accounts = sorted({self.states[k].identity.account for k in self.keys})
        identity = ResourceId(
            self.provider, accounts[0] if len(accounts) == 1 else _ANY, _ANY, self.type, _ANY
        )
        against: Against = "previous" if any(self._changed_now(k) for k in self.keys) else "baseline"
        changes = tuple(
            Change(identity, path, self._before(path), None if self.any_value else self._after(path), against)
            for path in sorted(self.paths)
        )
        entry = self._catalogued(catalogue)
        loosened = sorted({f.rule for f in folded if f.rule not in META_RULES})
        tightened = [] if loosened or entry else self._tightened(settings)
        what = "; ".join(
            f"{c.path}: {_show(c.before)} -> {'(a value on each)' if self.any_value else _show(c.after)}"
            for c in changes
        )
        count = f"{len(self.keys)} of {self.total} {self.type}"
        known: KnownChange | None = None
        severity = rule.severity
        added_everywhere = len(self.keys) == self.total and all(s[3] == "null" for s in self.signatures)
        if upgrade is not None and added_everywhere:
            message = (
                f"{upgrade.tool} {upgrade.before} -> {upgrade.after} added {', '.join(sorted(self.paths))} "
                f"to every {self.type} ({len(self.keys)}): a new field in the API's answers, not a change "
                "of settings; approve it to take it into the baselines"
            )
        else:
            message = f"the same change on {count} in one run: {what}. "
            if entry is not None:
                known = entry.known
                severity = entry.severity
                message += f"Matches a known provider default change: {known.describe()}"
                if known.effect != "neutral":
                    message += f"; it {known.effect} security"
            else:
                message += "Looks like a provider default change rather than separate edits"
                if tightened:
                    message += f"; it tightens security (no longer {', '.join(tightened)})"
            if loosened:
                severity = max([severity, *(f.severity for f in folded if f.rule in loosened)])
                message += f"; it loosens security: {', '.join(loosened)}"
        return Finding(
            FLEET_RULE,
            severity,
            identity,
            message,
            against,
            changes,
            new_since_previous=any(self._changed_now(k) for k in self.keys),
            related=tuple(self.states[k].identity for k in self.keys),
            known_change=known,
            subject=",".join(sorted(self.paths)),
        )

    def _changed_now(self, key: str) -> bool:
        return any(self.covers(c) for c in self.states[key].previous_changes)

    def _before(self, path: str) -> Any:
        return next(self.changes[k].before for k in self.keys if self.changes[k].path == path)

    def _after(self, path: str) -> Any:
        return next(self.changes[k].after for k in self.keys if self.changes[k].path == path)

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
            found = evaluate(states, settings)
            return {(f.rule, f.resource.key) for f in found if f.resource.key in self.states}

        gone = guardrails("then") - guardrails("now")
        return sorted({rule for rule, _ in gone if rule not in META_RULES})


def label_new_defaults(
    states: Mapping[str, ResourceState], findings: Sequence[Finding], catalogue: Sequence[CatalogueEntry]
) -> list[Finding]:
    """Findings about a resource created with a provider's new default, labelled with it.

    A resource first seen in this run whose settings differ from an older resource of its type
    exactly by a catalogued "new resources" change is not configured differently: it was
    created after the provider changed the default.
    """
    labelled: dict[str, KnownChange] = {}
    for key, state in states.items():
        if state.previous is not None or state.current is None:
            continue
        older = [
            s.current
            for s in states.values()
            if s.identity.type == state.identity.type and s.previous is not None and s.current is not None
        ]
        for entry in catalogue:
            if (
                entry.applies_to == "new"
                and entry.applies(state.identity.provider, state.identity.type)
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


def _show(value: Any) -> str:
    text = "absent" if value is None else canonical_text(value)
    return text if len(text) <= 120 else text[:117] + "..."
