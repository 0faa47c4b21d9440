"""IAM and resource policy documents: canonical form, and the questions rules ask of statements."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Literal

S3Access = Literal["read", "write", "read-acp", "write-acp"]
"""What a grant lets someone do to a bucket, from least to most severe: ``read-acp`` (read its
permissions or configuration), ``read`` (list or read data), ``write`` (add, change or delete
data), ``write-acp`` (change its permissions: as bad as full control)."""

_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")
_ACTION_KEYS = ("Action", "NotAction")
_PRINCIPAL_KEYS = ("Principal", "NotPrincipal")

# Concrete S3 actions standing for each kind of access; statement patterns are matched against them.
_S3_ACTIONS: Mapping[S3Access, frozenset[str]] = {
    "read": frozenset(
        {
            "s3:getobject",
            "s3:getobjectversion",
            "s3:getobjectattributes",
            "s3:getobjectversionattributes",
            "s3:getobjecttorrent",
            "s3:getobjectversiontorrent",
            "s3:listbucket",
            "s3:listbucketversions",
            "s3:listbucketmultipartuploads",
            "s3:listmultipartuploadparts",
        }
    ),
    "write": frozenset(
        {
            "s3:putobject",
            "s3:deleteobject",
            "s3:deleteobjectversion",
            "s3:abortmultipartupload",
            "s3:restoreobject",
            "s3:putlifecycleconfiguration",
            "s3:deletebucket",
        }
    ),
    "read-acp": frozenset(
        {
            "s3:getbucketacl",
            "s3:getobjectacl",
            "s3:getobjectversionacl",
            "s3:getbucketpolicy",
            "s3:getbucketpolicystatus",
            "s3:getbucketpublicaccessblock",
            "s3:getbucketownershipcontrols",
        }
    ),
    "write-acp": frozenset(
        {
            "s3:putbucketacl",
            "s3:putobjectacl",
            "s3:putobjectversionacl",
            "s3:putbucketpolicy",
            "s3:deletebucketpolicy",
            "s3:putbucketpublicaccessblock",
            "s3:putbucketownershipcontrols",
        }
    ),
}

# S3 counts every s3:Get*, s3:List*, s3:Put* and s3:Delete* action as exposing ("bad actions").
# An action outside the sets above still counts: reads as configuration reads, the rest as writes.
_OTHER_BAD_ACTIONS: tuple[tuple[str, S3Access], ...] = (
    ("s3:get", "read-acp"),
    ("s3:list", "read-acp"),
    ("s3:put", "write"),
    ("s3:delete", "write"),
)

# Condition keys whose fixed value makes an everyone-principal statement non-public (S3 rules).
# aws:PrincipalOrgID and aws:PrincipalAccount are not in the S3 API reference's list but pin the
# caller to known accounts, and S3's policy status treats them as non-public too.
RESTRICTING_CONDITION_KEYS = frozenset(
    {
        "aws:sourceip",
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceowner",
        "aws:sourceaccount",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "aws:userid",
        "aws:principalorgid",
        "aws:principalaccount",
    }
)
_EXACT_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "ipaddress"})
# ArnEquals matches wildcards exactly like ArnLike does, so it is only fixed without them.
_PATTERN_OPERATORS = frozenset({"stringlike", "arnlike", "arnequals"})


def normalise_policy(document: str | Mapping[str, Any]) -> dict[str, Any]:
    """Return the canonical form of a policy document (a JSON string or an already decoded object).

    ``Statement``, ``Action``, ``NotAction``, ``Resource``, ``NotResource``, principal values and
    condition values become lists; action names and condition operators and keys are lower-cased;
    ARNs and condition values keep their case; ``"Principal": "*"`` becomes ``{"AWS": ["*"]}``;
    lists whose order means nothing are sorted and deduplicated, statements included.
    Raise ValueError when the text is not a JSON object.
    """
    if isinstance(document, str):
        try:
            decoded = json.loads(document)
        except json.JSONDecodeError as exc:
            raise ValueError(f"policy document is not valid JSON: {exc}") from None
    else:
        decoded = document
    if not isinstance(decoded, Mapping):
        raise ValueError(f"policy document must be a JSON object, not {type(decoded).__name__}")
    result = {str(key): _copy(value) for key, value in decoded.items() if key != "Statement"}
    raw = decoded.get("Statement", [])
    statements = raw if isinstance(raw, list) else [raw]
    result["Statement"] = sorted((normalise_statement(s) for s in statements), key=_canonical)
    return result


def normalise_statement(statement: Any) -> Any:
    """Return the canonical form of one statement; anything that is not an object is kept as is."""
    if not isinstance(statement, Mapping):
        return _copy(statement)
    result: dict[str, Any] = {}
    for key, value in statement.items():
        if key in _ACTION_KEYS:
            actions = _as_list(value)
            result[key] = _unique_sorted(a.lower() if isinstance(a, str) else a for a in actions)
        elif key in _LIST_KEYS:
            result[key] = _unique_sorted(_as_list(value))
        elif key in _PRINCIPAL_KEYS:
            result[key] = _normalise_principal(value)
        elif key == "Condition":
            result[key] = _normalise_condition(value)
        else:
            result[key] = _copy(value)
    return result


def statement_public_principal(statement: Mapping[str, Any]) -> bool:
    """True for an ``Allow`` statement granted to everyone: a ``*`` principal in any spelling
    (``"*"``, ``{"AWS": "*"}``, ``{"AWS": ["*"]}``, ``{"CanonicalUser": "*"}``), or a
    ``NotPrincipal``, which grants to everyone except those listed. Conditions are ignored here."""
    if not _effect_is(statement, "allow"):
        return False
    if "NotPrincipal" in statement:
        return True
    return _principal_is_everyone(statement.get("Principal"))


def statement_denies_all_to_everyone(statement: Mapping[str, Any], resources: Iterable[str]) -> bool:
    """True for an unconditional ``Deny`` of every action to everyone on each of ``resources``."""
    if not _effect_is(statement, "deny") or not _principal_is_everyone(statement.get("Principal")):
        return False
    if any(key in statement for key in ("Condition", "NotAction", "NotResource", "NotPrincipal")):
        return False
    stmt = normalise_statement(statement)
    actions = [a for a in stmt.get("Action", []) if isinstance(a, str)]
    patterns = [r for r in stmt.get("Resource", []) if isinstance(r, str)]
    if not any(_pattern(a).fullmatch("s3:*") for a in actions):
        return False
    return all(any(_pattern(p, fold=False).fullmatch(r) for p in patterns) for r in resources)


def condition_restricts(
    statement: Mapping[str, Any], keys: frozenset[str] = RESTRICTING_CONDITION_KEYS
) -> bool:
    """True when the statement's condition pins requests to fixed values, so that S3 does not
    count an everyone-principal as public. Other services pass their own ``keys`` (lower case).

    A restricting entry uses one of ``keys`` (any letter case) under a
    positive matching operator: ``StringEquals``, ``StringEqualsIgnoreCase``, ``IpAddress`` (no
    ``0.0.0.0/0`` or ``::/0``), or ``StringLike``/``ArnLike``/``ArnEquals`` without ``*`` or ``?``
    in any value. Negated, ``...IfExists`` and ``ForAllValues:`` operators hold for a request that
    lacks the key and never restrict. Entries AND together, so one restricting entry is enough.
    """
    condition = _normalise_condition(statement.get("Condition"))
    if not isinstance(condition, Mapping):
        return False
    for operator, entries in condition.items():
        if not isinstance(entries, Mapping):
            continue
        for key, values in entries.items():
            if key in keys and _entry_restricts(str(operator), str(key), values):
                return True
    return False


def pinned_values(statement: Mapping[str, Any], key: str) -> frozenset[str] | None:
    """The fixed values a statement's condition pins ``key`` to (any letter case), or None when no
    entry pins it (see :func:`condition_restricts` for what counts as fixed)."""
    condition = _normalise_condition(statement.get("Condition"))
    if not isinstance(condition, Mapping):
        return None
    pinned: set[str] | None = None
    for operator, entries in condition.items():
        values = entries.get(key.lower()) if isinstance(entries, Mapping) else None
        if values is not None and _entry_restricts(str(operator), key.lower(), values):
            # Entries AND together: a request must match each, so the values intersect.
            texts = {str(v) for v in values}
            pinned = texts if pinned is None else pinned & texts
    return frozenset(pinned) if pinned is not None else None


def public_statements(document: Any) -> list[Mapping[str, Any]]:
    """The statements of a resource policy that grant something to everyone, in canonical form.

    A statement counts when it allows a ``*`` principal in any spelling (or uses
    ``NotPrincipal``) and no condition pins it to fixed values (:func:`condition_restricts`):
    the rule S3 applies, used for SNS topics, SQS queues and Lambda functions too. A document
    that is not a policy (``None``: no policy) has none.
    """
    if not isinstance(document, str | Mapping):
        return []
    try:
        policy = normalise_policy(document)
    except ValueError:
        return []
    return [
        s
        for s in policy["Statement"]
        if isinstance(s, Mapping) and statement_public_principal(s) and not condition_restricts(s)
    ]


def allows_action(statement: Mapping[str, Any], action: str) -> bool:
    """True when the statement's ``Action`` (or ``NotAction``) patterns cover ``action``."""
    if "NotAction" in statement:
        excluded = [a for a in _as_list(statement["NotAction"]) if isinstance(a, str)]
        return not any(_pattern(a).fullmatch(action) for a in excluded)
    return any(_pattern(a).fullmatch(action) for a in _as_list(statement.get("Action")) if isinstance(a, str))


