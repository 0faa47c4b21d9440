"""Loading and validating driftwatch.toml: every key checked at start, every error naming file and key."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from driftwatch.errors import ConfigError
from driftwatch.model import Finding, Severity, TrustedAccounts
from driftwatch.regions import known_regions

if TYPE_CHECKING:
    from driftwatch.collectors.saas.settings import SaasSettings

CONFIG_FILE_NAME = "driftwatch.toml"
SERVICES = (
    "s3",
    "ec2",
    "iam",
    "cloudtrail",
    "kms",
    "rds",
    "ec2-account",
    "ebs",
    "ami",
    "lambda",
    "sns",
    "sqs",
    "config",
    "guardduty",
)
RETRY_MODES = ("standard", "adaptive")
_INTERVAL = re.compile(r"^(\d+)\s*([smhd])$")
_INTERVAL_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_INTERVAL = 366 * 86400


@dataclass(frozen=True)
class StateSettings:
    """Where the state repository is and who the collector commits as."""

    repo: Path
    author_name: str = "driftwatch"
    author_email: str = "driftwatch@localhost"


@dataclass(frozen=True)
class AwsSettings:
    """How to reach AWS: boto3's credential chain, optionally a named profile and an emulator."""

    profile: str | None = None
    regions: tuple[str, ...] = ("us-east-1",)
    endpoint_url: str | None = None
    services: tuple[str, ...] = SERVICES
    retry_mode: str = "adaptive"
    max_attempts: int = 8
    max_workers: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    trusted_accounts: tuple[str, ...] = ()
    organization_id: str | None = None
    profiles: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    organization: bool = False
    role_arn: str | None = None
    external_id: str | None = None
    role_session_name: str = "driftwatch"
    enabled: bool = True

    @property
    def several_accounts(self) -> bool:
        """True when the config names accounts beyond the one the credentials belong to."""
        return bool(self.profiles or self.accounts or self.organization or self.role_arn)

    @property
    def all_regions(self) -> bool:
        """True when the config asks for every region enabled in the account."""
        return self.regions == ("*",)

    @property
    def trusted(self) -> TrustedAccounts:
        """Whose principals are not outsiders, for rules such as ``iam-role-trust-external``: the
        listed trusted accounts and the accounts driftwatch reads."""
        return TrustedAccounts(
            frozenset(self.trusted_accounts) | frozenset(self.accounts), self.organization_id
        )


@dataclass(frozen=True)
class RedactionSettings:
    """Where the HMAC key for redacted secrets comes from (never the state repository)."""

    key_env: str = "DRIFTWATCH_REDACTION_KEY"
    key_file: Path = Path("~/.config/driftwatch/redaction.key")


@dataclass(frozen=True)
class NotifyFilter:
    """Which findings a ``[[notify]]`` entry takes besides ``min_severity``; empty lists take all."""

    max_severity: Severity = Severity.CRITICAL
    rules: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()

    @property
    def takes_all(self) -> bool:
        """True when the filter lets every finding through."""
        return self == NotifyFilter()

    def matches(self, finding: Finding) -> bool:
        """True when ``finding`` passes every part of the filter (patterns match the resource's key)."""
        r = finding.resource
        return (
            finding.severity <= self.max_severity
            and (not self.rules or finding.rule in self.rules)
            and (not self.accounts or r.account in self.accounts)
            and (not self.resources or any(fnmatchcase(r.key, p) for p in self.resources))
        )


@dataclass(frozen=True)
class NotifySettings:
    """One ``[[notify]]`` entry: a notifier type, its threshold, its filter and its own options."""

    type: str
    min_severity: Severity
    options: Mapping[str, Any] = field(default_factory=dict)
    filter: NotifyFilter = NotifyFilter()
    label: str = ""
    """How messages name the entry: ``[[notify]] #2 (slack #oncall)``."""
    key: str = ""
    """What alert-state.json keeps its deliveries under: its type and target (``slack #oncall``),
    so that reordering the entries changes nothing; ``#2`` is added to a second one alike."""


