"""The command line: the only place that prints to the terminal or chooses an exit code.

Exit codes follow ``terraform plan -detailed-exitcode``: 0 when nothing is at or above the
threshold, 2 when findings are, 1 on any error.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from driftwatch import __version__
from driftwatch.collectors import Progress
from driftwatch.config import CONFIG_FILE_NAME, Config, load_config, parse_interval
from driftwatch.errors import DriftwatchError
from driftwatch.model import RunReport, Severity
from driftwatch.oplog import LOG_FORMATS, Cycle, LogFormat, cycle_line, message_line
from driftwatch.report_json import report_json

if TYPE_CHECKING:
    from driftwatch.runner import RunResult
    from driftwatch.store import StateRepo

EXIT_OK, EXIT_ERROR, EXIT_FINDINGS = 0, 1, 2
SEVERITIES = click.Choice([str(s) for s in Severity], case_sensitive=False)
EPILOG = (
    "Exit codes: 0 = no finding at or above the threshold, 2 = findings at or above it, "
    "1 = error (bad config, unreadable repository, credentials rejected)."
)


LOG_FORMAT = "driftwatch.log_format"  # in click's context meta: how _err writes for this command


def _log_format() -> LogFormat:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(LOG_FORMAT, "text") if ctx is not None else "text"


def _err(message: str, level: str = "warning") -> None:
    click.echo(message_line(message, _log_format(), level), err=True)


def _progress() -> Callable[[Progress], None] | None:
    """A progress bar on stderr while AWS is read, when stderr is a terminal and logs are text."""
    stream = sys.stderr
    if _log_format() != "text" or not stream.isatty():
        return None
    bars: list[Any] = []

    def show(progress: Progress) -> None:
        if not bars:
            bars.append(
                click.progressbar(
                    length=progress.total,
                    label="reading AWS",
                    file=stream,
                    show_pos=True,
                    item_show_func=lambda step: step,
                )
            )
        bar = bars[0]
        bar.length = progress.total  # grows as accounts and their regions become known
        bar.update(progress.done - bar.pos, progress.step)
        if progress.done >= progress.total:
            bar.render_finish()

    return show


def _out(text: str) -> None:
    click.echo(text, nl=not text.endswith("\n"))


def _config_path(value: str | None) -> Path:
    return Path(value or os.environ.get("DRIFTWATCH_CONFIG") or CONFIG_FILE_NAME)


def _load(ctx: click.Context) -> Config:
    config: Config = load_config(_config_path(ctx.obj["config"]))
    return config


def _warn_uncommitted_approval(config: Config, repo: StateRepo) -> None:
    """Say so when the config file's [approval] is an uncommitted edit, which does not count."""
    from driftwatch.approval import settings_in_force

    source = settings_in_force(repo, config.approval)
    if source.on_disk_differs:
        _err(
            f"warning: {config.path}: [approval] differs from the committed one, which is the one in force "
            f"(approved in commit {(source.approved_in or '')[:10]}); an approver commits a change for it "
            "to take effect"
        )


