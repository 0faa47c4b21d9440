"""Rules written as data: every operator, AWS and SaaS resources alike, and precise errors."""

from __future__ import annotations

from typing import Any

import pytest

from driftwatch.baseline import parse_guardrail_file
from driftwatch.errors import BaselineError
from driftwatch.model import ResourceId, Severity
from driftwatch.rules import ResourceState
from driftwatch.rules.declarative import DataRule, parse_rules, shipped_rules
from driftwatch.rules.engine import evaluate

LABEL = "baselines/guardrails.toml"


def rule(operator: str, value: Any = None, **extra: Any) -> DataRule:
    table = {"name": "r", "type": "x/y", "path": "$.a.b", "operator": operator, **extra}
    if value is not None:
        table["value"] = value
    (parsed,) = parse_rules([table], LABEL)
    return parsed


@pytest.mark.parametrize(
    ("operator", "value", "good", "bad"),
    [
        ("equals", True, True, 1),
        ("not_equals", "anyone_with_link", "organization", "anyone_with_link"),
        ("in", ["none", "read"], "read", "admin"),
        ("not_in", ["anyone", "public"], "domain", "public"),
        ("matches", "^(private|internal)$", "internal", "public"),
        ("<=", 30, 30, 31),
        (">=", 14, 14, 8),
    ],
)
def test_each_value_operator_passes_and_fails(operator: str, value: Any, good: Any, bad: Any) -> None:
    check = rule(operator, value)
    assert check.holds(good) is True
    assert check.holds(bad) is False


def violations(check: DataRule, config: dict[str, Any]) -> list[str]:
    identity = ResourceId("saas", "svc", "global", "x/y", "one")
    state = ResourceState(identity, config, None, None)
    return [v.message for v in check.check(config, state, None, None, "current")]  # type: ignore[arg-type]


def test_absent_and_present_and_a_missing_value() -> None:
    assert violations(rule("present"), {"a": {"b": {"rule": 1}}}) == []
    assert violations(rule("present"), {"a": {"b": None}}) == ["r (a.b is null; expected present)"]
    assert violations(rule("present"), {}) == ["r ($.a.b is absent; expected present)"]
    assert violations(rule("absent"), {"a": {}}) == []
    assert violations(rule("absent"), {"a": {"b": "x"}}) == ['r (a.b is "x"; expected absent)']
    assert violations(rule("equals", True), {}) == ["r ($.a.b is absent; expected equals true)"]
    assert violations(rule("equals", True, if_absent="pass"), {}) == []


def test_when_limits_a_rule_to_the_resources_where_its_conditions_hold() -> None:
    check = rule(
        "present",
        when=[
            {"path": "$.archived", "operator": "not_equals", "value": True},
            {"path": "$.a", "operator": "present"},
        ],
    )
    assert violations(check, {"archived": True, "a": {"b": None}}) == []  # an archived one: skipped
    assert violations(check, {"archived": False, "a": None}) == []  # nothing to judge: skipped
    assert violations(check, {"archived": False, "a": {"b": None}}) == ["r (a.b is null; expected present)"]
    # A condition on a setting that is not there holds: an unknown never hides a finding.
    assert violations(check, {"a": {"b": None}}) == ["r (a.b is null; expected present)"]


def test_a_wildcard_path_judges_every_match_and_names_each_one() -> None:
    (parsed,) = parse_rules(
        [
            {
                "name": "no-public-drive",
                "type": "x/y",
                "path": "$.drives[*].visibility",
                "operator": "not_equals",
                "value": "public",
                "message": "drive of {id} is {actual}",
            }
        ],
        LABEL,
    )
    config = {"drives": [{"visibility": "private"}, {"visibility": "public"}]}
    assert violations(parsed, config) == [
        'drive of one is "public" (drives[1].visibility is "public"; expected not_equals "public")'
    ]