@dataclass(frozen=True)
class AlertSettings:
    """When a finding still open is told about again, and how messages link to commits."""

    remind_after_seconds: int = 86400
    commit_url: str = ""
    """A pattern such as ``https://git.example.com/ops/state/commit/{commit}``; "" = from the remote."""


@dataclass(frozen=True)
class RemoteSettings:
    """How a state repository with a git remote is shared: fetch before a run, push after it."""

    name: str = "origin"
    attempts: int = 3
    backoff: float = 2.0
    timeout: float = 120.0


@dataclass(frozen=True)
class Approver:
    """A person whose commits to ``baselines/`` count as approvals, and the keys they sign with.

    ``signing_keys`` holds SSH public keys (``ssh-ed25519 AAAA...``) and GPG key fingerprints.
    """

    name: str
    email: str
    signing_keys: tuple[str, ...] = ()
    until: str | None = None


@dataclass(frozen=True)
class ApprovalSettings:
    """Who may approve baselines, and what an approval commit must carry.

    With no approvers every commit to ``baselines/`` counts as an approval (no protection).
    ``config_file`` is the file they were read from: when the state repository tracks it, the
    settings in force are the committed ones that approvers approved (see approval.py).
    """

    approvers: tuple[Approver, ...] = ()
    require_signed: bool = False
    two_person: bool = False
    config_file: Path | None = field(default=None, compare=False)

    @property
    def enforced(self) -> bool:
        """True when approvals are checked against the approvers."""
        return bool(self.approvers)


NO_APPROVERS = ApprovalSettings()
"""No approvers configured: every commit to ``baselines/`` counts as an approval."""


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path
    state: StateSettings
    aws: AwsSettings
    redaction: RedactionSettings
    notify: tuple[NotifySettings, ...]
    fail_on: Severity = Severity.HIGH
    every_seconds: int = 900
    templates_dir: Path | None = None
    remote: RemoteSettings = RemoteSettings()
    approval: ApprovalSettings = NO_APPROVERS
    saas: tuple[SaasSettings, ...] = ()
    alerts: AlertSettings = AlertSettings()


T = TypeVar("T")


class _Table:
    """One TOML table being read: takes keys by type and reports what is left over."""

    def __init__(
        self, file: Path, name: str, data: Any, label: str | None = None, keys_in: str = "config.example.toml"
    ) -> None:
        self.file, self.name, self.keys_in = file.name, name, keys_in
        self.label = label if label is not None else (f"[{name}]" if name else "")
        if not isinstance(data, dict):
            raise self.error("", f"must be a table, not {_type_name(data)}")
        self.data: dict[str, Any] = dict(data)

    def error(self, key: str, problem: str) -> ConfigError:
        where = f"{self.label} {key}".strip()
        return ConfigError(f"{self.file}: {where}: {problem}")

    def take(self, key: str, kind: type[T], default: T, check: Callable[[T], str | None] | None = None) -> T:
        if key not in self.data:
            return default
        value = self.data.pop(key)
        if not _is_type(value, kind):
            raise self.error(key, f"must be {_kind_name(kind)}, not {_type_name(value)} {value!r}")
        problem = check(value) if check else None
        if problem:
            raise self.error(key, problem)
        return value  # type: ignore[no-any-return]

    def take_strings(
        self,
        key: str,
        default: tuple[str, ...],
        check: Callable[[str], str | None],
        empty: str | None = "must not be empty",
    ) -> tuple[str, ...]:
        """Distinct strings that each pass ``check``; ``empty`` is the error for [] (None allows it)."""
        value = self.take(key, list, list(default))
        if not value and empty is not None:
            raise self.error(key, empty)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{key}[{i}]", f"must be a string, not {_type_name(item)} {item!r}")
            problem = check(item) or ("is listed twice" if item in value[:i] else None)
            if problem:
                raise self.error(f"{key}[{i}]", f'"{item}" {problem}')
        return tuple(value)

    def finish(self) -> None:
        for key in self.data:
            raise self.error(key, f"unknown key (see {self.keys_in} for the keys this table takes)")


