"""Rendering reports with jinja2: the templates shipped in the package and the filters they share."""

from __future__ import annotations

import json
from typing import Any

import jinja2

from driftwatch.errors import NotifyError
from driftwatch.model import Finding, JSONValue, RunReport, Severity


def compact(value: JSONValue, limit: int = 200) -> str:
    """A value as short JSON text for a message; long values say that they were truncated."""
    if value is None:
        return "null"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else f"{text[:limit]}… (truncated)"


def environment() -> jinja2.Environment:
    """The template environment: package templates, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("driftwatch", "notify/templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # a running daemon keeps the templates it started with
    )
    env.filters["compact"] = compact
    return env


def group_by_severity(findings: tuple[Finding, ...]) -> list[tuple[Severity, list[Finding]]]:
    """Findings grouped by severity, most severe first, each group ordered by resource."""
    groups: dict[Severity, list[Finding]] = {}
    for finding in sorted(findings, key=lambda f: f.sort_key):
        groups.setdefault(finding.severity, []).append(finding)
    return list(groups.items())


def preload(env: jinja2.Environment, *names: str) -> None:
    """Load templates now, so that a broken one is reported when the notifier is built."""
    for name in names:
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise NotifyError(f"template {exc.name or name} line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise NotifyError(f"template {name}: {exc}") from None


def render(env: jinja2.Environment, name: str, **context: Any) -> str:
    """Render template ``name``; a template error becomes a NotifyError naming template and line."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise NotifyError(f"template {exc.name or name} line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise NotifyError(f"template {name}: {exc}") from None


UNAPPROVED_LISTED = 10
"""Up to this many unapproved resources are listed one by one; more (a first run) are summed up."""


def report_context(report: RunReport, threshold: Severity) -> dict[str, Any]:
    """What every report template gets."""
    shown = report.at_least(threshold)
    counts = {str(s): sum(1 for f in shown if f.severity == s) for s in reversed(Severity)}
    unapproved = [f for f in shown if f.rule == "unapproved-resource"]
    listed = shown
    if len(unapproved) > UNAPPROVED_LISTED:
        listed = tuple(f for f in shown if f.rule != "unapproved-resource")
    return {
        "report": report,
        "groups": group_by_severity(listed),
        "shown": shown,
        "counts": counts,
        "threshold": threshold,
        "hidden": len(report.findings) - len(shown),
        "unapproved_summed": len(unapproved) if listed is not shown else 0,
    }
