"""Building what the rules see (ResourceState) from plain configs, and reading what they found."""

from __future__ import annotations

from typing import Any

from driftwatch.compare import diff_configs
from driftwatch.model import Finding, ResourceId
from driftwatch.rules import ResourceState, RuleSettings
from driftwatch.rules.engine import default_settings, evaluate


def state(
    identity: ResourceId,
    current: dict[str, Any] | None,
    baseline: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    unreadable: dict[str, str] | None = None,
) -> ResourceState:
    """A resource as the runner hands it to the rules, with the diffs computed for real."""
    base_changes = diff_configs(identity, baseline, current, "baseline") if baseline is not None else ()
    return ResourceState(
        identity,
        current,
        baseline,
        previous,
        unreadable or {},
        base_changes,
        diff_configs(identity, previous, current, "previous"),
    )


def findings(*states: ResourceState, settings: dict[str, RuleSettings] | None = None) -> list[Finding]:
    """Every finding of the engine over ``states``."""
    return evaluate({s.identity.key: s for s in states}, settings or default_settings())


def by_rule(found: list[Finding]) -> dict[str, list[Finding]]:
    """Findings grouped by rule name."""
    result: dict[str, list[Finding]] = {}
    for f in found:
        result.setdefault(f.rule, []).append(f)
    return result