@click.group(epilog=EPILOG)
@click.version_option(__version__, prog_name="driftwatch")
@click.option(
    "-c",
    "--config",
    "config",
    metavar="FILE",
    help="The config file [default: $DRIFTWATCH_CONFIG, else ./driftwatch.toml].",
)
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Keep the history of cloud settings in git and report when they drift.

    A state repository (made by `driftwatch init`) holds one JSON file per resource under
    snapshots/, one commit per run, and the approved state under baselines/.
    """
    ctx.obj = {"config": config}


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--author", metavar="'NAME <EMAIL>'", help="Who the first commit is by [default: driftwatch].")
def init(path: Path, author: str | None) -> None:
    """Create a state repository at PATH: config, default guardrails, first commit."""
    from driftwatch.approve import parse_author
    from driftwatch.defaults import initial_files
    from driftwatch.store import init_repo

    name, email = parse_author(author) if author else ("driftwatch", "driftwatch@localhost")
    commit = init_repo(path, initial_files(), name, email)
    _out(
        f"Created state repository {path} (commit {commit[:10]}).\n"
        f"Next: edit {path / CONFIG_FILE_NAME}, then run `driftwatch -c {path / CONFIG_FILE_NAME} run`."
    )


@cli.command("check-config")
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the config file and the guardrail file without reading any cloud API."""
    from driftwatch.ack import ACKS, parse_ack
    from driftwatch.baseline import parse_baselines, parse_guardrail_file, working_files
    from driftwatch.layout import GUARDRAILS
    from driftwatch.resource_types import configured_types, matches_none

    config = _load(ctx)
    if not (config.state.repo / ".git").exists():
        _out(
            f"{config.path}: valid (no state repository at {config.state.repo} yet; "
            f"create it with `driftwatch init {config.state.repo}`)."
        )
        return
    files = working_files(config.state.repo)  # as on disk: check-config is the check before a commit
    guardrails = parse_guardrail_file(files.get(GUARDRAILS))
    baselines = parse_baselines(files)
    acks = [parse_ack(path, data) for path, data in files.items() if path.startswith(ACKS + "/")]
    _out(
        f"{config.path}: valid; {GUARDRAILS}: valid; {len(baselines)} baseline file(s) and "
        f"{len(acks)} acknowledgement(s) valid."
    )
    if not config.approval.enforced:
        _err("warning: [approval] names no approvers: any commit to baselines/ counts as approved")
    types = configured_types(config)
    for rule in guardrails.rules:
        if matches_none(rule.types, types):
            _err(
                f"warning: {GUARDRAILS}: [[guardrail]] {rule.name!r}: type {', '.join(rule.types)} matches "
                f"no resource type this config reads (a typo?); it reads: {', '.join(types) or 'none'}"
            )
    for saas in config.saas:
        for variable in saas.secret_variables():  # token_env, headers_env, params_env
            if not os.environ.get(variable):
                _err(
                    f"warning: [saas.{saas.name}]: the environment variable {variable} is not set here; "
                    "runs will report its resource types as coverage gaps"
                )
    for entry in config.notify:
        for key, variable in entry.options.items():
            if key.endswith("_env") and variable and not os.environ.get(str(variable)):
                _err(
                    f"warning: {entry.label}: the environment variable {variable} is not set here; "
                    "runs will report this notifier as unavailable"
                )


@cli.command()
@click.pass_context
def collect(ctx: click.Context) -> None:
    """Read the cloud settings and commit them to the state repository (no compare, no notify)."""
    from driftwatch.collectors.build import build_collector
    from driftwatch.runner import collect_and_record, pull, push
    from driftwatch.store import StateRepo

    config = _load(ctx)
    repo = StateRepo(config.state.repo, warn=_err)
    with repo.lock():
        synced = pull(config, repo)
        snapshot, recorded = collect_and_record(config, repo, build_collector(config, _progress()))
        synced = synced.then(push(config, repo))
    changed = len(recorded.added) + len(recorded.changed) + len(recorded.removed)
    commit = dict(synced.rewritten).get(recorded.commit or "", recorded.commit)  # as pushed
    where = f"commit {commit[:10]}" if commit else "no commit (nothing changed)"
    _out(
        f"Read {len(snapshot.resources)} resources; {changed} changed; {len(snapshot.gaps)} "
        f"coverage gap(s); {where}."
    )
    for gap in snapshot.gaps:
        _err(f"not read: {gap.describe()}")
    _remote_problems(synced.problems)


def _emit(report: RunReport, output: str, threshold: Severity, show: Severity) -> int:
    if output == "json":
        _out(json.dumps(report_json(report), indent=2, sort_keys=True))
    else:
        from driftwatch.model import Notification
        from driftwatch.notify.console import ConsoleNotifier

        ConsoleNotifier(_out, show).notify(Notification.from_report(report))
    return EXIT_FINDINGS if report.at_least(threshold) else EXIT_OK


