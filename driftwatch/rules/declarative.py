"""Rules written as data (policy as code): a resource type glob, a JSON path, an operator, a value.

The same format serves the rules driftwatch ships (``saas.toml`` beside this module, registered
like the Python rules, so ``[rules.NAME]`` can turn them off or change their severity) and the
``[[guardrail]]`` tables an admin adds to ``baselines/guardrails.toml``. A rule says what the
setting must be; a resource of a matching type whose setting is otherwise is a finding, unless
its approved baseline is the same (an approved exception).
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, time
from importlib.resources import files
from typing import Any

from driftwatch.errors import BaselineError
from driftwatch.jsonpaths import Path, compile_path, readable
from driftwatch.model import Finding, JSONValue, Severity
from driftwatch.normalise import canonical_text
from driftwatch.rules import RULES, Context, ResourceState, Rule, RuleSettings, Violation, Which
from driftwatch.rules import guardrail_findings as _guardrail_findings

VALUE_OPERATORS = ("equals", "not_equals", "in", "not_in", "matches", "<=", ">=")
OPERATORS = (*VALUE_OPERATORS, "absent", "present")
RULE_KEYS = frozenset(
    {
        "name",
        "type",
        "path",
        "operator",
        "value",
        "severity",
        "message",
        "reference",
        "enabled",
        "if_absent",
        "provider",
        "when",
    }
)
CONDITION_KEYS = frozenset({"path", "operator", "value"})
MESSAGE_FIELDS = frozenset({"id", "type", "account", "path", "actual", "expected", "name"})
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_FIRST_KEY = re.compile(r"""^\$?\.?\[?['"]?([^.\['"\]]+)""")
_ABSENT = object()


def _holds(operator: str, expected: Any, actual: Any, if_absent: str) -> bool:
    """True when one matched value (or ``_ABSENT``) satisfies ``operator`` and ``expected``."""
    if operator == "absent":
        return actual is _ABSENT or actual is None
    if operator == "present":
        return actual is not _ABSENT and actual is not None
    if actual is _ABSENT:
        return if_absent == "pass"
    if operator in ("equals", "not_equals"):
        return _same(actual, expected) == (operator == "equals")
    if operator in ("in", "not_in"):
        inside = any(_same(actual, v) for v in expected)
        return inside == (operator == "in")
    if operator == "matches":
        return isinstance(actual, str) and re.search(expected, actual) is not None
    if not isinstance(actual, int | float) or isinstance(actual, bool):
        return False
    return bool(actual <= expected if operator == "<=" else actual >= expected)


@dataclass(frozen=True)
class Condition:
    """One ``when`` entry of a rule: the rule applies only to resources where it holds."""

    path: Path
    operator: str
    value: JSONValue = None

    def holds_in(self, config: Mapping[str, Any]) -> bool:
        """True when every value the path matches satisfies the operator.

        A setting that is not there satisfies ``absent`` and every value operator (``present``
        not): when in doubt the rule applies, so an unknown setting never hides a finding.
        """
        found = self.path.values(config) or [_ABSENT]
        return all(_holds(self.operator, self.value, actual, "pass") for actual in found)


@dataclass(frozen=True)
class DataRule:
    """One rule written as data."""

    name: str
    types: tuple[str, ...]
    path: Path
    operator: str
    value: JSONValue
    severity: Severity
    message: str = ""
    reference: str = ""
    enabled: bool = True
    if_absent: str = "fail"
    provider: str = ""  # "aws" or "saas": only that provider's resources ("" = any)
    when: tuple[Condition, ...] = ()  # the rule applies only where all of these hold

    def holds(self, actual: Any) -> bool:
        """True when one matched value (or ``_ABSENT``) satisfies the rule."""
        return _holds(self.operator, self.value, actual, self.if_absent)

    def check(
        self,
        config: Mapping[str, Any],
        state: ResourceState,
        ctx: Context,
        settings: RuleSettings,
        which: Which,
    ) -> list[Violation]:
        """The violations of this rule in one config (as now, as approved, or as before)."""
        first = _FIRST_KEY.match(self.path.text)
        if which == "current" and first and first.group(1) in state.unreadable:
            return []  # not read this run: unknown, not a violation
        if not all(condition.holds_in(config) for condition in self.when):
            return []  # an archived repository, say: the rule is not about it
        found = self.path.find(config)
        if self.operator == "absent":
            failing = [(parts, value) for parts, value in found if value is not None]
        elif not found:
            failing = [] if self.holds(_ABSENT) else [((), _ABSENT)]
        else:
            failing = [(parts, value) for parts, value in found if not self.holds(value)]
        violations = []
        for parts, value in failing:
            where = readable(parts) if parts else self.path.text
            violations.append(Violation(f"{self.name}:{where}", self._message(state, where, value), (where,)))
        return violations

    def _message(self, state: ResourceState, where: str, actual: Any) -> str:
        shown = "absent" if actual is _ABSENT else canonical_text(actual)
        expected = (
            self.operator
            if self.operator in ("absent", "present")
            else f"{self.operator} {canonical_text(self.value)}"
        )
        fields = {
            "id": state.identity.id,
            "type": state.identity.type,
            "account": state.identity.account,
            "path": where,
            "actual": shown,
            "expected": expected,
            "name": self.name,
        }
        text = self.message.format_map(fields) if self.message else f"{self.name}"
        text += f" ({where} is {shown}; expected {expected})"
        return text + (f"; see {self.reference}" if self.reference else "")

    def as_rule(self) -> Rule:
        """This rule in the engine's form."""

        def evaluate(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
            if self.provider and state.identity.provider != self.provider:
                return []
            return _guardrail_findings(self.name, state, ctx, settings, self.check)

        return Rule(self.name, self.types, self.severity, {}, evaluate, self.message or self.name)


def parse_rules(
    tables: Any, label: str, taken: Callable[[str], bool] = lambda _name: False
) -> list[DataRule]:
    """The ``[[guardrail]]`` tables of one file; BaselineError naming the file, rule and reason."""
    if not isinstance(tables, list):
        raise BaselineError(f"{label}: guardrail must be an array of tables ([[guardrail]])")
    rules: list[DataRule] = []
    for index, table in enumerate(tables):
        rule = _parse_rule(table, f"{label}: [[guardrail]] #{index + 1}")
        where = f"{label}: [[guardrail]] {rule.name!r}"
        if taken(rule.name) or any(r.name == rule.name for r in rules):
            raise BaselineError(f"{where}: name: another rule is already called {rule.name!r}")
        rules.append(rule)
    return rules


def _parse_rule(table: Any, where: str) -> DataRule:
    if not isinstance(table, dict):
        raise BaselineError(f"{where}: must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise BaselineError(f"{where}: name: required, lower-case letters, digits and - (got {name!r})")
    where = f"{where.rsplit('#', 1)[0]}{name!r}"
    for key in sorted(set(table) - RULE_KEYS):
        raise BaselineError(f"{where}: {key}: unknown key (a rule has: {', '.join(sorted(RULE_KEYS))})")
    types = table.get("type")
    types = [types] if isinstance(types, str) else types
    if not types or not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
        raise BaselineError(f'{where}: type: required, a resource type glob such as "github/org" or "s3/*"')
    path, operator, value = _parse_test(table, where)
    severity_text = table.get("severity", "medium")
    try:
        severity = Severity.parse(severity_text) if isinstance(severity_text, str) else None
    except ValueError as exc:
        raise BaselineError(f"{where}: severity: {exc}") from None
    if severity is None:
        raise BaselineError(f'{where}: severity: must be a string such as "high"')
    message = table.get("message", "")
    reference = table.get("reference", "")
    enabled = table.get("enabled", True)
    if_absent = table.get("if_absent", "fail")
    if not isinstance(message, str) or not isinstance(reference, str):
        raise BaselineError(f"{where}: message and reference must be strings")
    problem = _message_problem(message)
    if problem:
        raise BaselineError(f"{where}: message: {problem}")
    if not isinstance(enabled, bool):
        raise BaselineError(f"{where}: enabled: must be true or false")
    provider = table.get("provider", "")
    if provider not in ("", "aws", "saas"):
        raise BaselineError(f'{where}: provider: must be "aws" or "saas", not {provider!r}')
    if if_absent not in ("fail", "pass"):
        raise BaselineError(f'{where}: if_absent: must be "fail" (the default) or "pass"')
    when = _parse_when(table.get("when", []), where)
    return DataRule(
        name,
        tuple(types),
        path,
        operator,
        None if value is _ABSENT else value,
        severity,
        message,
        reference,
        enabled,
        if_absent,
        provider,
        when,
    )


def _parse_when(raw: Any, where: str) -> tuple[Condition, ...]:
    """A rule's ``when``: one condition table or a list of them, each a path, an operator and a value."""
    tables = [raw] if isinstance(raw, dict) else raw
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise BaselineError(
            f'{where}: when: must be a table or a list of tables such as {{ path = "$.archived", '
            'operator = "not_equals", value = true }'
        )
    conditions = []
    for index, table in enumerate(tables):
        at = f"{where}: when[{index}]"
        for key in sorted(set(table) - CONDITION_KEYS):
            raise BaselineError(f"{at}: {key}: unknown key (a condition has: path, operator, value)")
        path, operator, value = _parse_test(table, at)
        conditions.append(Condition(path, operator, None if value is _ABSENT else value))
    return tuple(conditions)


def _parse_test(table: dict[str, Any], where: str) -> tuple[Path, str, Any]:
    """The path, operator and value of a rule or a ``when`` condition, checked together."""
    path_text = table.get("path")
    if not isinstance(path_text, str):
        raise BaselineError(f"{where}: path: required, a JSON path into the resource's config")
    try:
        path = compile_path(path_text)
    except ValueError as exc:
        raise BaselineError(f"{where}: path: {exc}") from None
    operator = table.get("operator")
    if operator not in OPERATORS:
        raise BaselineError(
            f"{where}: operator: {operator!r} is not an operator (one of: {', '.join(OPERATORS)})"
        )
    value = table.get("value", _ABSENT)
    _check_value(where, operator, value)
    return path, operator, value


def _message_problem(message: str) -> str | None:
    """Why ``message`` cannot be filled in for every finding, or None.

    Only the bare fields: each is text, so a format spec (``{id:d}``), a conversion (``{id!r}``),
    an attribute or an index would fail, or work for some resources only, at run time.
    """
    known = ", ".join(sorted(MESSAGE_FIELDS))
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(message) if f is not None]
    except ValueError as exc:  # an unmatched brace
        return f"{exc} (write {{{{ and }}}} for a literal brace; fields: {known})"
    for name, spec, conversion in fields:
        if name not in MESSAGE_FIELDS:
            return f"unknown field {{{name}}} (known: {known})"
        if spec or conversion:
            written = (
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
            return f"{written}: a field takes no format spec or conversion; write {{{name}}}"
    return None


def _check_value(where: str, operator: str, value: Any) -> None:
    if operator in ("absent", "present"):
        if value is not _ABSENT:
            raise BaselineError(f"{where}: value: {operator} takes no value")
        return
    if value is _ABSENT:
        raise BaselineError(f"{where}: value: required with operator {operator!r}")
    moment = _first_moment(value)
    if moment is not None:
        raise BaselineError(
            f"{where}: value: {moment.isoformat()} is a TOML date or time, which no JSON setting "
            f'holds; write it as a string ("{moment.isoformat()}")'
        )
    if operator in ("in", "not_in") and not isinstance(value, list):
        raise BaselineError(f"{where}: value: {operator} needs a list of values")
    if operator in ("<=", ">=") and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise BaselineError(f"{where}: value: {operator} needs a number, not {value!r}")
    if operator == "matches":
        if not isinstance(value, str):
            raise BaselineError(f"{where}: value: matches needs a regular expression string")
        try:
            re.compile(value)
        except re.error as exc:
            raise BaselineError(f"{where}: value: not a regular expression ({exc})") from None


def _first_moment(value: Any) -> date | time | None:
    """The first TOML date, time or date-time in ``value`` (a JSON setting is never one)."""
    if isinstance(value, date | time):  # datetime is a date
        return value
    inner = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return next((m for m in map(_first_moment, inner) if m is not None), None)


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


SHIPPED = "saas.toml"


def shipped_rules() -> list[DataRule]:
    """The data rules driftwatch ships (``driftwatch/rules/saas.toml``)."""
    text = (files("driftwatch.rules") / SHIPPED).read_text(encoding="utf-8")
    return parse_rules(tomllib.loads(text).get("guardrail", []), f"driftwatch/rules/{SHIPPED}")


def register_shipped() -> None:
    """Register the shipped data rules next to the Python ones."""
    for rule in shipped_rules():
        RULES[rule.name] = rule.as_rule()


register_shipped()
