"""Rules: the registry, what a rule sees of each resource, and the shared logic of guardrail rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from driftwatch.model import Against, Change, Finding, ResourceId, Severity, TrustedAccounts

Which = Literal["current", "baseline", "previous"]


@dataclass(frozen=True)
class RuleSettings:
    """A rule's settings from the guardrail file: enabled, severity and its own parameters."""

    enabled: bool
    severity: Severity
    params: Mapping[str, Any] = field(default_factory=dict)

    def severity_param(self, name: str) -> Severity:
        """A severity-valued parameter (validated when the guardrail file was loaded)."""
        return Severity.parse(str(self.params[name]))


@dataclass(frozen=True, slots=True)
class ResourceState:
    """One resource as the rules see it: now, as approved, as at the previous run, and the diffs."""

    identity: ResourceId
    current: Mapping[str, Any] | None
    baseline: Mapping[str, Any] | None
    previous: Mapping[str, Any] | None
    unreadable: Mapping[str, str] = field(default_factory=dict)
    baseline_changes: tuple[Change, ...] = ()
    previous_changes: tuple[Change, ...] = ()

    def reference(self) -> tuple[Against, Mapping[str, Any] | None, tuple[Change, ...]]:
        """What a rule about a change compares with: the approved baseline when there is one,
        else the previous run; with the changes against it."""
        if self.baseline is not None:
            return "baseline", self.baseline, self.baseline_changes
        return "previous", self.previous, self.previous_changes

    def config(self, which: Which) -> Mapping[str, Any] | None:
        """The config as it is now, as approved, or as at the previous run."""
        return {"current": self.current, "baseline": self.baseline, "previous": self.previous}[which]


class Context:
    """Every resource's state, for rules that need another resource (the account-level S3 block),
    and the trusted accounts: the config's and every account read."""

    def __init__(self, states: Mapping[str, ResourceState], trusted: TrustedAccounts | None = None) -> None:
        self.states = states
        # The accounts driftwatch reads are the user's own: their principals are no outsiders.
        read = frozenset(state.identity.account for state in states.values())
        configured = trusted or TrustedAccounts()
        self.trusted = TrustedAccounts(configured.accounts | read, configured.organization_id)
        self._by_type: dict[tuple[str, str], list[ResourceState]] = {}
        for state in states.values():
            self._by_type.setdefault((state.identity.account, state.identity.type), []).append(state)

    def of_type(self, account: str, type_: str) -> list[ResourceState]:
        """Every resource of one type in one account."""
        return self._by_type.get((account, type_), [])


@dataclass(frozen=True)
class Violation:
    """One thing wrong with one resource: a stable key, a message, the config paths involved."""

    key: str
    message: str
    paths: tuple[str, ...]
    severity: Severity | None = None


Check = Callable[[Mapping[str, Any], ResourceState, Context, RuleSettings, Which], list[Violation]]
RuleFunction = Callable[[ResourceState, Context, RuleSettings], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A registered rule: the resource types it judges, its defaults and the function."""

    name: str
    types: tuple[str, ...]
    severity: Severity
    params: Mapping[str, Any]
    evaluate: RuleFunction
    description: str
    reads: tuple[str, ...] = ()
    """Types of other resources (of the same account) that the rule looks at through the Context."""


RULES: dict[str, Rule] = {}


def register(
    name: str,
    *,
    types: tuple[str, ...],
    severity: Severity,
    params: Mapping[str, Any] | None = None,
    reads: tuple[str, ...] = (),
) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule function under ``name`` (the name used in guardrails.toml).

    A rule reports only what the approved baseline does not have, so a resource identical to its
    baseline, whose ``reads`` types are too, is not evaluated: declare every type read from the
    Context in ``reads``.
    """

    def add(function: RuleFunction) -> RuleFunction:
        doc = (function.__doc__ or "").strip().splitlines()
        RULES[name] = Rule(
            name, types, severity, dict(params or {}), function, doc[0] if doc else "", tuple(reads)
        )
        return function

    return add


def guardrail_findings(
    rule: str, state: ResourceState, ctx: Context, settings: RuleSettings, check: Check
) -> list[Finding]:
    """Findings for violations present now and not approved by the baseline.

    A violation the approved baseline shares (a public website bucket) is an approved
    exception. Without a baseline every violation is reported against the guardrail.
    """
    if state.current is None:
        return []
    now = check(state.current, state, ctx, settings, "current")
    approved = (
        {v.key for v in check(state.baseline, state, ctx, settings, "baseline")}
        if state.baseline is not None
        else set()
    )
    before = (
        {v.key for v in check(state.previous, state, ctx, settings, "previous")}
        if state.previous is not None
        else set()
    )
    against: Against = "baseline" if state.baseline is not None else "guardrail"
    source = state.baseline_changes if state.baseline is not None else state.previous_changes
    findings = []
    for violation in now:
        if violation.key in approved:
            continue
        changes = tuple(c for c in source if c.path and touches(c, violation.paths))
        findings.append(
            Finding(
                rule,
                violation.severity or settings.severity,
                state.identity,
                violation.message,
                against,
                changes,
                new_since_previous=violation.key not in before,
                subject=violation.key,
            )
        )
    return findings


def touches(change: Change, paths: Iterable[str]) -> bool:
    """True when ``change`` is at, inside, or around one of ``paths`` (a whole-resource change is)."""
    for path in paths:
        if (
            not change.path
            or change.path == path
            or change.path.startswith((path + ".", path + "["))
            or path.startswith((change.path + ".", change.path + "["))
        ):
            return True
    return False


@dataclass(frozen=True)
class MetaRule:
    """A rule about what the other rules found (drift left over, changes across a fleet)."""

    severity: Severity
    description: str
    params: Mapping[str, Any] = field(default_factory=dict)


META_RULES = {
    "baseline-drift": MetaRule(Severity.MEDIUM, "Any other change against the approved baseline."),
    "unapproved-resource": MetaRule(Severity.LOW, "A resource that has no approved baseline yet."),
    "provider-default-change": MetaRule(
        Severity.INFO,
        "The same change on many resources of one type that a known provider default change or an "
        "SDK upgrade explains: one finding for all of them.",
        {"min_resources": 5, "min_share": 0.5},
    ),
    "fleet-wide-change": MetaRule(
        Severity.MEDIUM,
        "The same change on many resources of one type that nothing explains: one finding for the "
        "drift of all of them, never less severe than that drift.",
    ),
    "baseline-tampered": MetaRule(Severity.CRITICAL, "A change to baselines/ that is not an approval."),
}
"""Rules the engine applies after the others, so that they report what the others did not."""