FORMAT = click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Text for people, JSON (documented schema) for tools.",
)
FAIL_ON = click.option(
    "--fail-on",
    type=SEVERITIES,
    default=None,
    help="Exit 2 when a finding is at or above this severity [default: [check] fail_on].",
)


@cli.command(epilog=EPILOG)
@FORMAT
@FAIL_ON
@click.pass_context
def check(ctx: click.Context, output: str, fail_on: str | None) -> None:
    """Compare the stored snapshot with the previous one and the approved baseline."""
    from driftwatch.runner import check as run_check
    from driftwatch.store import StateRepo

    config = _load(ctx)
    repo = StateRepo(config.state.repo, warn=_err)
    with repo.lock():
        report = run_check(repo, approval=config.approval, trusted=config.aws.trusted)
    threshold = Severity.parse(fail_on) if fail_on else config.fail_on
    ctx.exit(_emit(report, output, threshold, Severity.INFO))


@cli.command(epilog=EPILOG)
@FORMAT
@FAIL_ON
@click.option(
    "--every",
    metavar="INTERVAL",
    default=None,
    is_flag=False,
    flag_value="",
    help="Run as a daemon: a cycle now, then INTERVAL after each cycle ends (30s, 15m, 2h; "
    "bare --every takes [schedule] every). SIGINT/SIGTERM stop it between cycles, a second one "
    "at once. With --format json, one JSON document per line. Each cycle logs one line on stderr "
    "(time, resources read, changes, findings, gaps, duration, commit); a failed cycle is logged "
    "and the next one runs.",
)
@click.option(
    "--max-cycles",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="With --every: stop after N cycles [default: run until stopped].",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="How stderr is written: text for people, or JSON (one object per line, with time, level "
    "and event) for log collectors. A progress bar shows only on a terminal, with text logs.",
)
@click.pass_context
def run(
    ctx: click.Context,
    output: str,
    fail_on: str | None,
    every: str | None,
    max_cycles: int | None,
    log_format: LogFormat,
) -> None:
    """Collect, commit, compare and notify: the whole job, once or on a schedule."""
    ctx.meta[LOG_FORMAT] = log_format
    config = _load(ctx)
    threshold = Severity.parse(fail_on) if fail_on else config.fail_on
    if every is None:
        ctx.exit(_cycle(config, output, threshold)[0])
    from driftwatch.scheduler import run_every

    try:
        seconds = parse_interval(every) if every else config.every_seconds
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--every'") from None
    _err(f"running every {seconds}s; stop with Ctrl-C or SIGTERM", level="info")
    cycles = itertools.count(1)
    run_every(
        seconds,
        lambda: _daemon_cycle(config, output, threshold, next(cycles), log_format),
        on_error=_err,
        max_cycles=max_cycles,
    )
    ctx.exit(EXIT_OK)


def _daemon_cycle(
    config: Config, output: str, threshold: Severity, number: int, log_format: LogFormat
) -> None:
    """One cycle of the daemon and its log line; an error ends the cycle, never the daemon."""
    started, clock = datetime.now(UTC), time.monotonic()
    try:
        _, result = _cycle(config, output, threshold, daemon=True)
    except Exception as exc:
        error = str(exc) if isinstance(exc, DriftwatchError) else f"unexpected {type(exc).__name__}: {exc}"
        click.echo(
            cycle_line(Cycle(number, started, time.monotonic() - clock, error=error), log_format), err=True
        )
        return
    report = result.report
    cycle = Cycle(
        number,
        started,
        time.monotonic() - clock,
        resources_read=report.resources_read,
        changes=report.resources_changed,
        findings=len(report.findings),
        coverage_gaps=len(report.gaps),
        commit=result.commit,  # as pushed: a rebase onto the remote's commits changes the id
    )
    click.echo(cycle_line(cycle, log_format), err=True)


