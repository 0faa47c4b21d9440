"""Canonical configuration: volatile fields dropped, policies decoded, sets sorted, secrets redacted.

Used before storing and before comparing, so that two reads of the same settings always give the
same text and only real changes show up in git and in findings.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import pairwise
from json.encoder import encode_basestring as _encode_string
from typing import Any

from driftwatch.jsontext import indented_text
from driftwatch.model import JSONValue, Resource
from driftwatch.policy import normalise_policy

VOLATILE_KEYS = frozenset(
    {
        "ResponseMetadata",
        "RequestId",
        "ETag",
        "HTTPHeaders",
        "RetryAttempts",
    }
)
"""Keys removed wherever they appear: they change on every read and are not configuration."""

OBSERVATION_KEYS = frozenset({"LastUsedDate", "PasswordLastUsed", "AccessKeyLastUsed", "LastAccessed"})
"""Keys that are kept as observations for rules but never stored or diffed as configuration."""

POLICY_KEYS = frozenset({"Policy", "AssumeRolePolicyDocument", "PolicyDocument", "Document", "KeyPolicy"})
"""Keys whose value is a policy document (often a JSON string) to decode and normalise."""

POLICY_MAP_KEYS = frozenset({"InlinePolicies"})
"""Keys whose value maps names to policy documents (a user's or role's inline policies)."""

ORDERED_LISTS: dict[str, frozenset[str]] = {
    "s3/bucket": frozenset({"Website.RoutingRules"}),  # applied in order: the first match wins
}
"""Per resource type, the lists whose order means something and is kept as AWS returned it."""

REDACTED_MAPS: dict[str, frozenset[str]] = {
    # Any value may be a secret that no name or shape gives away (case 21): all are hashed. The
    # collector lists the secret-looking names beside them (``SecretLike``) before they are.
    "lambda/function": frozenset({"Environment.Variables"}),
}
"""Per resource type, the mappings whose every string value is redacted, secret-looking or not."""

_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",  # DB_PASS, SMTP_PASS
        "pw",
        "auth",  # REDIS_AUTH (what names a setting about it, AUTH_TYPE, ends in a reference word)
        "dsn",  # a connection string, often with its password
        "pat",  # a personal access token
        "secret",
        "token",
        "apikey",
        "passphrase",
        "credential",
        "credentials",
        "privatekey",
        "secretkey",
    }
)
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("connection", "string"),
        ("client", "secret"),
        ("auth", "token"),
        ("session", "key"),
    }
)
_REFERENCE_WORDS = frozenset(
    {
        "name",
        "arn",
        "id",
        "path",
        "file",
        "url",
        "uri",
        "endpoint",
        "host",
        "user",
        "username",
        "type",
        "length",
        "age",
        "policy",
        "expire",
        "enabled",
        "required",
        "reuse",
        "prevention",
        "date",
        "version",
        "ttl",
        "timeout",
        "expiry",
        "expiration",
        "seconds",
        "param",
        "parameter",
        # A setting about a secret, not the secret: AUTH_MODE, PASSWORD_ROTATION, TOKEN_FORMAT.
        "mode",
        "method",
        "scheme",
        "mechanism",
        "provider",
        "level",
        "status",
        "state",
        "kind",
        "format",
        "algorithm",
        "strategy",
        "count",
        "rotation",
        "interval",
    }
)
_REFERENCE_PREFIXES = ("arn:", "${", "{{", "s3://", "file:", "ssm:", "secretsmanager:", "vault:")
"""How a value that points to where a secret is kept begins (not the secret itself)."""
_FILE_PATH = re.compile(r"(?:\.{1,2}/[\w.@+-]+|/[\w.@+-]+/[\w.@+-]+)(?:/[\w.@+-]*)*")
"""A relative path, or an absolute one of two or more parts (``/run/secrets/db``): ``/hunter2``
is a password, not a path."""
_SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|xox[abposr]-[0-9A-Za-z-]{10,}|gh[pousr]_[0-9A-Za-z]{30,}"
    r"|(?i:password|pwd)=[^;&\s]+"
    r"|\b[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@"  # credentials in a URL: postgres://app:pw@db, redis://:pw@db
    r"|\b[sr]k_live_[0-9A-Za-z]{8,}|(?i:bearer|basic) [0-9A-Za-z._~+/=-]{16,}"
    r"|hooks\.slack\.com/(?:services|workflows)/[0-9A-Za-z/_-]{10,}"  # an incoming webhook is its own key
    r"|\bSG\.[\w-]{16,}\.[\w-]{16,}"  # a SendGrid API key
)
_KEY_WORDS = frozenset({"key", "keys"})
_NOT_SECRET_KEYS = frozenset(
    {
        # What names a key that is not key material: a public half, a data or cache key, a KMS key id.
        "public",
        "publishable",
        "pub",
        "partition",
        "sort",
        "range",
        "hash",
        "primary",
        "foreign",
        "cache",
        "object",
        "s3",
        "kms",
        "idempotency",
        "routing",
    }
)
_KEY_MATERIAL = re.compile(
    r"(?:SG\.|base64:|sk[-_]|rk_|whsec_|key-)\S{4,}"  # how common keys begin (SendGrid, Laravel, Stripe)
    r"|[A-Za-z0-9+/=_-]{16,}"  # or a long unbroken run of letters and digits (checked for digits below)
)
_SETTING_VALUE = re.compile(r"(?i)true|false|yes|no|on|off")
_SPLIT_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
REDACTED_PREFIX = "[redacted hmac-sha256:"


@dataclass(frozen=True)
class Redactor:
    """Replaces secret values by a keyed hash, so a change shows without the value reaching git."""

    key: bytes

    def redact(self, value: str) -> str:
        """The redacted stand-in for ``value``: same value, same text; different value, different text."""
        if value.startswith(REDACTED_PREFIX):
            return value
        digest = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:16]
        return f"{REDACTED_PREFIX}{digest}]"


def _words(key: str) -> list[str]:
    return [w.lower() for w in _SPLIT_WORDS.findall(key.replace("-", "_"))]


@functools.lru_cache(maxsize=4096)
def _names_a_secret(key: str) -> bool:
    """True when the key's words name a secret and do not end in a reference word (``..._NAME``)."""
    words = _words(key)
    named_secret = any(w in _SECRET_WORDS for w in words) or any(
        pair in _SECRET_PAIRS for pair in pairwise(words)
    )
    return named_secret and not (words and words[-1] in _REFERENCE_WORDS)