def _is_type(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _kind_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }.get(kind, kind.__name__)


def _type_name(value: Any) -> str:
    return {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "table"}.get(
        type(value), type(value).__name__
    )


def parse_interval(text: str) -> int:
    """Seconds in an interval such as ``15m``, ``30s``, ``2h`` or ``1d``; ValueError otherwise."""
    match = _INTERVAL.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not an interval such as 30s, 15m, 2h or 1d")
    seconds = int(match.group(1)) * _INTERVAL_SECONDS[match.group(2)]
    if seconds > MAX_INTERVAL:
        raise ValueError(f"{text!r} is longer than a year; run driftwatch at least once a year")
    return seconds


def _severity_check(text: str) -> str | None:
    try:
        Severity.parse(text)
    except ValueError as exc:
        return str(exc)
    return None


def _positive(value: float) -> str | None:
    return None if value > 0 else f"must be greater than 0, not {value}"


def _seconds(value: float) -> str | None:
    return None if 0 < value <= 3600 else f"must be a number of seconds between 0 and 3600, not {value}"


def _region_check(region: str) -> str | None:
    return None if region == "*" or region in known_regions() else "is not an AWS region"


def _load_notify(file: Path, index: int, data: Any) -> NotifySettings:
    table = _Table(file, "notify", data, label=f"[[notify]] #{index + 1}")
    kind = table.take("type", str, "")
    if not kind:
        raise table.error("type", "is required (one of: " + ", ".join(sorted(NOTIFY_OPTIONS)) + ")")
    if kind not in NOTIFY_OPTIONS:
        raise table.error("type", f"{kind!r} is not a notifier (one of: {', '.join(sorted(NOTIFY_OPTIONS))})")
    severity = Severity.parse(table.take("min_severity", str, "low", _severity_check))
    most = Severity.parse(table.take("max_severity", str, "critical", _severity_check))
    if most < severity:
        raise table.error("max_severity", f"{most} is below min_severity {severity}: nothing would be sent")
    routing = NotifyFilter(
        max_severity=most,
        rules=_optional_strings(table, "rules", _rule_check),
        accounts=_optional_strings(table, "accounts", _account_check),
        resources=_optional_strings(table, "resources", _non_empty),
    )
    options: dict[str, Any] = {}
    for key, (required, default, check) in NOTIFY_OPTIONS[kind].items():
        if isinstance(default, tuple):
            value: Any = _optional_strings(table, key, check or (lambda _: None))
        else:
            value = table.take(key, type(default), default, check)
        if required and value in ("", ()):
            raise table.error(key, f"is required for a {kind} notifier")
        options[key] = float(value) if isinstance(default, float) else value
    table.finish()
    if kind == "slack" and not options["channel"] and not options["webhook_url_env"]:
        raise table.error(
            "channel", "is required for a slack notifier (or webhook_url_env, for an incoming webhook)"
        )
    if kind == "slack" and options["webhook_url_env"] and (options["channel"] or options["thread_details"]):
        extra = "channel" if options["channel"] else "thread_details"
        raise table.error(
            extra,
            "cannot go with webhook_url_env: an incoming webhook posts to its own channel, without threads",
        )
    if kind == "slack" and options["webhook_url_env"]:
        options["token_env"] = ""  # a webhook needs no bot token
    if kind == "email" and bool(options["username"]) != bool(options["password_env"]):
        missing = "password_env" if options["username"] else "username"
        raise table.error(missing, "is required when username or password_env is set (SMTP login needs both)")
    target = options.get("channel") or options.get("url") or ", ".join(options.get("to", ()))
    shown = f"{kind}{' ' + str(target) if target else ''}"
    key = f"slack webhook {options['webhook_url_env']}" if kind == "slack" and not target else shown
    return NotifySettings(kind, severity, options, routing, f"{table.label} ({shown})", key)