def _cycle(config: Config, output: str, threshold: Severity, daemon: bool = False) -> tuple[int, RunResult]:
    from driftwatch.collectors.build import build_collector
    from driftwatch.notify.build import build_keyed_notifiers
    from driftwatch.runner import run_once

    # With --format json, the JSON document is the console's report: console notifiers write
    # nothing (they would corrupt it), and what they had to tell counts as told.
    write = _out if output != "json" else (lambda _: None)
    notifiers, build_errors = build_keyed_notifiers(config.notify, write, config.templates_dir)
    for error in build_errors.values():
        _err(f"notifier not available: {error}")
    collector = build_collector(config, _progress())
    result = run_once(config, collector, notifiers, warn=_err, unavailable=build_errors)
    if output == "json":  # one document per line when --every prints one per cycle (JSON Lines)
        _out(json.dumps(report_json(result.report), sort_keys=True, indent=None if daemon else 2))
    for error in result.notify_errors:
        _err(f"notifier failed (the snapshot is kept): {error}")
    told = result.notification is not None and (result.notification.alerts or result.notification.gaps)
    if told and (result.notify_errors or build_errors):
        _err(
            "this run's alerts stay pending in alert-state.json for the notifiers that failed; "
            "the next run tells them again to those notifiers only"
        )
    _remote_problems(result.synced.problems)
    for gap in result.report.gaps:
        _err(f"coverage gap: {gap.describe()}")
    return (EXIT_FINDINGS if result.report.at_least(threshold) else EXIT_OK), result


def _remote_problems(problems: Sequence[str]) -> None:
    for problem in problems:
        _err(f"state repository remote: {problem}")


REVIEWED_BY = click.option(
    "--reviewed-by",
    "reviewed_by",
    multiple=True,
    metavar="'NAME <EMAIL>'",
    help="The second approver who reviewed this (Reviewed-by: trailer; required by [approval] two_person).",
)


