"""One run, in one direction: collect -> normalise -> store -> compare -> evaluate rules -> notify."""

from __future__ import annotations

import contextlib
import gc
import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from driftwatch import lifecycle
from driftwatch.ack import ACKS, mark_acknowledged, read_acks
from driftwatch.approval import approved_view, tamper_findings
from driftwatch.baseline import (
    Baselines,
    approved_histories,
    approved_history,
    parse_baselines,
    parse_guardrail_file,
)
from driftwatch.collectors import Collection, Collector
from driftwatch.compare import diff_configs, pinned, share_unchanged
from driftwatch.config import NO_APPROVERS, ApprovalSettings, Config
from driftwatch.errors import DriftwatchError, NotifyError, StoreError
from driftwatch.layout import (
    ALERT_STATE,
    BASELINES,
    GUARDRAILS,
    MANIFEST,
    PRIVATE_DIR,
    SNAPSHOTS,
    identity_from_document,
    snapshot_path,
)
from driftwatch.links import commit_url
from driftwatch.model import Change, Notification, ResourceId, RunReport, Snapshot, TrustedAccounts
from driftwatch.normalised_memo import NormalisedMemo
from driftwatch.notify import Notifier
from driftwatch.provider_changes import default_catalogue
from driftwatch.redaction_key import load_redactor
from driftwatch.rules import ResourceState
from driftwatch.rules.engine import evaluate
from driftwatch.rules.fleet import (
    ToolUpgrade,
    group_fleet_changes,
    key_added,
    label_known_changes,
    label_new_defaults,
)
from driftwatch.rules.reverted import BaselineVersion, label_reverted
from driftwatch.run_record import gaps_from_manifest, unreadable_fields
from driftwatch.store import AlsoRecord, Documents, Recorded, StateRepo, Synced


@dataclass(frozen=True)
class RunResult:
    """A run's report, what it told (and the failures of its notifiers), and the commits it made.

    ``recorded.commit`` is the snapshot commit as first made (before any rebase; ``commit`` is the
    one to show); ``alerts_commit`` the one that recorded the alerts as delivered.
    """

    report: RunReport
    notify_errors: tuple[str, ...] = ()
    recorded: Recorded | None = None
    notification: Notification | None = None
    alerts_commit: str | None = None
    synced: Synced = field(default_factory=Synced)

    @property
    def commit(self) -> str | None:
        """The run's snapshot commit as it stands after the pushes (a rebase onto the remote gives
        it a new id), or None when the run committed nothing."""
        return self.report.commit if self.recorded is not None and self.recorded.commit else None


def new_run_id(now: datetime) -> str:
    """A sortable, unique run id such as ``20261203T161200Z-3f9a``."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}"


def collect_and_record(
    config: Config, repo: StateRepo, collector: Collector, also: AlsoRecord | None = None
) -> tuple[Snapshot, Recorded]:
    """Collect, normalise and store one snapshot (the caller holds the repository lock); ``also``
    adds driftwatch's own files to the commit (see ``StateRepo.record``)."""
    started = datetime.now(UTC)
    collection: Collection = collector.collect()
    memo = NormalisedMemo(repo.path / PRIVATE_DIR / "normalised.json", load_redactor(config))
    resources = memo.normalise(collection.resources)
    memo.save()
    snapshot = Snapshot(
        new_run_id(started),
        started,
        datetime.now(UTC),
        resources,
        collection.scopes_read,
        collection.gaps,
        collection.tool_versions,
        collection.accounts,
        collection.disabled_regions,
    )
    with settled_heap():
        recorded = repo.record(snapshot, config.state.author_name, config.state.author_email, also)
    return snapshot, recorded


_settled = 0  # how many settled_heap blocks are open


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """Keep Python's cycle collector off what is already allocated (the snapshot just read) while
    it is stored, compared and reported: at tens of thousands of resources, walking them again on
    each full collection costs more than the work. Everything is handed back to the collector
    when the outermost block ends (each block also settles what was allocated before it)."""
    global _settled
    gc.freeze()
    _settled += 1
    try:
        yield
    finally:
        _settled -= 1
        if not _settled:
            gc.unfreeze()


def pull(config: Config, repo: StateRepo) -> Synced:
    """Take the commits pushed to the state repository's remote (baseline approvals) before a run."""
    return repo.pull(config.remote, (config.state.author_name, config.state.author_email))