def _unique_keys(entries: tuple[NotifySettings, ...]) -> tuple[NotifySettings, ...]:
    """The entries with keys told apart: the second entry of the same type and target is ``... #2``."""
    seen: dict[str, int] = {}
    unique = []
    for entry in entries:
        seen[entry.key] = seen.get(entry.key, 0) + 1
        count = seen[entry.key]
        unique.append(replace(entry, key=f"{entry.key} #{count}") if count > 1 else entry)
    return tuple(unique)


def _optional_strings(table: _Table, key: str, check: Callable[[str], str | None]) -> tuple[str, ...]:
    """A list of strings that may be left out (then empty) but, when given, must not be empty."""
    if key not in table.data:
        return ()
    return table.take_strings(key, (), check, empty="must not be empty (leave the key out instead)")


def _rule_check(name: str) -> str | None:
    import driftwatch.rules.engine  # noqa: F401  - importing the engine registers the built-in rules
    from driftwatch.rules import META_RULES, RULES

    known = sorted({*RULES, *META_RULES})
    return None if name in known else f"is not a rule (one of: {', '.join(known)})"


def _account_check(text: str) -> str | None:
    return None if re.fullmatch(r"\d{12}", text) else "is not an AWS account id (12 digits)"


def _env_name(text: str) -> str | None:
    ok = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text)
    return (
        None
        if ok
        # The value is not repeated: it may be the secret itself, pasted where its variable's name goes.
        else "is not an environment variable name (name the variable; the secret itself goes in "
        "the environment)"
    )


def _optional_env_name(text: str) -> str | None:
    return _env_name(text) if text else None


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"must be a port number between 1 and 65535, not {value}"