@cli.command()
@click.argument("resources", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Approve the whole current snapshot.")
@click.option(
    "--finding",
    "finding_ids",
    multiple=True,
    metavar="ID",
    help="Approve what the current finding ID is about; for a fleet-wide finding, only its change on each "
    "of its resources (other drift on them stays a finding).",
)
@click.option("--reason", required=True, help="Why this state is approved (kept in the commit).")
@click.option("--ticket", metavar="REF", help="A change ticket to record in the commit (Ticket: trailer).")
@REVIEWED_BY
@click.option(
    "--author", metavar="'NAME <EMAIL>'", help="The approver [default: git's user.name and user.email]."
)
@click.pass_context
def approve(
    ctx: click.Context,
    resources: tuple[str, ...],
    everything: bool,
    finding_ids: tuple[str, ...],
    reason: str,
    ticket: str | None,
    reviewed_by: tuple[str, ...],
    author: str | None,
) -> None:
    """Approve the current state of RESOURCES (ARN, id or path) as their baseline, in one commit."""
    from driftwatch.approve import approve as do_approve
    from driftwatch.approve import groups_of_findings, parse_author, resources_of_findings
    from driftwatch.runner import check as run_check
    from driftwatch.store import StateRepo

    if not resources and not everything and not finding_ids:
        raise click.UsageError("name the resources to approve, or pass --finding ID or --all")
    if (resources or finding_ids) and everything:
        raise click.UsageError("pass either resources and findings or --all, not both")
    config = _load(ctx)
    repo = StateRepo(config.state.repo, warn=_err)
    _warn_uncommitted_approval(config, repo)
    identity = parse_author(author) if author else repo.identity()
    if identity is None:
        raise DriftwatchError(
            "no approver identity: pass --author 'Name <email>' or set git user.name and user.email"
        )
    with repo.lock():
        findings = (
            run_check(repo, approval=config.approval, trusted=config.aws.trusted).findings
            if repo.snapshot_commits(1)
            else ()
        )
    specs = [*resources, *resources_of_findings(finding_ids, findings)]
    groups = groups_of_findings(finding_ids, findings)
    result = do_approve(
        repo,
        specs,
        everything=everything,
        reason=reason,
        author=identity,
        findings=findings,
        ticket=ticket,
        reviewed_by=reviewed_by,
        approval=config.approval,
        groups=groups,
    )
    for line in result.skipped:
        _err(f"not approved: {line}")
    if result.commit is None:
        _out("Nothing to approve: the baseline already matches the current state.")
        return
    _out(
        f"Approved {len(result.approved)} resource(s)"
        f"{f', removed {len(result.removed)} baseline(s)' if result.removed else ''} "
        f"as {identity[0]} <{identity[1]}> in commit {result.commit[:10]}."
    )
    if result.not_counted:
        _err(
            f"warning: commit {result.commit[:10]} does not count as an approval: {result.not_counted}; "
            "fix git's signing set-up (user.signingkey, gpg.format) and approve again"
        )
    if result.only:
        paths = sorted({p for approved in result.only.values() for p in approved})
        _out(
            f"Only the fleet-wide change ({', '.join(paths)}) is approved on {len(result.only)} of them; "
            "any other drift on those resources is still reported."
        )
    if result.accepted:
        _out(f"These {len(result.accepted)} finding(s) are now approved exceptions and stop being reported:")
        for line in result.accepted:
            _out(f"  {line}")


@cli.command()
@click.argument("finding")
@click.option("--reason", required=True, help="Why the finding is accepted for now (kept in the commit).")
@click.option(
    "--until", "until", required=True, metavar="DATE", help="The last day (YYYY-MM-DD, UTC) it is accepted."
)
@REVIEWED_BY
@click.option(
    "--author", metavar="'NAME <EMAIL>'", help="Who accepts it [default: git's user.name and user.email]."
)
@click.pass_context
def ack(
    ctx: click.Context,
    finding: str,
    reason: str,
    until: str,
    reviewed_by: tuple[str, ...],
    author: str | None,
) -> None:
    """Accept FINDING (its id) until a date: reported with who and why, not alerted, in one commit."""
    from datetime import UTC, datetime

    from driftwatch.ack import acknowledge, parse_until
    from driftwatch.approve import ApproveError, parse_author
    from driftwatch.runner import check as run_check
    from driftwatch.store import StateRepo

    config = _load(ctx)
    repo = StateRepo(config.state.repo, warn=_err)
    _warn_uncommitted_approval(config, repo)
    identity = parse_author(author) if author else repo.identity()
    if identity is None:
        raise DriftwatchError("no identity: pass --author 'Name <email>' or set git user.name and user.email")
    last_day = parse_until(until, datetime.now(UTC).date())
    with repo.lock():
        findings = run_check(repo, approval=config.approval, trusted=config.aws.trusted).findings
    chosen = next((f for f in findings if f.id == finding.strip()), None)
    if chosen is None:
        raise ApproveError(
            f"{finding}: no current finding has this id (`driftwatch check --format json` lists them)"
        )
    done = acknowledge(
        repo,
        chosen,
        reason=reason,
        until=last_day,
        author=identity,
        reviewed_by=reviewed_by,
        approval=config.approval,
    )
    _out(
        f"Acknowledged {chosen.rule} on {chosen.resource.key} until {last_day.isoformat()} "
        f"as {identity[0]} <{identity[1]}> in commit {done.commit[:10]}; "
        + (
            "it is not alerted until then."
            if done.not_counted is None
            else "it is still alerted (see below)."
        )
    )
    if done.not_counted:
        _err(
            f"warning: commit {done.commit[:10]} does not count as an approval: {done.not_counted}; "
            "fix git's signing set-up (user.signingkey, gpg.format) and acknowledge again"
        )


def _moment(value: str | None, option: str, end_of_day: bool) -> datetime | None:
    """A date (YYYY-MM-DD, the whole day in UTC) or an ISO date and time, as an aware datetime."""
    if value is None:
        return None
    try:
        if len(value.strip()) == 10:
            day = datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)
            return day + timedelta(days=1, microseconds=-1) if end_of_day else day
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (2026-12-03) or a date and time (2026-12-03T14:00:00Z)",
            param_hint=option,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@cli.command()
