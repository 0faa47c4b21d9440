"""The comparator: only documents whose content differs go to deepdiff, and no change is ever hidden."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import NotPresent

from driftwatch.model import Against, Change, JSONValue, ResourceId
from driftwatch.normalise import canonical_text

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MISSING = object()


def format_path(parts: list[Any]) -> str:
    """``PublicAccessBlock.BlockPublicAcls``, ``Ingress["tcp/22"]``, ``Policy.Statement[0]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f'["{part}"]'
    return text


def diff_configs(
    resource: ResourceId,
    before: Mapping[str, JSONValue] | None,
    after: Mapping[str, JSONValue] | None,
    against: Against,
) -> tuple[Change, ...]:
    """The changes from ``before`` to ``after``; a whole resource added or removed has the path ``""``.

    Lists in canonical documents are sets in a stable order, so a change inside a list is
    reported once, as the whole list before and after: readable, and immune to shifted positions.
    """
    if before is after:  # an unchanged resource shares one document with its previous state
        return ()
    if before is None or after is None:
        return (Change(resource, "", before, after, against),)
    # Only the top-level settings whose text differs go to deepdiff, one at a time: its cost grows
    # with what it is given, and a change the fleet shares (a provider default) is diffed once.
    changes: dict[str, Change] = {}
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if old is new:
            continue  # one object (see ``share_unchanged``), or absent from both
        if old is not _MISSING and new is not _MISSING:
            old_text, new_text = canonical_text(old), canonical_text(new)
            if old_text == new_text:
                continue
            if isinstance(old, Mapping) and isinstance(new, Mapping):
                for parts, was, now in _dict_changes(old_text, new_text):
                    path = format_path([key, *parts])
                    changes.setdefault(path, Change(resource, path, was, now, against))
                continue
        path = format_path([key])
        changes.setdefault(
            path,
            Change(
                resource, path, None if old is _MISSING else old, None if new is _MISSING else new, against
            ),
        )
    return tuple(changes[p] for p in sorted(changes))


def share_unchanged(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``before`` with each of its values that is unchanged in ``after`` (the same canonical text)
    replaced by ``after``'s own object.

    A previous version read back from git is a second copy of everything that did not change:
    at tens of thousands of resources changed in one setting each (a provider default), that
    copy is hundreds of megabytes. Shared, it is not kept twice, and ``diff_configs`` passes
    over what is one object without writing its text.
    """
    shared = dict(before)
    for key, old in before.items():
        new = after.get(key, _MISSING)
        # == first: unequal values are different (a NaN that is not, is merely not shared), and
        # the texts tell the equal ones that are not the same (1 and 1.0, True and 1) apart.
        if new is not _MISSING and old == new and canonical_text(old) == canonical_text(new):
            shared[key] = new
    return shared


@functools.lru_cache(maxsize=1024)
def _dict_changes(
    before_text: str, after_text: str
) -> tuple[tuple[tuple[Any, ...], JSONValue, JSONValue], ...]:
    """deepdiff's changes between two JSON objects given as canonical text: (path parts, before, after).

    A change inside a list is cut at the list, reported as the whole list before and after.
    """
    before, after = json.loads(before_text), json.loads(after_text)
    # threshold_to_diff_deeper=0: never collapse a document into one root change (case 16).
    diff = DeepDiff(before, after, view="tree", verbose_level=2, threshold_to_diff_deeper=0)
    found: list[tuple[tuple[Any, ...], JSONValue, JSONValue]] = []
    for levels in diff.values():
        for level in levels:
            parts = level.path(output_format="list")
            cut = next((i for i, p in enumerate(parts) if isinstance(p, int)), None)
            if cut is not None:
                parts = parts[:cut]
                old, new = _get(before, parts), _get(after, parts)
            else:
                old = None if isinstance(level.t1, NotPresent) else level.t1
                new = None if isinstance(level.t2, NotPresent) else level.t2
            found.append((tuple(parts), old, new))
    return tuple(found)


def _get(document: Any, parts: list[Any]) -> Any:
    for part in parts:
        if not isinstance(document, Mapping) or part not in document:
            return None
        document = document[part]
    return document


def pinned(current: Any, baseline: Any) -> Any:
    """The part of ``current`` that a (possibly partial) ``baseline`` pins.

    A baseline object pins only its own keys; a key it names that ``current`` lacks is kept
    out, so the diff reports it as removed.
    """
    if isinstance(baseline, Mapping) and isinstance(current, Mapping):
        return {k: pinned(current[k], v) for k, v in baseline.items() if k in current}
    return current