@functools.lru_cache(maxsize=4096)
def _names_a_key(key: str) -> bool:
    """True when the key ends in ``KEY`` (``SENDGRID_KEY``, ``APP_KEY``) and no word before it says
    it is not key material (``PUBLIC_KEY``, ``PARTITION_KEY``, ``KMS_KEY``)."""
    words = _words(key)
    return bool(words) and words[-1] in _KEY_WORDS and not _NOT_SECRET_KEYS & set(words[:-1])


def _looks_like_key_material(value: str) -> bool:
    """A known key prefix, or a long run of letters with at least four digits: random, not a word."""
    match = _KEY_MATERIAL.fullmatch(value)
    if match is None:
        return False
    return value.startswith(("SG.", "base64:", "sk-", "sk_", "rk_", "whsec_", "key-")) or (
        sum(c.isdigit() for c in value) >= 4 and sum(c.isalpha() for c in value) >= 4
    )


def is_secret(key: str, value: Any) -> bool:
    """True when ``value`` under ``key`` looks like a secret, judged by key name and value together.

    ``DB_PASSWORD`` and ``PAYMENT_API_KEY`` are secrets; ``DB_SECRET_NAME`` (a reference to a
    secret), ``AWS_CA_BUNDLE`` (a file path), an ARN, ``TOKEN_TTL`` (a setting about a secret)
    and ``ENABLE_TOKEN_AUTH = "true"`` are not. Some values are secrets whatever their key: a
    private key, a Slack, GitHub or SendGrid token, a URL with a password in it (with or without
    a user). A name ending in ``KEY`` (``APP_KEY``) is a secret when its value looks like key
    material (``base64:...``, a long random run), not when it is a word, path or reference.
    """
    if not isinstance(value, str) or not value.strip():
        return False
    if _SECRET_VALUE.search(value):
        return True
    names_secret, names_key = _names_a_secret(key), _names_a_key(key)
    if not names_secret and not names_key:
        return False
    text = value.strip()
    if value.startswith(_REFERENCE_PREFIXES) or _FILE_PATH.fullmatch(text) or _SETTING_VALUE.fullmatch(text):
        return False
    return names_secret or _looks_like_key_material(text)


@functools.lru_cache(maxsize=1 << 16)
def _secret_leaf(key: str, value: str) -> bool:
    """``is_secret`` for a string leaf, remembered: most (key, value) pairs repeat across resources."""
    return is_secret(key, value)


_ASSIGNMENT = re.compile(
    r"""(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*(?:=|:(?!//))[ \t]*["']?(?P<value>[^\s"',;&)}\[\]]+)"""
)
"""``key=value``, ``key: value`` and ``"key": "value"`` in free text (a stderr line, an error body)."""
_AUTHORIZATION = re.compile(
    r"(?i)\b(?:bearer|basic)[ \t]+(?P<value>(?=\S*[0-9+/=]|[0-9A-Za-z._~+/=-]{20})[0-9A-Za-z._~+/=-]{8,})"
)
"""A credential after an HTTP auth scheme; a plain word (``Basic authentication``) is left alone."""