@click.argument("resource")
@FORMAT
@click.option("--since", metavar="DATE", help="Only entries from this date (YYYY-MM-DD, UTC) or time on.")
@click.option("--until", metavar="DATE", help="Only entries up to this date (the whole day, UTC) or time.")
@click.pass_context
def history(ctx: click.Context, resource: str, output: str, since: str | None, until: str | None) -> None:
    """Print RESOURCE's timeline from git: changes, approvals and acknowledgements, with who and when."""
    from driftwatch.history import resource_history
    from driftwatch.jsontext import compact
    from driftwatch.store import StateRepo

    config = _load(ctx)
    identity, entries = resource_history(
        StateRepo(config.state.repo, warn=_err),
        resource,
        config.approval,
        _moment(since, "--since", False),
        _moment(until, "--until", True),
    )
    if output == "json":
        document = {
            "resource": identity.key,
            "entries": [
                {
                    "commit": e.commit,
                    "time": e.time.isoformat(),
                    "author": e.author,
                    "kind": e.kind,
                    "subject": e.subject,
                    "reason": e.reason,
                    "note": e.note,
                    "changes": [{"path": c.path, "before": c.before, "after": c.after} for c in e.changes],
                }
                for e in entries
            ],
        }
        _out(json.dumps(document, indent=2, sort_keys=True))
        return
    _out(f"History of {identity.key}")
    for e in entries:
        _out(f"\n{e.time.isoformat()}  {e.commit[:10]}  {e.kind:<8}  {e.author}\n    {e.subject}")
        if e.note:
            _out(f"    {e.note}")
        if e.reason:
            _out(f"    Reason: {e.reason}")
        for c in e.changes:
            if not c.path:
                _out("    (resource first recorded)" if c.before is None else "    (resource deleted)")
            else:
                _out(f"    {c.path}: {compact(c.before)} -> {compact(c.after)}")


@cli.command()
@click.argument("resource")
@click.option(
    "--at", "at", required=True, metavar="DATE", help="The moment: a date (its end, UTC) or a time."
)
@FORMAT
@click.pass_context
def show(ctx: click.Context, resource: str, at: str, output: str) -> None:
    """Print RESOURCE's stored settings at a moment, and the baseline approved then (and by whom)."""
    from driftwatch.history import state_at
    from driftwatch.store import StateRepo

    config = _load(ctx)
    moment = _moment(at, "--at", True)
    assert moment is not None
    found = state_at(StateRepo(config.state.repo, warn=_err), resource, moment, config.approval)
    state, approved = found.state_commit, found.approval_commit
    if output == "json":
        document = {
            "resource": found.identity.key,
            "at": moment.isoformat(),
            "state": found.state,
            "state_commit": state.sha if state else None,
            "state_time": state.time.isoformat() if state else None,
            "baseline": found.baseline,
            "approval_commit": approved.sha if approved else None,
            "approval_time": approved.time.isoformat() if approved else None,
            "approved_by": f"{approved.author_name} <{approved.author_email}>" if approved else None,
            "approval_reason": approved.reason if approved else None,
        }
        _out(json.dumps(document, indent=2, sort_keys=True))
        return
    _out(f"{found.identity.key} as of {moment.isoformat()}")
    if state is None:
        _out("\nState: not recorded then.")
    else:
        _out(f"\nState: recorded {state.time.isoformat()} in {state.sha[:10]} ({state.subject})")
        _out(json.dumps(found.state, indent=2, sort_keys=True))
    if approved is None:
        _out("\nApproved baseline: none then.")
    else:
        _out(
            f"\nApproved baseline: approved {approved.time.isoformat()} in {approved.sha[:10]} "
            f"by {approved.author_name} <{approved.author_email}>"
            + (f"\nReason: {approved.reason}" if approved.reason else "")
        )
        same = " (the same as the state)" if found.baseline == found.state else ""
        _out(json.dumps(found.baseline, indent=2, sort_keys=True) + same)


