"""The plain data that travels the pipeline: identities, resources, gaps, snapshots, changes, findings."""

from __future__ import annotations

import enum
import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from driftwatch.jsontext import compact_bytes

JSONValue = Any
"""A value made only of dict, list, str, int, float, bool and None."""

GLOBAL_REGION = "global"


class Severity(enum.IntEnum):
    """How much a finding matters; ordered so that thresholds compare with ``>=``."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Return the severity named by ``text`` (case-insensitive); raise ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"{text!r} is not a severity (one of {names})") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, order=True, slots=True)
class ResourceId:
    """Where a resource lives and what it is called.

    ``type`` is ``service/kind`` (``s3/bucket``, ``ec2/security-group``); ``region`` is
    ``global`` for services without regions. ``arn`` is AWS's name where one exists.
    """

    provider: str
    account: str
    region: str
    type: str
    id: str
    arn: str | None = None
    label: str = field(default="", compare=False, repr=False)
    """What people call the resource where its id is not that (a security group's name, an
    instance's ``Name`` tag, a KMS key's alias); never part of its identity."""

    @property
    def key(self) -> str:
        """The stable name used in findings and on the command line: the ARN, else a path-like id."""
        return self.arn or f"{self.provider}:{self.account}:{self.region}:{self.type}/{self.id}"

    @property
    def scope(self) -> Scope:
        """The listing this resource comes from; a resource is deleted only when its scope was read."""
        return Scope(self.provider, self.account, self.region, self.type)

    @property
    def name(self) -> str:
        """A short readable name for messages (``every s3/bucket`` for a fleet-wide finding's ``*``)."""
        if self.id == "*":
            return f"every {self.type}"
        return f"{self.label} ({self.id})" if self.label and self.label != self.id else self.id


@dataclass(frozen=True, order=True)
class Scope:
    """One listing a collector performs: every resource of ``type`` in one account and region."""

    provider: str
    account: str
    region: str
    type: str

    def __str__(self) -> str:
        return "/".join(p for p in (self.provider, self.account, self.region, self.type) if p)

    @classmethod
    def account_wide(cls, provider: str, account: str) -> Scope:
        """The scope of everything in one account (no region, no type): an account not reached."""
        return cls(provider, account, "", "")

    @classmethod
    def region_wide(cls, provider: str, account: str, region: str) -> Scope:
        """The scope of everything in one region of one account (no type): a region not enabled."""
        return cls(provider, account, region, "")

    @property
    def is_account_wide(self) -> bool:
        """True for :meth:`account_wide` scopes."""
        return not self.region and not self.type

    def covers(self, other: Scope) -> bool:
        """True when ``other`` is this scope or lies in it (an account-wide or region-wide scope)."""
        if self.is_account_wide:
            return (self.provider, self.account) == (other.provider, other.account)
        if not self.type:
            return (self.provider, self.account, self.region) == (other.provider, other.account, other.region)
        return self == other

    @classmethod
    def parse(cls, text: str) -> Scope:
        """The scope written as ``provider/account/region/service/kind``."""
        provider, account, region, type_ = [*text.split("/", 3), "", "", ""][:4]
        return cls(provider, account, region, type_)


GapKind = Literal["denied", "throttled", "region-disabled", "unreachable", "not-configured", "error"]


@dataclass(frozen=True)
class CoverageGap:
    """Something a collector could not read, and why. Never to be mistaken for state.

    A gap covers a whole ``scope`` when ``resource`` is None (the listing failed), else one
    ``field`` of one resource (its last known value is kept).
    """

    scope: Scope
    api_call: str
    kind: GapKind
    code: str
    message: str
    resource: ResourceId | None = None
    field: str | None = None

    def describe(self) -> str:
        """One line naming what could not be read and why."""
        where = self.resource.key if self.resource else str(self.scope)
        what = f" field {self.field}" if self.field else ""
        return f"{where}{what}: {self.api_call} failed ({self.kind}: {self.code}) {self.message}".rstrip()


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource as collected: its identity and its canonical configuration.

    ``unreadable`` maps top-level config fields that could not be read to the error code; such
    fields are absent from ``config`` until the store fills them with the last known value.
    ``observations`` holds facts that change on every read (last-used dates): kept for rules,
    never stored as configuration and never drift.
    """

    identity: ResourceId
    config: Mapping[str, JSONValue]
    unreadable: Mapping[str, str] = field(default_factory=dict)
    observations: Mapping[str, JSONValue] = field(default_factory=dict)
    known_digest: str | None = field(default=None, compare=False, repr=False)
    """``content_digest(config)``, given by a normaliser that already knows it (from its memo)."""

    @property
    def digest(self) -> str:
        """``content_digest`` of the configuration: a hash to skip unchanged resources cheaply."""
        return self.known_digest or content_digest(self.config)


def content_digest(config: Mapping[str, JSONValue]) -> str:
    """SHA-256 of the canonical JSON text of ``config``."""
    return hashlib.sha256(compact_bytes(config)).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """Everything one run read: the resources, the scopes it listed completely, and the gaps."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    resources: tuple[Resource, ...]
    scopes_read: frozenset[Scope]
    gaps: tuple[CoverageGap, ...] = ()
    tool_versions: Mapping[str, str] = field(default_factory=dict)
    accounts: Mapping[str, str] = field(default_factory=dict)
    """The accounts reached, each with how (``credentials``, ``profile NAME``, ``role ARN``)."""
    disabled_regions: frozenset[Scope] = frozenset()
    """Region-wide scopes the provider says are not enabled for the account: nothing there is read."""


Against = Literal["baseline", "previous", "guardrail"]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference in one resource: a readable path with the value before and after.

    ``before`` is None when the path was added, ``after`` is None when it was removed; a whole
    resource added or removed has the path ``""``.
    """

    resource: ResourceId
    path: str
    before: JSONValue
    after: JSONValue
    against: Against


@dataclass(frozen=True)
class KnownChange:
    """A dated change a provider made to its defaults, from the catalogue shipped with driftwatch."""

    id: str
    date: date
    title: str
    url: str
    effect: Literal["tightens", "loosens", "neutral"]

    def describe(self) -> str:
        """``S3 encrypts new objects by default (2023-01-05, https://...)``."""
        return f"{self.title} ({self.date.isoformat()}, {self.url})"


@dataclass(frozen=True)
class Reversion:
    """A finding that undoes a fix: the approved baseline commit that had fixed the setting."""

    fixed_at: datetime
    commit: str
    author: str

    def describe(self) -> str:
        """``fixed on 2026-11-02 in 3f9a2c1 by Alice``."""
        return f"fixed on {self.fixed_at.date().isoformat()} in {self.commit[:7]} by {self.author}"


@dataclass(frozen=True)
class Acknowledgement:
    """An approver's record that a finding is known and accepted until a date (inclusive, UTC)."""

    finding_id: str
    by: str
    reason: str
    until: date
    at: datetime
    commit: str | None = None

    def in_force(self, today: date) -> bool:
        """True until the end of ``until``; afterwards the finding alerts again."""
        return today <= self.until


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's verdict about one resource, with the changes that caused it.

    A finding about a fleet-wide change names a whole type as ``resource`` and lists the
    resources it covers in ``related``. ``known_change`` labels a change that matches the
    catalogue of provider default changes; ``reverted`` one that undoes an approved fix.
    ``subject`` names what is wrong within the resource, for a stable ``id``. An
    ``acknowledged`` finding is accepted for a time: reported, never alerted.
    """

    rule: str
    severity: Severity
    resource: ResourceId
    message: str
    against: Against
    changes: tuple[Change, ...] = ()
    new_since_previous: bool = True
    commit: str | None = None
    related: tuple[ResourceId, ...] = ()
    known_change: KnownChange | None = None
    reverted: Reversion | None = None
    subject: str = ""
    acknowledged: Acknowledgement | None = None

    @property
    def sort_key(self) -> tuple[int, bool, str, str]:
        """Most severe first, and within a severity a reverted fix before anything else."""
        return (-self.severity, self.reverted is None, self.resource.key, self.rule)

    @property
    def id(self) -> str:
        """A stable identity: the rule, the resource and what is wrong in it.

        What is wrong is the ``subject`` when the rule names one (``ingress tcp/22 from
        0.0.0.0/0``), else the paths of the changes; so a guardrail violation keeps its id from
        the run that caused it to the runs that merely still see it.
        """
        what = self.subject or ",".join(sorted({c.path for c in self.changes}))
        raw = f"{self.rule}|{self.resource.key}|{what}"
        return hashlib.sha256(raw.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RunReport:
    """What notifiers and reports see of one run: findings, coverage gaps and a few counts."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    state_repo: str
    commit: str | None
    resources_read: int
    resources_changed: int
    findings: tuple[Finding, ...]
    gaps: tuple[CoverageGap, ...] = ()

    def at_least(self, threshold: Severity) -> tuple[Finding, ...]:
        """The findings at or above ``threshold`` that are not acknowledged, most severe first."""
        chosen = [f for f in self.findings if f.severity >= threshold and f.acknowledged is None]
        return tuple(sorted(chosen, key=lambda f: f.sort_key))

    @property
    def acknowledged(self) -> tuple[Finding, ...]:
        """The findings accepted for a time (``driftwatch ack``): listed in reports, never alerted."""
        return tuple(sorted((f for f in self.findings if f.acknowledged), key=lambda f: f.sort_key))


AlertKind = Literal["new", "reopened", "reminder", "resolved"]
"""Why a finding is told about in a run: it appeared, came back, is still open after the reminder
interval, or went away (back to the baseline, approved, or its resource deleted)."""

GapChange = Literal["started", "ended"]


@dataclass(frozen=True)
class Alert:
    """One finding worth telling people about in this run, and why now.

    For a ``resolved`` alert, ``finding`` is the finding as it was last seen and ``resolution``
    says how it ended. ``first_seen`` is when the finding was first (or, reopened, last) opened.
    """

    kind: AlertKind
    finding: Finding
    first_seen: datetime
    resolution: str | None = None

    @property
    def approve_command(self) -> str | None:
        """The command that approves what the finding is about (None once resolved): the current
        state of its resource, or a fleet-wide finding's change on all of its resources."""
        if self.kind == "resolved":
            return None
        return finding_approve_command(self.finding)


def approve_command(resource: ResourceId) -> str:
    """``driftwatch approve KEY --reason "..."``, the key quoted for a POSIX shell."""
    return f'driftwatch approve {shlex.quote(resource.key)} --reason "..."'


def finding_approve_command(finding: Finding) -> str:
    """How to approve what ``finding`` is about: ``driftwatch approve --finding ID`` for a
    fleet-wide finding (its ``resource`` names a whole type, which is no resource to approve)."""
    if finding.related:
        return f'driftwatch approve --finding {finding.id} --reason "..."'
    return approve_command(finding.resource)


@dataclass(frozen=True)
class GapNotice:
    """A coverage gap that started or ended in this run (ongoing gaps are not repeated)."""

    change: GapChange
    gap: CoverageGap
    since: datetime


@dataclass(frozen=True)
class Notification:
    """What notifiers get for one run: the full report and what is worth saying about it now.

    ``alerts`` are the findings to tell about (new, reopened, reminders, resolved); ``quiet``
    are the findings still open and not repeated this run (for summary counts only); ``gaps``
    are the coverage gaps that started or ended. ``commit_url`` links to the run's snapshot
    commit on the git host, when known. ``unpushed`` is true when that commit is not on the
    remote yet (its push failed): there is no link, and a later rebase may change its id.
    """

    report: RunReport
    alerts: tuple[Alert, ...]
    quiet: tuple[Finding, ...] = ()
    gaps: tuple[GapNotice, ...] = ()
    commit_url: str | None = None
    unpushed: bool = False

    def at_least(self, threshold: Severity) -> tuple[Alert, ...]:
        """The alerts at or above ``threshold``: most severe first, then by resource, rule and kind."""
        chosen = [a for a in self.alerts if a.finding.severity >= threshold]
        order = {"new": 0, "reopened": 1, "reminder": 2, "resolved": 3}
        return tuple(
            sorted(
                chosen,
                key=lambda a: (*a.finding.sort_key, order[a.kind]),
            )
        )

    def quiet_at_least(self, threshold: Severity) -> tuple[Finding, ...]:
        """The still-open findings not repeated this run, at or above ``threshold``."""
        return tuple(f for f in self.quiet if f.severity >= threshold)

    def has_news(self, threshold: Severity) -> bool:
        """True when a notifier with this threshold has something to send: alerts or gap changes."""
        return bool(self.at_least(threshold)) or bool(self.gaps)

    @classmethod
    def from_report(cls, report: RunReport, commit_url: str | None = None) -> Notification:
        """A notification without a lifecycle (``driftwatch check``): findings new since the
        previous run are alerts, the others quiet; every gap counts as started."""
        open_ = [f for f in report.findings if f.acknowledged is None]  # acknowledged: never alerted
        return cls(
            report,
            tuple(Alert("new", f, report.started_at) for f in open_ if f.new_since_previous),
            tuple(f for f in open_ if not f.new_since_previous),
            tuple(GapNotice("started", g, report.started_at) for g in report.gaps),
            commit_url,
        )


@dataclass(frozen=True)
class TrustedAccounts:
    """Accounts and the AWS Organization whose principals are not outsiders (``[aws]`` config).

    A resource's own account is always trusted, whether listed or not.
    """

    accounts: frozenset[str] = frozenset()
    organization_id: str | None = None