def push(config: Config, repo: StateRepo) -> Synced:
    """Push the run's commits to the state repository's remote, rebasing them if it moved on."""
    return repo.push(config.remote, (config.state.author_name, config.state.author_email))


def check(
    repo: StateRepo,
    recorded: Recorded | None = None,
    snapshot: Snapshot | None = None,
    approval: ApprovalSettings = NO_APPROVERS,
    trusted: TrustedAccounts | None = None,
) -> RunReport:
    """Compare the stored snapshot with the previous one and the approved baseline; evaluate rules.

    After a run, ``recorded`` says what changed; on its own, check compares what the last run
    on this checkout compared. Only approved commits to ``baselines/`` count (see approval.py);
    other changes are findings. A malformed baseline or guardrail file raises BaselineError:
    the snapshot is already committed by then. ``trusted`` is the config's trusted accounts.
    """
    if recorded is not None:
        current = recorded.documents
        blobs = dict(recorded.blobs)
        previous_commit = recorded.previous_commit
        touched = list(recorded.added + recorded.changed + recorded.removed)
        head = recorded.commit or repo.head()
    else:
        blobs = {}
        current = repo.read_documents(blobs=blobs)
        head, previous_commit = _last_comparison(repo)
        touched = repo.changed_paths(previous_commit, head) if previous_commit else []
    view = approved_view(repo, approval)  # approval is by commit: the working tree is a draft
    # Unchanged files are the same as before; only the touched ones are read from git.
    previous: Documents = {}
    previous_blobs: dict[str, str] = {}
    if previous_commit is not None:
        touched_set = set(touched)
        unchanged = {path: doc for path, doc in current.items() if path not in touched_set}
        touched_before, previous_blobs = _files_at(repo, previous_commit, touched, current)
        previous = unchanged | touched_before
    # A baseline whose blob is the snapshot's own, or the one it had at the previous run, is that
    # document: it is not read and parsed again, and compares with it as unchanged.
    identical: dict[str, Any] = {}
    for path, blob in view.files.blobs.items():
        snap = SNAPSHOTS + path.removeprefix(BASELINES)
        if blobs.get(snap) == blob:
            identical[path] = current[snap]
        elif previous_blobs.get(snap) == blob:
            identical[path] = previous[snap]
    approved_files = view.files.load(p for p in view.files if p not in identical)
    guardrails = parse_guardrail_file(approved_files.get(GUARDRAILS))
    settings = guardrails.settings
    baselines = parse_baselines(approved_files, identical)
    manifest = repo.read_manifest()
    states = _states(current, previous, baselines, unreadable_fields(manifest))
    upgrade = _tool_upgrade(repo.read_file_at(previous_commit, MANIFEST), manifest)
    found = evaluate(states, guardrails.settings, guardrails.rules, trusted=trusted)
    catalogue = default_catalogue()
    found = group_fleet_changes(
        states, found, guardrails.settings, catalogue, upgrade, _added_by_upgrade(repo, manifest)
    )
    found = label_known_changes(states, found, catalogue)
    found = label_new_defaults(states, found, catalogue)
    # One log for every finding that may undo an approved fix, instead of one log each.
    reverting = [f.resource for f in found if f.against == "baseline" and f.changes]
    reverting += [r for f in found if f.rule == "fleet-wide-change" for r in f.related]
    histories = approved_histories(repo, reverting, least=2)

    def approved_versions(identity: ResourceId) -> list[BaselineVersion]:
        versions = histories[identity.key] if identity.key in histories else approved_history(repo, identity)
        return [v for v in versions if view.is_approval(v.commit)]

    found = label_reverted(found, states, approved_versions)
    tampered = tamper_findings(repo, view, current, settings.get("baseline-tampered"), previous_commit)
    found = sorted([*found, *tampered], key=lambda f: f.sort_key)
    now = datetime.now(UTC)
    found = mark_acknowledged(found, read_acks(view.files.under(ACKS), view.approved_at), now.date())
    findings = [replace(f, commit=head) for f in found]
    gaps = recorded.gaps if recorded is not None else gaps_from_manifest(manifest, current)
    return RunReport(
        run_id=snapshot.run_id if snapshot else str(repo.last_run().get("run_id", "check")),
        started_at=snapshot.started_at if snapshot else now,
        finished_at=now,
        state_repo=str(repo.path),
        commit=head,
        resources_read=len(snapshot.resources) if snapshot else len(current),
        resources_changed=len(touched) if recorded or previous_commit else len(current),
        findings=tuple(findings),
        gaps=tuple(gaps),
    )


