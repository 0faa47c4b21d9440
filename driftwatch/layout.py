"""Where each resource lives in the state repository, and how a file maps back to its identity."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from driftwatch.model import ResourceId

SNAPSHOTS = "snapshots"
BASELINES = "baselines"
MANIFEST = f"{SNAPSHOTS}/manifest.json"
GUARDRAILS = f"{BASELINES}/guardrails.toml"
LAST_VERIFIED = "last-verified.json"
ALERT_STATE = "alert-state.json"
PRIVATE_DIR = ".driftwatch"
SAAS = "saas"
"""The provider name of resources read by the generic (http, command, file) collectors."""


def relative_path(identity: ResourceId) -> str:
    """``aws/<account>/<region>/<service>/<kind>/<id>.json`` with the id made safe for a file name.

    A SaaS resource has no region and its collector's name is its account:
    ``saas/<collector>/<kind>/<id>.json`` (its type is ``<service>/<kind>``).
    """
    folder = _folder(identity.provider, identity.account, identity.region, identity.type)
    return f"{folder}/{_file_name(identity.id)}.json"


@functools.lru_cache(maxsize=1 << 12)
def _folder(provider: str, account: str, region: str, type_: str) -> str:
    """The folder of a resource's file (resources share few: cached)."""
    if provider == SAAS:
        parts = [provider, account, *type_.split("/")[1:]]
    else:
        parts = [provider, account, region, *type_.split("/")]
    return "/".join(map(_file_name, parts))


MAX_NAME = 200
"""The longest file or folder name written, in bytes (file systems allow 255; ``.json`` is added)."""
_HASH_CHARS = 16


@functools.lru_cache(maxsize=1 << 16)
def _file_name(part: str) -> str:
    """``part`` made safe as one file or folder name (cached: ids repeat from run to run in a daemon).

    A name longer than MAX_NAME once quoted is cut, and ends in ``=`` and a hash of the whole
    ``part``: still one name per id, and never the name of another id, since quoting writes ``=``
    as ``%3D``. The full id stays in the file's ``identity``, which is what is read back.
    """
    name = quote(part, safe="-_.")
    if len(name) <= MAX_NAME:
        return name
    prefix = name[: MAX_NAME - _HASH_CHARS - 1]
    prefix = prefix[: prefix.rfind("%")] if "%" in prefix[-2:] else prefix  # no escape cut in two
    return f"{prefix}={hashlib.sha256(part.encode()).hexdigest()[:_HASH_CHARS]}"


def account_manifest_path(provider: str, account: str) -> str:
    """The repository path of one account's manifest: what the last run that reached it read."""
    return f"{SNAPSHOTS}/{quote(provider, safe='-_.')}/{quote(account, safe='-_.')}/manifest.json"


def snapshot_path(identity: ResourceId) -> str:
    """The repository path of a resource's snapshot file."""
    return f"{SNAPSHOTS}/{relative_path(identity)}"


def baseline_path(identity: ResourceId) -> str:
    """The repository path of a resource's approved baseline file."""
    return f"{BASELINES}/{relative_path(identity)}"


def identity_from_document(document: Any, path: str) -> ResourceId:
    """The identity stored in a resource file; ValueError naming the file when it is missing."""
    raw = document.get("identity") if isinstance(document, dict) else None
    if isinstance(raw, dict):
        # Read once per resource file on every check: plain lookups, not a loop over the names.
        provider, account, region = raw.get("provider"), raw.get("account"), raw.get("region")
        type_, id_ = raw.get("type"), raw.get("id")
        if (
            isinstance(provider, str)
            and isinstance(account, str)
            and isinstance(region, str)
            and isinstance(type_, str)
            and isinstance(id_, str)
        ):
            arn, label = raw.get("arn"), raw.get("label")  # a label is kept where no config is (alert state)
            return ResourceId(
                provider,
                account,
                region,
                type_,
                id_,
                arn if isinstance(arn, str) else None,
                label if isinstance(label, str) else readable_label(type_, document.get("config")),
            )
    fields = ("provider", "account", "region", "type", "id")
    raise ValueError(f'{path}: no valid "identity" object (needs {", ".join(fields)})')


def _tag_name(config: dict[str, Any]) -> Any:
    tags = config.get("Tags")
    return tags.get("Name") if isinstance(tags, dict) else None


def _first_alias(config: dict[str, Any]) -> Any:
    aliases = config.get("Aliases")
    return aliases[0] if isinstance(aliases, list) and aliases else None


_LABELS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ec2/security-group": lambda config: config.get("GroupName"),
    "ec2/instance": _tag_name,
    "ebs/snapshot": _tag_name,
    "ami/image": lambda config: config.get("Name"),
    "kms/key": _first_alias,
}
"""Where each type whose ids are generated keeps what people call it."""


def readable_label(type_: str, config: Any) -> str:
    """What people call a resource whose id is a generated one, from its stored config; "" if nothing.

    A security group's name, the ``Name`` tag of an instance or snapshot, an AMI's name, a KMS
    key's first alias: ``acme-bastion (sg-0a1b…)`` reads better in an alert than the id alone.
    """
    find = _LABELS.get(type_)
    if find is None or not isinstance(config, dict):
        return ""
    label = find(config)
    return label if isinstance(label, str) else ""


def identity_document(identity: ResourceId) -> dict[str, Any]:
    """The ``identity`` object written into each resource file."""
    return {
        "provider": identity.provider,
        "account": identity.account,
        "region": identity.region,
        "type": identity.type,
        "id": identity.id,
        "arn": identity.arn,
    }


def is_resource_file(path: str, root: str) -> bool:
    """True for ``<root>/<provider>/.../<id>.json`` files (not the manifest or other files)."""
    parts = path.split("/")  # paths come from git or the layout, already in normal form
    return (
        len(parts) >= (5 if len(parts) > 1 and parts[1] == SAAS else 6)
        and parts[0] == root
        and path.endswith(".json")
    )
