"""A run-to-run memo of normalised resources, keyed by a keyed hash of what the collector read.

Normalising walks every value of every resource in Python; at tens of thousands of resources that
is most of an incremental run. A resource read exactly as last time normalises exactly as last
time, so its canonical config is taken from the memo instead. The memo is local and untracked
(``.driftwatch/normalised.json``); its keys are HMACs of the raw answers under the redaction key,
so it reveals nothing about unredacted values, and it holds only what is stored anyway (redacted,
canonical configs). It is dropped whole when the redaction key or driftwatch's normalising code
changes, and a damaged memo is only a slower run.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from driftwatch import __version__, normalise, policy
from driftwatch.model import JSONValue, Resource
from driftwatch.normalise import Redactor, jsonable, normalise_resource

_RAW = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_EVERY_READ = normalise.VOLATILE_KEYS | normalise.OBSERVATION_KEYS
MEMO_FORMAT = 2
"""Entries are ``[config, observations, content digest of config]``."""


def _tagged(value: Any) -> Any:
    """What orjson cannot write itself, written so that it never equals a plain JSON value."""
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, set | frozenset):
        return {"$set": sorted(orjson.dumps(v, default=_tagged, option=_RAW).decode() for v in value)}
    if isinstance(value, datetime | date):  # a subclass orjson does not take as its own
        return {"$date": value.isoformat()}
    raise TypeError(f"cannot key a {type(value).__name__}")


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _code_fingerprint() -> str:
    """Changes whenever the code that decides a canonical config changes (not only the version)."""
    digest = hashlib.sha256(f"{__version__}\0{MEMO_FORMAT}".encode())
    for module in (normalise, policy):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


class NormalisedMemo:
    """Normalises resources, reusing last run's result for each one read exactly as last time."""

    def __init__(self, path: Path, redactor: Redactor) -> None:
        self.path = path
        self.redactor = redactor
        key_id = hmac.new(redactor.key, b"driftwatch normalised memo", hashlib.sha256).hexdigest()
        self.fingerprint = f"{_code_fingerprint()}:{key_id}"
        self.previous = self._load()
        self.current: dict[str, list[JSONValue]] = {}

    def _load(self) -> dict[str, list[JSONValue]]:
        try:
            text = self.path.read_bytes()
            with _no_cycle_collection():  # millions of new objects, none of them in a cycle
                data = orjson.loads(text)
        except (OSError, orjson.JSONDecodeError):
            return {}
        if not isinstance(data, dict) or data.get("fingerprint") != self.fingerprint:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _key(self, resource: Resource) -> str | None:
        """The memo's key for a read: what normalising depends on, less what changes on every read
        at the top level (request ids, last-used dates), which normalising drops or reads anew."""
        settings = {k: v for k, v in resource.config.items() if k not in _EVERY_READ}
        try:
            raw = orjson.dumps([settings, resource.observations], default=_tagged, option=_RAW)
        except (orjson.JSONEncodeError, TypeError):
            return None  # normalised the slow way, every run
        message = resource.identity.type.encode() + b"\0" + raw
        return hmac.new(self.redactor.key, message, hashlib.sha256).hexdigest()

    def normalise(self, resources: Iterable[Resource]) -> tuple[Resource, ...]:
        """Each resource normalised (see ``normalise_resource``), from the memo where it can be."""
        with _no_cycle_collection():  # as in _load: without it, full collections cost 5x the work
            return tuple(self._normalise_each(resources))

    def _normalise_each(self, resources: Iterable[Resource]) -> Iterator[Resource]:
        for resource in resources:
            key = self._key(resource)
            if key is None:
                yield normalise_resource(resource, self.redactor)
                continue
            observed_now = {
                k: jsonable(v) for k, v in resource.config.items() if k in normalise.OBSERVATION_KEYS
            }
            entry = self.previous.get(key)
            if isinstance(entry, list) and len(entry) == 3:
                config, observations, digest = entry
                if isinstance(config, dict) and isinstance(observations, dict) and isinstance(digest, str):
                    self.current[key] = entry
                    unreadable = dict(resource.unreadable)
                    observations = {**observations, **observed_now}
                    yield Resource(resource.identity, config, unreadable, observations, digest)
                    continue
            normalised = normalise_resource(resource, self.redactor)
            kept = {k: v for k, v in normalised.observations.items() if k not in observed_now}
            self.current[key] = [normalised.config, kept, normalised.digest]
            yield normalised

    def save(self) -> None:
        """Keep this run's entries for the next run (best effort: without it the next run is slower)."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        document = {"fingerprint": self.fingerprint, "entries": self.current}
        with contextlib.suppress(OSError, TypeError):  # TypeError: a value orjson cannot write
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(orjson.dumps(document))
            os.replace(temporary, self.path)
        temporary.unlink(missing_ok=True)
