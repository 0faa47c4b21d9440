"""Lambda rules: a function URL anyone can call, and secrets kept in plain environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch.compare import format_path
from driftwatch.model import Finding, Severity
from driftwatch.normalise import REDACTED_PREFIX
from driftwatch.policy import allows_action, public_statements
from driftwatch.rules import (
    Context,
    ResourceState,
    RuleSettings,
    Violation,
    Which,
    guardrail_findings,
    register,
)

FUNCTION = "lambda/function"


def _url_public(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    name = config.get("FunctionName", state.identity.id)
    # The function's own URL and policy, then each alias's: an alias has its own of both.
    targets: list[tuple[str, list[str], Mapping[str, Any]]] = [("", [], config)]
    aliases = config.get("Aliases")
    if isinstance(aliases, Mapping):
        targets += [
            (f"alias {alias}", ["Aliases", alias], access)
            for alias, access in sorted(aliases.items())
            if isinstance(access, Mapping)
        ]
    violations = []
    for alias, prefix, access in targets:
        url = access.get("FunctionUrl")
        if not isinstance(url, Mapping) or url.get("AuthType") != "NONE":
            continue
        open_now = any(
            allows_action(s, "lambda:InvokeFunctionUrl") for s in public_statements(access.get("Policy"))
        )
        reach = (
            "anyone on the internet can call it"
            if open_now
            else "anyone could call it as soon as its resource policy allows lambda:InvokeFunctionUrl to *"
        )
        whose = f"{alias}'s" if alias else "its"
        message = (
            f"lambda function {name}: {whose} function URL {url.get('FunctionUrl', '')} "
            f"has auth type NONE: {reach}"
        )
        paths = (format_path([*prefix, "FunctionUrl"]), format_path([*prefix, "Policy"]))
        violations.append(Violation(f"{alias} url auth NONE".lstrip(), message, paths))
    return violations


@register("lambda-url-public", types=(FUNCTION,), severity=Severity.HIGH)
def url_public(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A function URL (the function's or an alias's) with auth type NONE: no IAM signature needed."""
    return guardrail_findings("lambda-url-public", state, ctx, settings, _url_public)


def secret_variables(config: Mapping[str, Any]) -> list[str]:
    """The environment variables whose value looks like a secret, judged by name and value together.

    Every value is stored hashed, so the collector judged them while it had the plaintext
    (``Environment.SecretLike``): a file path or a secret's *name* is not listed. A document
    stored before that field existed had only its secret-looking values redacted: those.
    """
    environment = config.get("Environment")
    if not isinstance(environment, Mapping):
        return []
    judged = environment.get("SecretLike")
    if isinstance(judged, list):
        return sorted(str(k) for k in judged)
    variables = environment.get("Variables")
    if not isinstance(variables, Mapping):
        return []
    return sorted(k for k, v in variables.items() if isinstance(v, str) and v.startswith(REDACTED_PREFIX))


def _plaintext(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    name = config.get("FunctionName", state.identity.id)
    return [
        Violation(
            f"secret {key}",
            f"lambda function {name}: environment variable {key} holds a secret in plain text (any reader "
            "of the function's configuration sees it); keep it in Secrets Manager or Parameter Store "
            "and pass its name",
            # The collector's judgement is the finding's too, not a second, plain drift alert.
            (format_path(["Environment", "Variables", key]), format_path(["Environment", "SecretLike"])),
        )
        for key in secret_variables(config)
    ]


@register("plaintext-secret", types=(FUNCTION,), severity=Severity.HIGH)
def plaintext_secret(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """A secret (a password, token or key, by name and value) in a Lambda environment variable."""
    return guardrail_findings("plaintext-secret", state, ctx, settings, _plaintext)