def redact_text(text: str, redactor: Redactor) -> str:
    """Free text, such as a failure message or a command's stderr, with secret-looking values redacted.

    The same judgement as for stored values: values that are secrets whatever their key (a
    private key, a GitHub token, a URL with a password), a value after a key naming a secret
    (``token=...``, ``"api_key": "..."``), and the credential after ``Bearer`` or ``Basic``.
    """
    text = _SECRET_VALUE.sub(lambda m: redactor.redact(m.group()), text)

    def assignment(match: re.Match[str]) -> str:
        key, value = match.group("key"), match.group("value")
        if not is_secret(key, value):
            return match.group()
        start, end = match.span("value")
        return (
            match.group()[: start - match.start()]
            + redactor.redact(value)
            + match.group()[end - match.start() :]
        )

    text = _ASSIGNMENT.sub(assignment, text)
    return _AUTHORIZATION.sub(
        lambda m: m.group()[: m.start("value") - m.start()] + redactor.redact(m.group("value")), text
    )


_PLAIN = frozenset({int, float, bool})


def canonical(
    value: Any,
    *,
    redactor: Redactor | None = None,
    ordered: Collection[str] = (),
    redacted: Collection[str] = (),
    observations: dict[str, JSONValue] | None = None,
    _path: str = "",
) -> JSONValue:
    """Return ``value`` as canonical JSON data.

    Dates become ISO-8601 strings, volatile keys disappear, policy documents are decoded and
    normalised, lists are sorted by their canonical text unless their path is in ``ordered``,
    and secret-looking strings are redacted when a ``redactor`` is given (every string of a
    mapping whose path is in ``redacted``). Observation keys are
    moved into ``observations`` (by path) when that dict is given, and dropped otherwise.
    """
    kind = type(value)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        result: dict[str, JSONValue] = {}
        redact_all = _path in redacted
        for key, item in value.items():
            key = str(key)
            path = f"{_path}.{key}" if _path else key
            if key in VOLATILE_KEYS:
                continue
            if key in OBSERVATION_KEYS:
                if observations is not None:
                    observations[path] = jsonable(item)
                continue
            if key in POLICY_KEYS and isinstance(item, str | Mapping) and _looks_like_policy(item):
                item = normalise_policy(item)
            elif key in POLICY_MAP_KEYS and isinstance(item, Mapping):
                item = {
                    name: normalise_policy(doc)
                    if isinstance(doc, str | Mapping) and _looks_like_policy(doc)
                    else doc
                    for name, doc in item.items()
                }
            if type(item) is str:  # the common leaf, handled here: a secret is judged once
                secret = redact_all or _secret_leaf(key, item)
                result[key] = redactor.redact(item) if redactor and secret else item
            elif item is None or type(item) in _PLAIN:
                result[key] = item
            else:
                result[key] = canonical(
                    item,
                    redactor=redactor,
                    ordered=ordered,
                    redacted=redacted,
                    observations=observations,
                    _path=path,
                )
        return dict(sorted(result.items()))
    if kind is list or isinstance(value, tuple | set | frozenset):
        item_path = f"{_path}[]"
        items = [
            v
            if v is None
            or type(v) in _PLAIN
            or (type(v) is str and not (redactor and _SECRET_VALUE.search(v)))
            else canonical(
                v,
                redactor=redactor,
                ordered=ordered,
                redacted=redacted,
                observations=observations,
                _path=item_path,
            )
            for v in value
        ]
        if _path not in ordered:
            items.sort(key=canonical_text)
        return items
    if isinstance(value, str) and redactor is not None and _SECRET_VALUE.search(value):
        return redactor.redact(value)
    return jsonable(value)


def jsonable(value: Any) -> JSONValue:
    """``value`` with dates, decimals and bytes turned into JSON types; nothing dropped or sorted."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _looks_like_policy(item: str | Mapping[str, Any]) -> bool:
    if isinstance(item, Mapping):
        return "Statement" in item
    return item.lstrip().startswith("{") and "Statement" in item


_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_text(value: JSONValue) -> str:
    """Compact canonical JSON text, the sort key for lists and the basis of content hashes."""
    if isinstance(value, str):
        return _encode_string(value)  # what the encoder itself does for a string, without its set-up
    return _COMPACT.encode(value)


def file_text(document: JSONValue) -> str:
    """The text of a stored file: sorted keys, two-space indent, newline at the end."""
    return indented_text(document)


def normalise_resource(
    resource: Resource,
    redactor: Redactor,
    ordered: Callable[[str], Collection[str]] = lambda type_: ORDERED_LISTS.get(type_, frozenset()),
) -> Resource:
    """Return ``resource`` with a canonical, redacted config and its observations split out."""
    observations: dict[str, JSONValue] = dict(resource.observations)
    type_ = resource.identity.type
    config = canonical(
        resource.config,
        redactor=redactor,
        ordered=ordered(type_),
        redacted=REDACTED_MAPS.get(type_, frozenset()),
        observations=observations,
    )
    assert isinstance(config, dict)
    return Resource(resource.identity, config, dict(resource.unreadable), observations)