def s3_access(actions: Iterable[str], not_action: bool = False) -> frozenset[S3Access]:
    """The kinds of S3 access granted by a statement's action patterns (case-insensitive, with
    IAM wildcards). With ``not_action`` the patterns are a ``NotAction`` list: a kind is granted
    when any of its actions is left out of the list."""
    texts = [a.lower() for a in actions if isinstance(a, str)]
    patterns = [_pattern(a) for a in texts]
    granted: set[S3Access] = set()
    for kind, names in _S3_ACTIONS.items():
        covered = [any(p.fullmatch(name) for p in patterns) for name in names]
        if (not all(covered)) if not_action else any(covered):
            granted.add(kind)
    if not_action:
        return frozenset(granted)
    for text, pattern in zip(texts, patterns, strict=True):
        if not any(pattern.fullmatch(name) for names in _S3_ACTIONS.values() for name in names):
            granted.update(kind for prefix, kind in _OTHER_BAD_ACTIONS if text.startswith(prefix))
    return frozenset(granted)


def statement_s3_access(statement: Mapping[str, Any]) -> frozenset[S3Access]:
    """The kinds of S3 access a statement's ``Action`` or ``NotAction`` element covers."""
    if "NotAction" in statement:
        return s3_access([a for a in _as_list(statement["NotAction"]) if isinstance(a, str)], True)
    return s3_access([a for a in _as_list(statement.get("Action")) if isinstance(a, str)])


