"""JSON paths (RFC 9535, through python-jsonpath): compiled once, matched, deleted or replaced in place.

Collectors use them to pick items, ids, volatile and secret fields; declarative rules use them to
name the setting they judge. A path may start with ``$`` or not: ``$.a.b`` and ``a.b`` are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driftwatch.compare import format_path
from driftwatch.model import JSONValue

Parts = tuple[str | int, ...]


@dataclass(frozen=True)
class Path:
    """One compiled JSON path and the text it was written as."""

    text: str
    compiled: Any  # jsonpath's JSONPath or CompoundJSONPath

    def find(self, document: JSONValue) -> list[tuple[Parts, JSONValue]]:
        """Every value the path matches, with where it is (keys and indices from the root)."""
        return [(tuple(m.parts), m.obj) for m in self.compiled.finditer(document)]

    def values(self, document: JSONValue) -> list[JSONValue]:
        """Every value the path matches."""
        return [value for _, value in self.find(document)]

    def __str__(self) -> str:
        return self.text


def compile_path(text: str) -> Path:
    """The compiled path; ValueError with the first line of the parser's reason otherwise."""
    if not text.strip():
        raise ValueError("empty JSON path")
    import jsonpath  # here: the library takes longer to import than most commands that never compile a path

    try:
        compiled = jsonpath.compile(text)
    except jsonpath.JSONPathError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{text!r} is not a JSON path: {first}") from None
    return Path(text, compiled)


def container_of(path: Path) -> Path | None:
    """The path of the list or object whose every member ``path`` names (``$.a[*]`` -> ``$.a``).

    None when ``path`` does not end in ``[*]`` or ``.*``: then it names no single container.
    """
    text = path.text.strip()
    for wildcard in ("[*]", ".*"):
        if text.endswith(wildcard):
            rest = text.removesuffix(wildcard)
            return compile_path(rest if rest not in ("", "$") else "$")
    return None


def readable(parts: Parts) -> str:
    """Where a match is, written as the comparator writes change paths (``a.b[0]["c d"]``)."""
    return format_path(list(parts))


def delete_matches(document: JSONValue, path: Path) -> None:
    """Remove, in place, every value ``path`` matches (the root itself is never removed)."""
    found = [parts for parts, _ in path.find(document) if parts]
    # Deepest and last first, so that removing one match never shifts the index of another.
    for parts in sorted(found, key=lambda p: (len(p), p[-1] if isinstance(p[-1], int) else -1), reverse=True):
        parent = _at(document, parts[:-1])
        if isinstance(parent, dict | list):
            del parent[parts[-1]]  # type: ignore[arg-type]


def replace_matches(document: JSONValue, path: Path, replace: Callable[[JSONValue], JSONValue]) -> None:
    """Replace, in place, every value ``path`` matches by ``replace(value)`` (never the root)."""
    for parts, value in path.find(document):
        if not parts:
            continue
        parent = _at(document, parts[:-1])
        if isinstance(parent, dict | list):
            parent[parts[-1]] = replace(value)  # type: ignore[index]


def _at(document: JSONValue, parts: Parts) -> JSONValue:
    for part in parts:
        document = document[part]
    return document