@cli.command()
@click.option(
    "--html",
    "html_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this HTML file (self-contained: styles inline, no scripts).",
)
@click.option("--since", metavar="DATE", help="Start of the period (YYYY-MM-DD, UTC) [default: 30 days ago].")
@click.option("--until", metavar="DATE", help="End of the period (the whole day, UTC) [default: now].")
@click.pass_context
def report(ctx: click.Context, html_path: Path, since: str | None, until: str | None) -> None:
    """Write an audit report: current findings, coverage, and the period's changes, approvals and acks."""
    from driftwatch.audit_report import period_log, render_report
    from driftwatch.runner import check as run_check
    from driftwatch.store import StateRepo

    config = _load(ctx)
    now = datetime.now(UTC)
    end = _moment(until, "--until", True) or now
    start = _moment(since, "--since", False) or end - timedelta(days=30)
    repo = StateRepo(config.state.repo, warn=_err)
    with repo.lock():
        current = run_check(repo, approval=config.approval, trusted=config.aws.trusted)
    log = period_log(repo, start, end, config.approval)
    text = render_report(current, repo.read_manifest(), log, start, end, now)
    try:
        html_path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DriftwatchError(f"{html_path}: cannot write the report: {exc.strerror}") from None
    _out(
        f"Wrote {html_path}: {len(current.at_least(Severity.INFO))} open finding(s), "
        f"{len(current.acknowledged)} acknowledged, {len(log)} commit(s) from "
        f"{start.date().isoformat()} to {end.date().isoformat()}."
    )


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=Path("demo-state"),
    show_default=True,
    help="Where to leave the demo's state repository (replaced if a demo made it).",
)
def demo(directory: Path) -> None:
    """Run the whole job on an embedded AWS emulator: no AWS account or Slack needed."""
    from driftwatch.demo.walkthrough import run_demo

    run_demo(directory, _out)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point: run the CLI and turn DriftwatchError into one clear line and exit code 1."""
    code = _main(cli.main, argv)
    sys.exit(code)


def _main(entry: Callable[..., Any], argv: Sequence[str] | None) -> int:
    args = list(argv) if argv is not None else sys.argv[1:]
    # No command context is left here: an error from reading the options themselves is written
    # in the log format the command line asked for.
    log_format: LogFormat = "json" if _asks_json_logs(args) else "text"

    def report(message: str) -> None:
        click.echo(message_line(message, log_format, "error"), err=True)

    try:
        result = entry(args=list(argv) if argv is not None else None, standalone_mode=False)
        return int(result or 0)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:  # click's form of Ctrl-C
        report("interrupted")
        return 130
    except click.ClickException as exc:  # usage errors exit 1: 2 means "findings"
        if log_format == "json":
            report(exc.format_message())
        else:
            exc.show()
        return EXIT_ERROR
    except DriftwatchError as exc:
        report(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        report("interrupted")
        return 130


def _asks_json_logs(args: Sequence[str]) -> bool:
    """True when the command line asks for ``--log-format json`` (the last one given wins)."""
    chosen = "text"
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg.startswith("--log-format="):
            chosen = arg.removeprefix("--log-format=")
        elif arg == "--log-format" and index + 1 < len(args):
            chosen = args[index + 1]
    return chosen == "json"
