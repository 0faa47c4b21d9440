"""The effective public exposure of one S3 bucket: ACL, policy and Block Public Access together."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from driftwatch.normalise import canonical_text
from driftwatch.policy import (
    S3Access,
    condition_restricts,
    normalise_policy,
    statement_denies_all_to_everyone,
    statement_public_principal,
    statement_s3_access,
)

ExposureStatus = Literal["public", "private", "unknown"]

_PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/allusers": "AllUsers (anyone on the internet)",
    "http://acs.amazonaws.com/groups/global/authenticatedusers": (
        "AuthenticatedUsers (anyone with an AWS account)"
    ),
}
_ACL_PERMISSIONS: Mapping[str, frozenset[S3Access]] = {
    "READ": frozenset({"read"}),
    "WRITE": frozenset({"write"}),
    "READ_ACP": frozenset({"read-acp"}),
    "WRITE_ACP": frozenset({"write-acp"}),
    "FULL_CONTROL": frozenset({"read", "write", "read-acp", "write-acp"}),
}
_SEVERITY_ORDER: tuple[S3Access, ...] = ("write-acp", "write", "read", "read-acp")

Flag = bool | None
"""A Block Public Access flag: True, False, or None when it could not be established."""


@dataclass(frozen=True)
class BucketExposure:
    """Who outside the account can reach a bucket, once every setting is taken into account.

    ``status`` is ``public`` when what could be read proves public access, ``private`` when it
    proves there is none, and ``unknown`` otherwise, never ``private`` by default. ``read``,
    ``write``, ``acl_readable`` (the ACL, policy or configuration can be read, not the data) and
    ``acl_writable`` (permissions can be changed: as bad as full control) describe proven access
    only. ``via`` explains each proven grant; ``unknown_because`` each doubt.
    """

    status: ExposureStatus
    read: bool = False
    write: bool = False
    acl_readable: bool = False
    acl_writable: bool = False
    via: tuple[str, ...] = ()
    unknown_because: tuple[str, ...] = ()

    @property
    def worst(self) -> S3Access | None:
        """The most severe proven access: write-acp > write > read > read-acp, or None."""
        held = {
            "write-acp": self.acl_writable,
            "write": self.write,
            "read": self.read,
            "read-acp": self.acl_readable,
        }
        return next((kind for kind in _SEVERITY_ORDER if held[kind]), None)


@dataclass(frozen=True)
class _Grant:
    kinds: frozenset[S3Access]
    reason: str


def evaluate_bucket_exposure(
    bucket: Mapping[str, Any],
    account_block: Mapping[str, Any] | None,
    *,
    unreadable: Collection[str] = (),
    account_block_unreadable: bool = False,
) -> BucketExposure:
    """Judge whether a bucket is public from its canonical ``s3/bucket`` config.

    ``account_block`` is the canonical ``s3/account-public-access-block`` config, or None when
    the account-level block is not known. ``unreadable`` names bucket fields that could not be
    read; a field missing from ``bucket`` counts as unreadable too, and a stale value kept for an
    unreadable field is never trusted. ``IgnorePublicAcls`` and ``RestrictPublicBuckets`` take
    effect at either level; ``BlockPublicAcls`` and ``BlockPublicPolicy`` only stop new grants and
    play no part. An unconditional deny of everything to everyone in the policy wins over all.
    """
    known = {name for name in bucket if name not in set(unreadable)}
    bucket_block, bucket_doubt = _bucket_block(bucket, known)
    account, account_doubt = _account_block(account_block, account_block_unreadable)
    ignore_acls, acls_doubt = _effective(
        "IgnorePublicAcls", bucket_block, bucket_doubt, account, account_doubt
    )
    restrict, restrict_doubt = _effective(
        "RestrictPublicBuckets", bucket_block, bucket_doubt, account, account_doubt
    )
    proven: list[_Grant] = []
    doubts: list[str] = []

    if ignore_acls is not True:
        ownership_known = "ObjectOwnership" in known
        enforced = ownership_known and bucket["ObjectOwnership"] == "BucketOwnerEnforced"
        if not enforced:
            why = [] if ignore_acls is False else [acls_doubt]
            if not ownership_known:
                why.append("the bucket's ObjectOwnership could not be read")
            if "Acl" not in known:
                doubts.append(
                    "the bucket ACL could not be read, and ACLs are not known to be disabled or ignored"
                )
            else:
                _sort(_acl_grants(bucket["Acl"]), why, "ACLs are disabled or ignored", proven, doubts)

    if "Policy" in known:
        statements, parse_doubt = _statements(bucket["Policy"])
        if parse_doubt:
            doubts.append(parse_doubt)
        arn = f"arn:aws:s3:::{bucket.get('Name', '')}"
        if any(statement_denies_all_to_everyone(s, (arn, f"{arn}/*")) for s in statements):
            return BucketExposure(status="private")
        if restrict is not True:
            why = [] if restrict is False else [restrict_doubt]
            _sort(_policy_grants(statements), why, "RestrictPublicBuckets is in force", proven, doubts)
    elif restrict is not True:
        doubts.append(
            "the bucket policy could not be read, and RestrictPublicBuckets is not known to be in force"
        )

    return _verdict(proven, doubts)


def _sort(grants: list[_Grant], why: list[str], unless: str, proven: list[_Grant], doubts: list[str]) -> None:
    """File each grant as proven, or as a doubt when what could neutralise it is unknown."""
    for grant in grants:
        if why:
            doubts.append(f"{grant.reason}, unless {unless}: {'; '.join(why)}")
        else:
            proven.append(grant)


def _verdict(proven: list[_Grant], doubts: list[str]) -> BucketExposure:
    kinds: frozenset[S3Access] = frozenset().union(*(g.kinds for g in proven))
    status: ExposureStatus = "public" if proven else "unknown" if doubts else "private"
    return BucketExposure(
        status=status,
        read="read" in kinds,
        write="write" in kinds,
        acl_readable="read-acp" in kinds,
        acl_writable="write-acp" in kinds,
        via=tuple(dict.fromkeys(g.reason for g in proven)),
        unknown_because=tuple(dict.fromkeys(doubts)),
    )


_Block = tuple[Mapping[str, Any] | None, str]
"""A public access block (None when unknown) and, when unknown, why."""


def _bucket_block(bucket: Mapping[str, Any], known: set[str]) -> _Block:
    if "PublicAccessBlock" not in known:
        return None, "the bucket's PublicAccessBlock could not be read"
    value = bucket["PublicAccessBlock"]
    return (value if isinstance(value, Mapping) else {}), ""


def _account_block(config: Mapping[str, Any] | None, unreadable: bool) -> _Block:
    if unreadable:
        return None, "the account-level public access block could not be read"
    if config is None or "PublicAccessBlock" not in config:
        return None, "the account-level public access block is not known"
    value = config["PublicAccessBlock"]
    return (value if isinstance(value, Mapping) else {}), ""


def _effective(
    flag: str,
    bucket: Mapping[str, Any] | None,
    bucket_doubt: str,
    account: Mapping[str, Any] | None,
    account_doubt: str,
) -> tuple[Flag, str]:
    """Combine one flag of both levels: either level's True wins; a null block means all false."""
    levels = [
        (None if block is None else block.get(flag) is True, doubt)
        for block, doubt in ((bucket, bucket_doubt), (account, account_doubt))
    ]
    if any(value is True for value, _ in levels):
        return True, ""
    doubts = [doubt for value, doubt in levels if value is None]
    return (None, "; ".join(doubts)) if doubts else (False, "")