def test_a_guardrail_file_rule_finds_an_aws_setting_and_respects_an_approved_exception() -> None:
    guardrails = parse_guardrail_file(
        b"""
[[guardrail]]
name = "s3-versioning-on"
type = "s3/*"
path = "$.Versioning.Status"
operator = "equals"
value = "Enabled"
severity = "high"
message = "bucket {id} keeps no versions"
reference = "CIS AWS 2.1.3"
""",
        LABEL,
    )
    bucket = ResourceId(
        "aws", "111122223333", "global", "s3/bucket", "example-logs", "arn:aws:s3:::example-logs"
    )
    other = ResourceId(
        "aws", "111122223333", "global", "s3/bucket", "example-web", "arn:aws:s3:::example-web"
    )
    off = {"Versioning": {"Status": "Suspended"}}
    states = {
        bucket.key: ResourceState(bucket, off, None, off),
        other.key: ResourceState(other, off, off, off),  # approved as it is: an exception
    }
    findings = [
        f for f in evaluate(states, guardrails.settings, guardrails.rules) if f.rule == "s3-versioning-on"
    ]
    assert [(f.resource.id, f.severity, f.message) for f in findings] == [
        (
            "example-logs",
            Severity.HIGH,
            "bucket example-logs keeps no versions "
            '(Versioning.Status is "Suspended"; expected equals "Enabled"); see CIS AWS 2.1.3',
        )
    ]


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        (
            'operator = "is"\nvalue = 1',
            "[[guardrail]] 'sharing': operator: 'is' is not an operator (one of: equals,",
        ),
        ('path = "$.a[["\noperator = "present"', "[[guardrail]] 'sharing': path: '$.a[[' is not a JSON path"),
        ('operator = "in"\nvalue = "a"', "[[guardrail]] 'sharing': value: in needs a list of values"),
        ('operator = "present"\nvalue = 1', "[[guardrail]] 'sharing': value: present takes no value"),
        (
            'operator = "matches"\nvalue = "(unclosed"',
            "[[guardrail]] 'sharing': value: not a regular expression",
        ),
        (
            'operator = "present"\nseverity = "urgent"',
            "[[guardrail]] 'sharing': severity: 'urgent' is not a severity",
        ),
        (
            'operator = "present"\nmessage = "{owner}"',
            "[[guardrail]] 'sharing': message: unknown field {owner}",
        ),
        ('operator = "present"\nunless = "x"', "[[guardrail]] 'sharing': unless: unknown key"),
        ('operator = "present"\nwhen = "x"', "[[guardrail]] 'sharing': when: must be a table or a list"),
        (
            'operator = "present"\nwhen = { path="$.archived", operator = "is", value = true }',
            "[[guardrail]] 'sharing': when[0]: operator: 'is' is not an operator",
        ),
        (
            'operator = "present"\nwhen = [{ path="$.archived", operator = "equals" }]',
            "[[guardrail]] 'sharing': when[0]: value: required with operator 'equals'",
        ),
        (
            'operator = "present"\nmessage = "open {id"',
            "[[guardrail]] 'sharing': message: expected '}' before end of string (write {{ and }}",
        ),
        (
            'operator = "present"\nmessage = "org {id:d} bad"',
            "[[guardrail]] 'sharing': message: {id:d}: a field takes no format spec or conversion",
        ),
        (
            'operator = "present"\nmessage = "org {id!r}"',
            "[[guardrail]] 'sharing': message: {id!r}: a field takes no format spec or conversion",
        ),
        (
            'operator = "equals"\nvalue = 2024-01-01',
            "[[guardrail]] 'sharing': value: 2024-01-01 is a TOML date or time, which no JSON setting holds; "
            'write it as a string ("2024-01-01")',
        ),
        (
            'operator = "in"\nvalue = ["a", 07:30:00]',
            "[[guardrail]] 'sharing': value: 07:30:00 is a TOML date or time",
        ),
    ],
)
def test_a_rule_with_an_error_is_rejected_naming_file_rule_and_reason(table: str, reason: str) -> None:
    text = f'[[guardrail]]\nname = "sharing"\ntype = "docs/workspace"\npath = "$.sharing"\n{table}\n'
    if "path =" in table:
        text = text.replace('path = "$.sharing"\n', "", 1)
    with pytest.raises(BaselineError) as error:
        parse_guardrail_file(text.encode(), LABEL)
    assert str(error.value).startswith(f"{LABEL}: {reason}")


def test_a_rule_named_like_a_built_in_one_is_rejected() -> None:
    text = b'[[guardrail]]\nname = "sg-open-to-world"\ntype = "*"\npath = "$.a"\noperator = "present"\n'
    with pytest.raises(BaselineError, match="name: another rule is already called 'sg-open-to-world'"):
        parse_guardrail_file(text, LABEL)


def test_shipped_rules_can_be_turned_off_in_the_guardrail_file() -> None:
    assert {r.name for r in shipped_rules()} >= {"github-2fa-not-required", "m365-anyone-links-allowed"}
    guardrails = parse_guardrail_file(b"[rules.github-2fa-not-required]\nenabled = false\n", LABEL)
    assert guardrails.settings["github-2fa-not-required"].enabled is False
    assert guardrails.settings["m365-anyone-links-allowed"].enabled is True


def test_the_ai_training_rule_judges_saas_resources_wherever_the_flag_is() -> None:
    guardrails = parse_guardrail_file(b"", LABEL)
    chat = ResourceId("saas", "chat", "global", "chat/workspace", "acme")
    docs = ResourceId("saas", "docs", "global", "docs/workspace", "acme")
    bucket = ResourceId("aws", "111122223333", "global", "s3/bucket", "b", "arn:aws:s3:::b")
    training_on = {"features": {"assistant": {"use_data_for_training": True}}}
    states = {
        chat.key: ResourceState(chat, training_on, training_on, None),  # approved: an exception
        docs.key: ResourceState(docs, training_on, None, None),
        bucket.key: ResourceState(bucket, training_on, None, None),  # not a SaaS resource
        "other": ResourceState(docs, {"ai": {"enabled": True}}, None, None),  # no such flag: no finding
    }
    found = [
        (f.resource.account, f.subject)
        for f in evaluate(states, guardrails.settings)
        if f.rule == "ai-training-on-customer-data"
    ]
    assert found == [("docs", "ai-training-on-customer-data:features.assistant.use_data_for_training")]