def _host(text: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", text) else f"{text!r} is not a host name"


SMTP_SECURITY = ("starttls", "ssl", "none")

OptionSpec = tuple[bool, Any, Callable[[Any], str | None] | None]

NOTIFY_OPTIONS: dict[str, dict[str, OptionSpec]] = {
    "console": {"only_news": (False, False, None)},
    "slack": {
        "channel": (False, "", None),
        "token_env": (False, "SLACK_BOT_TOKEN", _env_name),
        "webhook_url_env": (False, "", _optional_env_name),
        "thread_details": (False, False, None),
        "base_url": (False, "https://slack.com/api/", lambda u: _url_check(u) if u else "must not be empty"),
    },
    "webhook": {
        "url": (True, "", lambda u: _url_check(u)),
        "secret_env": (False, "", _optional_env_name),
        "timeout": (False, 10.0, _seconds),
    },
    "email": {
        "host": (True, "", lambda h: _host(h) if h else None),
        "port": (False, 587, _port),
        "security": (
            False,
            "starttls",
            lambda m: None if m in SMTP_SECURITY else f"must be one of: {', '.join(SMTP_SECURITY)}",
        ),
        "from": (True, "", lambda a: _email_check(a) if a else None),
        "to": (True, (), lambda a: None if _email_check(a) is None else "is not an email address"),
        "username": (False, "", None),
        "password_env": (False, "", _optional_env_name),
        "timeout": (False, 30.0, _seconds),
    },
}
"""For each notifier type, its options: name -> (required, default, check); the default's type is
the option's type (a tuple is a list of strings)."""


def load_config(path: Path) -> Config:
    """Read and validate the config at ``path``; raise ConfigError naming the file and key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (create one with `driftwatch init PATH`)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; name the config file itself") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    return parse_config(raw, path)


def parse_config(raw: Mapping[str, Any], path: Path) -> Config:
    """Validate an already parsed TOML document that was read from ``path``."""
    root = _Table(path, "", raw)
    here = path.resolve().parent

    state = _Table(path, "state", root.take("state", dict, {}))
    repo = Path(os.path.expanduser(state.take("repo", str, ".")))
    state_settings = StateSettings(
        repo=(here / repo).resolve(),
        author_name=state.take("author_name", str, "driftwatch", _non_empty),
        author_email=state.take("author_email", str, "driftwatch@localhost", _email_check),
    )
    state.finish()

    aws = _Table(path, "aws", root.take("aws", dict, {}))
    profile = aws.take("profile", str, "")
    regions = aws.take_strings(
        "regions",
        ("us-east-1",),
        _region_check,
        'must name at least one region, or ["*"] for every enabled region',
    )
    if "*" in regions and len(regions) > 1:
        raise aws.error(
            f"regions[{regions.index('*')}]",
            '"*" must stand alone: regions = ["*"] means every region enabled for the account',
        )
    endpoint = aws.take("endpoint_url", str, "", _url_check)
    aws_settings = AwsSettings(
        enabled=aws.take("enabled", bool, True),
        profile=profile or None,
        regions=regions,
        endpoint_url=endpoint or None,
        services=aws.take_strings(
            "services",
            SERVICES,
            lambda s: (
                None if s in SERVICES else f"is not a supported service (one of: {', '.join(SERVICES)})"
            ),
        ),
        retry_mode=aws.take(
            "retry_mode",
            str,
            "adaptive",
            lambda m: None if m in RETRY_MODES else f"must be one of: {', '.join(RETRY_MODES)}",
        ),
        max_attempts=aws.take("max_attempts", int, 8, _positive),
        max_workers=aws.take(
            "max_workers", int, 8, lambda n: None if 1 <= n <= 64 else f"must be between 1 and 64, not {n}"
        ),
        connect_timeout=float(aws.take("connect_timeout", float, 10.0, _seconds)),
        read_timeout=float(aws.take("read_timeout", float, 30.0, _seconds)),
        **_accounts(aws),
        trusted_accounts=aws.take_strings("trusted_accounts", (), _account_id, empty=None),
        organization_id=aws.take("organization_id", str, "", _organization_check) or None,
    )
    aws.finish()

    redaction = _Table(path, "redaction", root.take("redaction", dict, {}))
    key_file = Path(
        os.path.expanduser(redaction.take("key_file", str, "~/.config/driftwatch/redaction.key", _non_empty))
    )
    key_file = (here / key_file).resolve()
    if key_file.is_relative_to(state_settings.repo):
        raise redaction.error(
            "key_file",
            f"{key_file} is inside the state repository; the key must live "
            "outside it, or redacted secrets could be guessed back",
        )
    redaction_settings = RedactionSettings(
        key_env=redaction.take("key_env", str, "DRIFTWATCH_REDACTION_KEY", _non_empty),
        key_file=key_file,
    )
    redaction.finish()

    check = _Table(path, "check", root.take("check", dict, {}))
    fail_on = Severity.parse(check.take("fail_on", str, "high", _severity_check))
    check.finish()

    schedule = _Table(path, "schedule", root.take("schedule", dict, {}))
    every = schedule.take("every", str, "15m", _interval_check)
    schedule.finish()

    approval = _load_approval(path, root.take("approval", dict, {}), path.resolve())

    saas_tables = root.take("saas", dict, {})
    saas: tuple[SaasSettings, ...] = ()
    if saas_tables:  # imported only then: the SaaS collectors are not needed to read the others
        from driftwatch.collectors.saas.settings import parse_saas  # the SaaS side knows its own tables

        saas = parse_saas(path, saas_tables)

    notify_raw = root.take("notify", list, [{"type": "console"}])
    notify = _unique_keys(tuple(_load_notify(path, i, entry) for i, entry in enumerate(notify_raw)))
    templates_dir = _load_templates(path, here, root.take("templates", dict, {}))
    alerts = _load_alerts(path, root.take("alerts", dict, {}))
    remote = _load_remote(path, root.take("remote", dict, {}))
    root.finish()

    return Config(
        path=path,
        state=state_settings,
        aws=aws_settings,
        redaction=redaction_settings,
        notify=notify,
        fail_on=fail_on,
        every_seconds=parse_interval(every),
        templates_dir=templates_dir,
        approval=approval,
        saas=saas,
        alerts=alerts,
        remote=remote,
    )


def _load_templates(path: Path, here: Path, data: Any) -> Path | None:
    """``[templates] dir``: a folder whose files replace the shipped templates of the same name."""
    table = _Table(path, "templates", data)
    text = table.take("dir", str, "")
    table.finish()
    if not text:
        return None
    folder = (here / os.path.expanduser(text)).resolve()
    if not folder.is_dir():
        raise table.error("dir", f"{folder} is not a folder")
    shipped = shipped_templates()
    for file in sorted(folder.iterdir()):
        if file.name.endswith(".j2") and not file.name.startswith("_") and file.name not in shipped:
            raise table.error(
                "dir",
                f"{file.name} in {folder} replaces no template (driftwatch's templates: "
                f"{', '.join(sorted(shipped))}; name helpers for {{% include %}} with a leading _)",
            )
    return folder


def shipped_templates() -> set[str]:
    """The names of the templates shipped in ``driftwatch/notify/templates``."""
    folder = files("driftwatch") / "notify" / "templates"
    return {item.name for item in folder.iterdir() if item.name.endswith(".j2")}


def _backoff(seconds: float) -> str | None:
    return None if 0 <= seconds <= 600 else f"must be 0 to 600 seconds, not {seconds}"


def _load_alerts(path: Path, data: Any) -> AlertSettings:
    table = _Table(path, "alerts", data)

    def pattern_check(text: str) -> str | None:
        if not text:
            return None
        if "{commit}" not in text:
            return f"{text!r} must contain {{commit}}, where the commit id goes"
        return _url_check(text)

    alerts = AlertSettings(
        remind_after_seconds=parse_interval(table.take("remind_after", str, "24h", _interval_check)),
        commit_url=table.take("commit_url", str, "", pattern_check),
    )
    table.finish()
    return alerts


def _load_remote(path: Path, data: Any) -> RemoteSettings:
    table = _Table(path, "remote", data)
    remote = RemoteSettings(
        name=table.take("name", str, "origin"),
        attempts=table.take(
            "attempts", int, 3, lambda n: None if 1 <= n <= 20 else f"must be between 1 and 20, not {n}"
        ),
        backoff=float(table.take("backoff", float, 2.0, _backoff)),
        timeout=float(table.take("timeout", float, 120.0, _seconds)),
    )
    if remote.name and not re.fullmatch(r"[A-Za-z0-9._-]+", remote.name):
        raise table.error("name", f"{remote.name!r} is not a git remote name")
    table.finish()
    return remote


_ACCOUNT_ID = re.compile(r"\d{12}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}|\{account\}):role/[\w+=,.@/-]+")


def _account_id(text: str) -> str | None:
    return None if _ACCOUNT_ID.fullmatch(text) else "is not a 12-digit account id"


def _role_arn(text: str) -> str | None:
    if not text or _ROLE_ARN.fullmatch(text):
        return None
    return f"{text!r} is not an IAM role ARN such as arn:aws:iam::{{account}}:role/driftwatch-read-only"


def _external_id(text: str) -> str | None:
    ok = not text or re.fullmatch(r"[\w+=,.@:/-]{2,1224}", text)
    return None if ok else f"{text!r} is not an sts:ExternalId (2-1224 of letters, digits and +=,.@:/-)"


def _session_name(text: str) -> str | None:
    ok = re.fullmatch(r"[\w+=,.@-]{2,64}", text)
    return None if ok else f"{text!r} is not a role session name (2-64 of letters, digits and +=,.@-)"


def _accounts(aws: _Table) -> dict[str, Any]:
    """The ``[aws]`` keys that name several accounts: profiles, account ids with a role, an organization."""
    profiles = aws.take_strings("profiles", (), _non_empty, empty=None)
    accounts = aws.take_strings("accounts", (), _account_id, empty=None)
    organization = aws.take("organization", bool, False)
    role_arn = aws.take("role_arn", str, "", _role_arn)
    templated = "{account}" in role_arn
    if (accounts or organization) and not templated:
        which = "accounts" if accounts else "organization = true"
        raise aws.error(
            "role_arn",
            f"{which} needs a role to assume in each account: set role_arn to an ARN with "
            '"{account}" in it, such as "arn:aws:iam::{account}:role/driftwatch-read-only"',
        )
    if templated and not (accounts or organization):
        raise aws.error(
            "role_arn",
            '"{account}" is filled in from [aws] accounts or organization = true, and neither is set',
        )
    return {
        "profiles": profiles,
        "accounts": accounts,
        "organization": organization,
        "role_arn": role_arn or None,
        "external_id": aws.take("external_id", str, "", _external_id) or None,
        "role_session_name": aws.take("role_session_name", str, "driftwatch", _session_name),
    }


_SSH_KEY = re.compile(r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( .*)?$")
_GPG_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{40}$|^[0-9A-Fa-f]{64}$")


def _signing_key_check(key: str) -> str | None:
    text = key.strip()
    if _SSH_KEY.match(text) or _GPG_FINGERPRINT.match(text.replace(" ", "")):
        return None
    return "is neither an SSH public key (ssh-ed25519 AAAA...) nor a GPG fingerprint (40 hex digits)"


def _date_check(text: str) -> str | None:
    return None if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else f"{text!r} is not a date (YYYY-MM-DD)"


def approval_from_text(text: str, path: Path) -> ApprovalSettings:
    """The [approval] table of a config file's text (as committed); ConfigError if it is not valid."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    return _load_approval(path, raw.get("approval", {}), path)


def _load_approval(path: Path, data: Any, source: Path | None = None) -> ApprovalSettings:
    table = _Table(path, "approval", data)
    require_signed = table.take("require_signed", bool, False)
    two_person = table.take("two_person", bool, False)
    approvers: list[Approver] = []
    for index, raw in enumerate(table.take("approvers", list, [])):
        entry = _Table(path, "approval", raw, label=f"[[approval.approvers]] #{index + 1}")
        name = entry.take("name", str, "", _non_empty)
        email = entry.take("email", str, "", _email_check)
        if not email:
            raise entry.error("email", "is required: the git author email of the approver's commits")
        if any(a.email.lower() == email.lower() for a in approvers):
            raise entry.error("email", f"{email!r} is listed twice")
        keys = entry.take("signing_keys", list, [])
        for i, key in enumerate(keys):
            if not isinstance(key, str):
                raise entry.error(f"signing_keys[{i}]", f"must be a string, not {_type_name(key)}")
            problem = _signing_key_check(key)
            if problem:
                raise entry.error(f"signing_keys[{i}]", problem)
        until = entry.take("until", str, "", _date_check)
        entry.finish()
        if require_signed and not keys:
            raise entry.error("signing_keys", "is required when [approval] require_signed = true")
        approvers.append(Approver(name or email, email, tuple(k.strip() for k in keys), until or None))
    table.finish()
    if (require_signed or two_person) and not approvers:
        key = "require_signed" if require_signed else "two_person"
        raise table.error(key, "needs at least one [[approval.approvers]] entry")
    if two_person and len(approvers) < 2:
        raise table.error(
            "two_person", "needs at least two approvers: a second one must review each approval"
        )
    return ApprovalSettings(tuple(approvers), require_signed, two_person, source)


def _organization_check(text: str) -> str | None:
    if not text or re.fullmatch(r"o-[a-z0-9]{10,32}", text):
        return None
    return f"{text!r} is not an AWS Organizations id (o- and 10 to 32 lower-case letters or digits)"


def _non_empty(text: str) -> str | None:
    return None if text.strip() else "must not be empty"


def _email_check(text: str) -> str | None:
    return None if re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", text) else f"{text!r} is not an email address"


def _url_check(text: str) -> str | None:
    if not text:
        return None
    return None if re.match(r"^https?://[^\s/]+", text) else f"{text!r} is not an http(s) URL"


def _interval_check(text: str) -> str | None:
    try:
        parse_interval(text)
    except ValueError as exc:
        return str(exc)
    return None
