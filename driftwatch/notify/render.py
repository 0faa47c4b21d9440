"""Rendering reports with jinja2: the templates shipped in the package and the filters they share."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from driftwatch.errors import NotifyError
from driftwatch.jsontext import compact
from driftwatch.model import Finding, Notification, Severity


def loader(override: Path | None = None) -> jinja2.BaseLoader:
    """The shipped templates, each replaced by a file of the same name in ``override`` if there is one."""
    shipped = jinja2.PackageLoader("driftwatch", "notify/templates")
    if override is None:
        return shipped
    return jinja2.ChoiceLoader([jinja2.FileSystemLoader(override), shipped])


def environment(override: Path | None = None) -> jinja2.Environment:
    """The template environment for text and HTML reports, strict about undefined names.

    ``*.html.j2`` templates escape what they insert; the others insert text as it is.
    """
    env = jinja2.Environment(
        loader=loader(override),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
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
        except jinja2.TemplateError as exc:
            raise template_error(name, exc) from None


def render(env: jinja2.Environment, name: str, **context: Any) -> str:
    """Render template ``name``; a template error becomes a NotifyError naming template and line."""
    try:
        return env.get_template(name).render(**context)
    except Exception as exc:  # a template can raise anything ({{ 1 / 0 }}); all are the template's fault
        raise template_error(name, exc) from None


def template_error(name: str, exc: Exception) -> NotifyError:
    """A NotifyError such as ``template console.txt.j2 line 12: 'x' is undefined``.

    For errors raised while rendering, jinja2 rewrites the traceback so that the template's own
    frames carry its file name and line; the innermost one names an included template if that
    is where the error is.
    """
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = exc.filename or exc.name or name
        return NotifyError(f"template {_shown(where, name)} line {exc.lineno}: {exc.message}")
    message = exc.message if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return NotifyError(f"template {name}: not found ({message})")
    frame = _template_frame(exc.__traceback__)
    if frame is None:
        return NotifyError(f"template {name}: {message}")
    return NotifyError(f"template {_shown(frame[0], name)} line {frame[1]}: {message}")


def _template_frame(tb: TracebackType | None) -> tuple[str, int] | None:
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _shown(filename: str, name: str) -> str:
    """The template's name, with its folder when it is not the shipped one (a user's override)."""
    path = Path(filename)
    if path.parent.name == "templates" and path.parent.parent.name == "notify":
        return path.name
    return str(path) if path.is_absolute() else filename


UNAPPROVED_LISTED = 10
"""Up to this many unapproved resources are listed one by one; more (a first run) are summed up."""


def report_context(notification: Notification, threshold: Severity) -> dict[str, Any]:
    """What every report template gets."""
    report = notification.report
    shown = report.at_least(threshold)
    resolved = [a for a in notification.at_least(threshold) if a.kind == "resolved"]
    approved = (
        [a for a in resolved if a.resolution == "approved"] if len(resolved) > UNAPPROVED_LISTED else []
    )
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
        "kinds": {a.finding.id: a.kind for a in notification.alerts if a.kind != "resolved"},
        "resolved": [a for a in resolved if a not in approved],
        "resolved_by_approval": len(approved),
        "commit_url": notification.commit_url,
        "acknowledged": report.acknowledged,
    }
