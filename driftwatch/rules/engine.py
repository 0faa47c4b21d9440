"""Every enabled rule over every resource, then baseline drift and unapproved resources."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from fnmatch import fnmatch

from driftwatch.model import Change, Finding, TrustedAccounts
from driftwatch.rules import META_RULES, RULES, Context, ResourceState, Rule, RuleSettings

# Importing the modules registers the built-in rules.
from driftwatch.rules import (  # noqa: F401  # isort: skip
    cloudtrail,
    declarative,
    ec2,
    ec2_images,
    ec2_instances,
    iam,
    iam_account,
    iam_trust,
    kms,
    lambda_functions,
    messaging,
    monitoring,
    rds,
    s3,
)


def default_settings() -> dict[str, RuleSettings]:
    """Every rule enabled with its built-in severity and parameters."""
    settings = {name: RuleSettings(True, rule.severity, rule.params) for name, rule in RULES.items()}
    settings.update({name: RuleSettings(True, m.severity, m.params) for name, m in META_RULES.items()})
    return settings


def evaluate(
    states: Mapping[str, ResourceState],
    settings: Mapping[str, RuleSettings],
    extra: Sequence[Rule] = (),
    trusted: TrustedAccounts | None = None,
    judged: Collection[str] | None = None,
) -> list[Finding]:
    """Every finding for every resource, most severe first; ``extra``: the guardrail file's own rules.

    ``judged`` limits the findings to the resources with those keys; the others are still there
    for the rules that look at them through the Context.

    A resource that is its approved baseline (one shared document, every field read) cannot
    break a rule unless something the rule reads beside it changed: such pairs are skipped, so
    an unchanged account costs almost nothing to judge.
    """
    ctx = Context(states, trusted)
    enabled = [
        rule for rule in [*RULES.values(), *extra] if (s := settings.get(rule.name)) is not None and s.enabled
    ]
    by_type: dict[str, list[Rule]] = {}
    settled_context: dict[tuple[str, str], bool] = {}

    def context_settled(account: str, types: tuple[str, ...]) -> bool:
        for type_ in types:
            if (account, type_) not in settled_context:
                settled_context[account, type_] = all(_as_approved(s) for s in ctx.of_type(account, type_))
            if not settled_context[account, type_]:
                return False
        return True

    findings: list[Finding] = []
    for state in states.values() if judged is None else (states[key] for key in judged):
        type_ = state.identity.type
        if type_ not in by_type:
            by_type[type_] = [r for r in enabled if any(fnmatch(type_, pattern) for pattern in r.types)]
        settled = _as_approved(state)
        found: list[Finding] = []
        for rule in by_type[type_]:
            if settled and context_settled(state.identity.account, rule.reads):
                continue
            found.extend(rule.evaluate(state, ctx, settings[rule.name]))
        found.extend(_meta_findings(state, found, settings))
        findings.extend(found)
    return sorted(findings, key=lambda f: f.sort_key)


def _as_approved(state: ResourceState) -> bool:
    """True when the resource is exactly its approved baseline and every field was read."""
    return state.current is not None and state.current is state.baseline and not state.unreadable


def _meta_findings(
    state: ResourceState, found: list[Finding], settings: Mapping[str, RuleSettings]
) -> list[Finding]:
    drift, unapproved = settings.get("baseline-drift"), settings.get("unapproved-resource")
    if state.baseline is None:
        if state.current is None or unapproved is None or not unapproved.enabled:
            return []
        return [
            Finding(
                "unapproved-resource",
                unapproved.severity,
                state.identity,
                f"{state.identity.type} {state.identity.id} has no approved baseline "
                f"(approve it with `driftwatch approve {state.identity.key}`)",
                "baseline",
                new_since_previous=state.previous is None,
            )
        ]
    if drift is None or not drift.enabled:
        return []
    claimed = {(c.path, c.against) for f in found for c in f.changes}
    rest = tuple(c for c in state.baseline_changes if (c.path, c.against) not in claimed)
    if not rest:
        return []
    message = drift_message(state, rest)
    changed_now = {c.path for c in state.previous_changes}
    new = state.previous is None or any(_overlaps(c, changed_now) for c in rest)
    return [
        Finding(
            "baseline-drift",
            drift.severity,
            state.identity,
            message,
            "baseline",
            rest,
            new_since_previous=new,
        )
    ]


def drift_message(state: ResourceState, rest: tuple[Change, ...]) -> str:
    """The message of a ``baseline-drift`` finding about the changes ``rest``."""
    if state.current is None:
        return f"{state.identity.type} {state.identity.id} was deleted; its baseline is still approved"
    paths = ", ".join(c.path or "(whole resource)" for c in rest[:6])
    more = f" and {len(rest) - 6} more" if len(rest) > 6 else ""
    return f"{len(rest)} setting(s) differ from the approved baseline: {paths}{more}"


def _overlaps(change: Change, paths: set[str]) -> bool:
    return any(p == change.path or p.startswith(change.path) or change.path.startswith(p) for p in paths)