def _entry_restricts(operator: str, key: str, values: Any) -> bool:
    operator = operator.removeprefix("foranyvalue:")
    if operator.endswith("ifexists") or not isinstance(values, list) or not values:
        return False
    texts = [str(v) for v in values]
    if operator in _PATTERN_OPERATORS:
        if any("*" in t or "?" in t for t in texts):
            return False
    elif operator not in _EXACT_OPERATORS:
        return False
    return not (key == "aws:sourceip" and any(_is_whole_internet(t) for t in texts))


def _is_whole_internet(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def _principal_is_everyone(principal: Any) -> bool:
    normalised = _normalise_principal(principal)
    if isinstance(normalised, Mapping):
        return any(isinstance(v, list) and "*" in v for v in normalised.values())
    return False


def _effect_is(statement: Mapping[str, Any], effect: str) -> bool:
    value = statement.get("Effect")
    return isinstance(value, str) and value.lower() == effect


def _normalise_principal(principal: Any) -> Any:
    if isinstance(principal, str):
        return {"AWS": [principal]}
    if isinstance(principal, Mapping):
        return {str(k): _unique_sorted(_as_list(v)) for k, v in principal.items()}
    if isinstance(principal, list):
        return _unique_sorted(principal)
    return _copy(principal)


def _normalise_condition(condition: Any) -> Any:
    if not isinstance(condition, Mapping):
        return _copy(condition)
    result: dict[str, Any] = {}
    for operator, entries in condition.items():
        name = str(operator).lower()
        if not isinstance(entries, Mapping):
            result[name] = _copy(entries)
            continue
        merged = result.get(name)
        target: dict[str, Any] = merged if isinstance(merged, dict) else {}
        for key, values in entries.items():
            # Keys differing only in letter case are the same key to AWS: keep every value.
            lowered = str(key).lower()
            target[lowered] = _unique_sorted([*target.get(lowered, []), *_as_list(values)])
        result[name] = target
    return result


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [_copy(v) for v in value] if isinstance(value, list) else [_copy(value)]


def _unique_sorted(values: Iterable[Any]) -> list[Any]:
    unique = {_canonical(v): v for v in values}
    return [unique[k] for k in sorted(unique, key=lambda k: _sort_key(unique[k], k))]


def _sort_key(value: Any, canonical: str) -> tuple[int, str]:
    return (0, value) if isinstance(value, str) else (1, canonical)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value


@lru_cache(maxsize=1024)
def _pattern(text: str, fold: bool = True) -> re.Pattern[str]:
    """An IAM wildcard pattern (``*`` any run, ``?`` one character) as a compiled regex."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(body, (re.IGNORECASE | re.DOTALL) if fold else re.DOTALL)