def _tool_upgrade(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> ToolUpgrade | None:
    """The SDK upgrade between two runs' manifests, when there was one."""
    old = ((before or {}).get("tool_versions") or {}).get("botocore")
    new = (after.get("tool_versions") or {}).get("botocore")
    if isinstance(old, str) and isinstance(new, str) and old != new:
        return ToolUpgrade("botocore", old, new)
    return None


def _added_by_upgrade(
    repo: StateRepo, manifest: Mapping[str, Any]
) -> Callable[[Sequence[ResourceId], str], ToolUpgrade | None]:
    """Tells whether a key appeared on resources in the run that upgraded the SDK to the version
    of this run (absent from each just before that run, present right after): the upgrade if so."""
    upgrade_run: list[tuple[str, ToolUpgrade] | None] = []

    def find_run() -> tuple[str, ToolUpgrade] | None:
        now = (manifest.get("tool_versions") or {}).get("botocore")
        if not isinstance(now, str):
            return None
        commit = repo.commit_adding(MANIFEST, f'"botocore": {json.dumps(now)}')
        upgrade = _tool_upgrade(repo.read_file_at(f"{commit}^", MANIFEST), manifest) if commit else None
        return (commit, upgrade) if commit and upgrade else None

    def added(identities: Sequence[ResourceId], path: str) -> ToolUpgrade | None:
        if not upgrade_run:
            upgrade_run.append(find_run())
        if upgrade_run[0] is None:
            return None
        commit, upgrade = upgrade_run[0]
        paths = [snapshot_path(i) for i in identities]
        before, after = repo.read_at(f"{commit}^", paths), repo.read_at(commit, paths)
        appeared = all(
            p in before and p in after and key_added(before[p].get("config"), after[p].get("config"), path)
            for p in paths
        )
        return upgrade if appeared else None

    return added


def _files_at(
    repo: StateRepo, commit: str, paths: Sequence[str], current: Documents
) -> tuple[Documents, dict[str, str]]:
    """The snapshot files ``paths`` as they were at ``commit``, and their blob ids; files absent
    then are left out. What did not change since shares the ``current`` document's objects.

    The blob ids come from one listing of the commit's tree and the blobs are read by id: read
    as ``commit:path``, git looks each file up in its folder's tree, which at tens of thousands
    of files in one folder costs more than everything else the check does.
    """
    if not paths:
        return {}, {}
    listed = repo.committed_blobs(SNAPSHOTS, commit)
    blobs = {path: listed[path] for path in paths if path in listed}
    contents = repo.read_blobs(blobs)
    documents: Documents = {}
    for path in list(contents):
        data = contents.pop(path)  # let go of each text once read: 50,000 of them weigh 80 MB
        try:
            document = json.loads(data)
        except ValueError:  # UnicodeDecodeError included
            raise StoreError(f"{path} at commit {commit[:10]}: not valid JSON") from None
        documents[path] = _sharing(document, current.get(path))
    return documents, blobs


def _sharing(before: Any, now: Any) -> Any:
    """A previous document whose identity and settings that have not changed are the current
    document's own objects (see ``share_unchanged``)."""
    if not isinstance(before, dict) or not isinstance(now, dict):
        return before
    shared = share_unchanged(before, now)
    config, current_config = shared.get("config"), now.get("config")
    if isinstance(config, dict) and isinstance(current_config, dict) and config is not current_config:
        shared["config"] = share_unchanged(config, current_config)
    return shared


def _last_comparison(repo: StateRepo) -> tuple[str, str | None]:
    """The snapshot commit to check and the one before it, as the last run on this checkout saw them."""
    commits = repo.snapshot_commits(2)
    if not commits:
        raise StoreError(f"{repo.path}: no snapshot yet: run `driftwatch run` or `driftwatch collect` first")
    last = repo.last_run()
    if last.get("snapshot_commit") == commits[0]:
        return commits[0], (last.get("previous_commit") if last.get("committed") else commits[0])
    return commits[0], commits[1] if len(commits) > 1 else None


def _states(
    current: Documents, previous: Documents, baselines: Baselines, unreadable: dict[str, dict[str, str]]
) -> dict[str, ResourceState]:
    # Every resource goes through here on every check: an unchanged one must cost a few lookups.
    approved_files = {SNAPSHOTS + a.path.removeprefix(BASELINES): a for a in baselines.values()}
    identities: dict[str, ResourceId] = {}
    keys: dict[str, str] = {}
    now: dict[str, dict[str, Any]] = {}
    before: dict[str, dict[str, Any]] = {}
    for documents, target in ((current, now), (previous, before)):
        for path, document in documents.items():
            if target is before and path in keys and current[path] is document:
                before[keys[path]] = now[keys[path]]  # unchanged: the same document as now
                continue
            config = document.get("config", {})
            approved = approved_files.get(path)  # by its snapshot path
            # A baseline that is this very document was read with the same identity.
            if approved is not None and approved.config is config:
                identity = approved.identity
            else:
                identity = identity_from_document(document, path)
            key = identity.key
            identities.setdefault(key, identity)
            keys.setdefault(path, key)
            target[key] = config
    states: dict[str, ResourceState] = {}
    for key in sorted(now.keys() | baselines.keys()):
        identity = identities[key] if key in identities else baselines[key].identity
        cur, prev = now.get(key), before.get(key)
        approved = baselines.get(key)
        base = approved.config if approved else None
        previous_changes = diff_configs(identity, prev, cur, "previous")
        base_changes: tuple[Change, ...] = ()
        if approved is not None and approved.config is prev and not approved.partial:
            # The baseline is the previous document: the same changes, against the baseline.
            if previous_changes:
                base_changes = tuple(replace(c, against="baseline") for c in previous_changes)
        elif approved is not None:
            # A full baseline is compared whole, so that a setting added since shows; a partial
            # one only on the keys it pins.
            compared = pinned(cur, approved.config) if approved.partial and cur is not None else cur
            base_changes = diff_configs(identity, approved.config, compared, "baseline")
        states[key] = ResourceState(
            identity,
            cur,
            base,
            prev,
            unreadable.get(key, _ALL_READ),
            base_changes,
            previous_changes,
        )
    return states


_ALL_READ: Mapping[str, str] = MappingProxyType({})
"""The unreadable fields of a resource that had none (shared: states never change them)."""


def notify_one(notification: Notification, notifier: Notifier) -> str | None:
    """Send the notification through one notifier: None once delivered, else what went wrong (a
    failing notifier is reported and never stops the others)."""
    try:
        notifier.notify(notification)
    except NotifyError as exc:
        return f"{notifier.name}: {exc}"
    except Exception as exc:  # a notifier bug must not lose the run either
        return f"{notifier.name}: unexpected {type(exc).__name__}: {exc}"
    return None


def keyed(notifiers: Mapping[str, Notifier] | Sequence[Notifier]) -> dict[str, Notifier]:
    """Notifiers by the key their deliveries are kept under: as given, or (a plain list, such as
    the demo's) by their names, told apart by their position when two share one."""
    if isinstance(notifiers, Mapping):
        return dict(notifiers)
    named: dict[str, Notifier] = {}
    for index, notifier in enumerate(notifiers):
        named[notifier.name if notifier.name not in named else f"{notifier.name} #{index + 1}"] = notifier
    return named


def run_once(
    config: Config,
    collector: Collector,
    notifiers: Mapping[str, Notifier] | Sequence[Notifier],
    warn: Callable[[str], None] | None = None,
    unavailable: Mapping[str, str] | None = None,
) -> RunResult:
    """Collect, store, compare, evaluate, and notify what is news; the lock is held throughout.

    ``notifiers`` are keyed as their deliveries are kept in alert-state.json (see ``keyed``);
    ``unavailable`` holds the error of each configured notifier that could not be built, by key.
    The alert state is committed with the snapshot with this run's notices pending, then the
    commit is pushed (the messages link to it), then each notifier is sent its own news. A
    second commit then marks delivered what each notifier delivered. A notifier that fails or
    is unavailable, a push that fails or a crash before the end leaves that notifier's notices
    pending, and the next run tells them again to it alone.
    """
    repo = StateRepo(config.state.repo, warn=warn)
    author = (config.state.author_name, config.state.author_email)
    sending = keyed(notifiers)
    missing = dict(unavailable or {})
    with repo.lock(), settled_heap():  # reporting too: see settled_heap
        pulled = pull(config, repo)
        before = lifecycle.load_state(repo)  # after the pull: the state as the remote has it
        now = datetime.now(UTC)
        told: list[tuple[RunReport, lifecycle.Update]] = []
        failed: list[DriftwatchError] = []

        def alert_state(recorded: Recorded) -> tuple[dict[str, str], str]:
            try:
                report = check(repo, recorded, None, config.approval, config.aws.trusted)
            except DriftwatchError as exc:  # a bad baseline file: keep the snapshot, then report it
                failed.append(exc)
                return {}, ""
            remind = timedelta(seconds=config.alerts.remind_after_seconds)
            resolved = resolutions(repo, recorded)
            news = lifecycle.update(before, report, now, remind, resolved, notifiers=[*sending, *missing])
            told.append((report, news))
            return {ALERT_STATE: lifecycle.state_text(news.state)}, lifecycle.summary(news)

        snapshot, recorded = collect_and_record(config, repo, collector, alert_state)
        if failed:
            raise failed[0]
        pushed = push(config, repo)  # before the messages, which link to the commit
        synced = pulled.then(pushed)
        report, news = told[0]
        head = repo.head()
        report = replace(
            report,
            run_id=snapshot.run_id,
            started_at=snapshot.started_at,
            resources_read=len(snapshot.resources),
            commit=head,
            findings=tuple(replace(f, commit=head) for f in report.findings),
        )
        # A commit the push did not deliver has no page on the git host yet, and the next run's
        # rebase may give it a new id: the messages give its id, said to be not pushed yet.
        unpushed = bool(pushed.problems)
        link = (
            None
            if unpushed
            else commit_url(repo.remote_url(config.remote.name), head, config.alerts.commit_url)
        )
        notification = Notification(report, news.alerts, news.quiet, news.gaps, link, unpushed)
        errors: list[str] = []
        delivered: list[str] = []
        for key, notifier in sending.items():
            alerts, quiet, gaps = news.for_notifier(key)
            error = notify_one(Notification(report, alerts, quiet, gaps, link, unpushed), notifier)
            if error is None:
                delivered.append(key)
            else:
                errors.append(error)
        alerts_commit = lifecycle.save_state(
            repo, news.delivered(now, delivered), notification, author, [*errors, *missing.values()]
        )
        if alerts_commit and not pushed.problems:  # else the next run pushes it with the others
            later = push(config, repo)
            synced = synced.then(later)
            report = _rebased(report, dict(later.rewritten))
    return RunResult(report, tuple(errors), recorded, notification, alerts_commit, synced)


def _rebased(report: RunReport, rewritten: Mapping[str, str]) -> RunReport:
    """``report`` naming its commit by the id a rebase gave it, if one did."""
    commit = rewritten.get(report.commit or "")
    if commit is None:
        return report
    return replace(report, commit=commit, findings=tuple(replace(f, commit=commit) for f in report.findings))


def resolutions(repo: StateRepo, recorded: Recorded) -> Callable[[ResourceId], str]:
    """How a finding on a resource ended, from what this run recorded: the resource was deleted,
    its baseline was approved since the previous run, or its settings changed back."""
    current = {path: identity_from_document(doc, path).key for path, doc in recorded.documents.items()}
    touched = {current[path] for path in recorded.added + recorded.changed}
    approved: set[str] = set()
    last = repo.snapshot_commits(1)  # not this run's: it is not committed yet
    if last and recorded.previous_commit and last[0] != recorded.previous_commit:
        for path in repo.changed_paths(last[0], recorded.previous_commit, BASELINES):
            approved.add(current.get(SNAPSHOTS + path.removeprefix(BASELINES), ""))

    def how(resource: ResourceId) -> str:
        if resource.key not in current.values():
            return "resource deleted"
        if resource.key in approved:
            return "approved"
        if resource.key in touched:
            return "changed back in the account"
        return "no longer found (the rules or guardrails changed)"

    return how