def _acl_grants(acl: Any) -> list[_Grant]:
    """The ACL's grants to AllUsers or AuthenticatedUsers (LogDelivery is not public)."""
    raw = acl.get("Grants") if isinstance(acl, Mapping) else None
    grants: list[_Grant] = []
    for grant in raw if isinstance(raw, list) else []:
        if not isinstance(grant, Mapping) or not isinstance(grant.get("Grantee"), Mapping):
            continue
        uri = str(grant["Grantee"].get("URI") or "").strip().rstrip("/").lower()
        who = _PUBLIC_GROUPS.get(uri.replace("https://", "http://", 1))
        permission = str(grant.get("Permission") or "").upper()
        if who and permission in _ACL_PERMISSIONS:
            grants.append(_Grant(_ACL_PERMISSIONS[permission], f"ACL grants {permission} to {who}"))
    return grants


def _statements(policy: Any) -> tuple[list[Mapping[str, Any]], str]:
    if policy is None:
        return [], ""
    # A bucket is judged as it is now, as approved and as at the previous run, mostly with the
    # same policy: it is normalised once per text.
    statements, doubt = _policy_statements(policy if isinstance(policy, str) else canonical_text(policy))
    return list(statements), doubt


@functools.lru_cache(maxsize=4096)
def _policy_statements(text: str) -> tuple[tuple[Mapping[str, Any], ...], str]:
    """The statements of a policy given as JSON text (shared: never changed), or why it cannot be read."""
    try:
        statements = normalise_policy(text)["Statement"]
    except ValueError as exc:
        return (), f"the bucket policy could not be parsed ({exc})"
    return tuple(s for s in statements if isinstance(s, Mapping)), ""


def _policy_grants(statements: list[Mapping[str, Any]]) -> list[_Grant]:
    """The Allow statements open to everyone that no condition narrows to fixed callers."""
    grants: list[_Grant] = []
    for statement in statements:
        if not statement_public_principal(statement) or condition_restricts(statement):
            continue
        kinds = statement_s3_access(statement)
        if not kinds:
            continue
        sid = statement.get("Sid")
        name = f"policy statement {sid!r}" if sid else "a policy statement"
        if "NotAction" in statement:
            what = "every action except " + ", ".join(map(str, statement["NotAction"]))
        else:
            what = ", ".join(map(str, statement.get("Action", [])))
        who = "everyone not in NotPrincipal" if "NotPrincipal" in statement else "everyone"
        note = " (its condition does not pin the caller)" if statement.get("Condition") else ""
        grants.append(_Grant(kinds, f"{name} allows {what} to {who}{note}"))
    return grants
