"""The catalogue of dated provider default changes, and how a resource's change is matched to one."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fnmatch import fnmatchcase
from functools import cache
from typing import Any, Literal

from driftwatch.defaults import default_text
from driftwatch.errors import BaselineError
from driftwatch.model import KnownChange, Severity

CATALOGUE = "provider-changes.toml"
_TOKEN = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\*|\d+)\]|\["([^"]*)"\]')
_ABSENT: list[Any] = []


@dataclass(frozen=True)
class Condition:
    """What the value at a path must be: absent (missing or null), or equal to ``value``."""

    absent: bool
    value: Any = None

    def holds(self, values: list[Any]) -> bool:
        """True when the values found at the path satisfy the condition."""
        present = [v for v in values if v is not None]
        if self.absent:
            return not present
        return bool(present) and all(v == self.value for v in present)


@dataclass(frozen=True)
class Match:
    """One path of a catalogue entry, with the value before and after the provider's change."""

    path: str
    before: Condition
    after: Condition


@dataclass(frozen=True)
class CatalogueEntry:
    """One known provider default change: its label, where it applies, and what it looks like."""

    known: KnownChange
    provider: str
    type: str
    applies_to: Literal["existing", "new"]
    severity: Severity
    matches: tuple[Match, ...]
    ignore: frozenset[str] = frozenset()
    created: tuple[str, ...] = ()
    """("new" entries) the config keys that may hold when a resource was created (an RDS
    instance's ``InstanceCreateTime``, a cluster's ``ClusterCreateTime``): the first one present."""

    def created_before(self, config: Mapping[str, Any]) -> bool:
        """True when ``config`` says its resource was created before the change's date: then a
        difference from the older resources is configuration, not the new default."""
        value = next((config[key] for key in self.created if config.get(key)), None)
        try:
            when = datetime.fromisoformat(str(value)) if value else None
        except ValueError:
            return False
        return when is not None and when.date() < self.known.date

    def applies(self, provider: str, type_: str) -> bool:
        """True for resources of the provider and type the entry is about."""
        return provider == self.provider and fnmatchcase(type_, self.type)

    def explains(self, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> bool:
        """True when going from ``before`` to ``after`` is exactly what this entry describes."""
        if before is None or after is None:
            return False
        return all(
            m.before.holds(values_at(before, m.path)) and m.after.holds(values_at(after, m.path))
            for m in self.matches
        )

    def still_before(self, config: Mapping[str, Any]) -> bool:
        """True when ``config`` still has what the entry's change replaces (an unencrypted bucket)."""
        return all(m.before.holds(values_at(config, m.path)) for m in self.matches)

    @property
    def top_level_keys(self) -> frozenset[str]:
        """The top-level config keys the entry's paths live under."""
        return frozenset(_tokens(m.path)[0] for m in self.matches)


def values_at(document: Any, path: str) -> list[Any]:
    """The values at ``path`` in ``document``; ``[*]`` expands to every element of a list."""
    found = [document]
    for token in _tokens(path):
        following: list[Any] = []
        for value in found:
            if token == "*":
                following.extend(value if isinstance(value, list) else [])
            elif isinstance(token, int):
                if isinstance(value, list) and token < len(value):
                    following.append(value[token])
            elif isinstance(value, Mapping) and token in value:
                following.append(value[token])
        found = following
    return found


def path_tokens(path: str) -> list[Any]:
    """The keys (and ``*`` or list indexes) of a path such as ``Ingress["tcp/22"]``; ValueError if
    it cannot be read."""
    return _tokens(path)


def _tokens(path: str) -> list[Any]:
    tokens: list[Any] = []
    position = 0
    while position < len(path):
        token = _TOKEN.match(path, position)
        if token is None:
            raise ValueError(f"cannot read path {path!r} at character {position + 1}")
        name, index, quoted = token.groups()
        if name is not None:
            tokens.append(name)
        elif quoted is not None:
            tokens.append(quoted)
        else:
            tokens.append("*" if index == "*" else int(index))
        position = token.end()
    if not tokens or not isinstance(tokens[0], str) or tokens[0] == "*":
        raise ValueError(f"path {path!r} must start with a key")
    return tokens


@cache
def default_catalogue() -> tuple[CatalogueEntry, ...]:
    """The catalogue shipped with driftwatch."""
    return parse_catalogue(default_text(CATALOGUE), f"driftwatch/defaults/{CATALOGUE}")


def parse_catalogue(text: str, label: str) -> tuple[CatalogueEntry, ...]:
    """Every entry of a catalogue file; BaselineError naming the file, entry and key otherwise."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BaselineError(f"{label}: not valid TOML: {exc}") from None
    entries = raw.get("change", [])
    if set(raw) - {"change"} or not isinstance(entries, list):
        raise BaselineError(f"{label}: only [[change]] tables belong here")
    return tuple(_entry(f"{label}: [[change]] #{i + 1}", table) for i, table in enumerate(entries))


def _entry(where: str, table: Mapping[str, Any]) -> CatalogueEntry:
    def text(key: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value:
            raise BaselineError(f"{where} {key}: required, a non-empty string")
        return value

    expected = {"id", "provider", "type", "date", "title", "url", "effect", "applies_to", "severity"}
    unknown = sorted(set(table) - expected - {"ignore", "match", "created"})
    if unknown:
        raise BaselineError(f"{where} {unknown[0]}: unknown key")
    identifier, provider, type_, title, url = (text(k) for k in ("id", "provider", "type", "title", "url"))
    when = table.get("date")
    if not isinstance(when, date):
        raise BaselineError(f"{where} date: required, a TOML date such as 2023-01-05")
    effect, applies_to = text("effect"), text("applies_to")
    if effect not in ("tightens", "loosens", "neutral"):
        raise BaselineError(f"{where} effect: one of tightens, loosens, neutral, not {effect!r}")
    if applies_to not in ("existing", "new"):
        raise BaselineError(f"{where} applies_to: one of existing, new, not {applies_to!r}")
    try:
        severity = Severity.parse(text("severity"))
    except ValueError as exc:
        raise BaselineError(f"{where} severity: {exc}") from None
    ignore = table.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(k, str) for k in ignore):
        raise BaselineError(f"{where} ignore: a list of key names")
    created = table.get("created", [])
    created = [created] if isinstance(created, str) else created
    if created and (
        not isinstance(created, list)
        or not all(isinstance(k, str) and k for k in created)
        or applies_to != "new"
    ):
        raise BaselineError(
            f'{where} created: a config key name or a list of them, and only with applies_to = "new"'
        )
    matches = table.get("match")
    if not isinstance(matches, list) or not matches:
        raise BaselineError(f"{where}: needs at least one [[change.match]]")
    known = KnownChange(identifier, when, title, url, effect)  # type: ignore[arg-type]
    return CatalogueEntry(
        known,
        provider,
        type_,
        applies_to,  # type: ignore[arg-type]
        severity,
        tuple(_match(f"{where} match #{i + 1}", m) for i, m in enumerate(matches)),
        frozenset(ignore),
        tuple(created),
    )


def _match(where: str, table: Any) -> Match:
    if not isinstance(table, Mapping) or set(table) != {"path", "before", "after"}:
        raise BaselineError(f"{where}: needs exactly path, before and after")
    path = table["path"]
    try:
        _tokens(path if isinstance(path, str) else "")
    except ValueError as exc:
        raise BaselineError(f"{where} path: {exc}") from None
    return Match(
        path, _condition(f"{where} before", table["before"]), _condition(f"{where} after", table["after"])
    )


def _condition(where: str, table: Any) -> Condition:
    if isinstance(table, Mapping) and table == {"absent": True}:
        return Condition(absent=True)
    if isinstance(table, Mapping) and set(table) == {"equals"}:
        return Condition(absent=False, value=table["equals"])
    raise BaselineError(f"{where}: {{absent = true}} or {{equals = VALUE}}")


def explaining(
    catalogue: Sequence[CatalogueEntry],
    provider: str,
    type_: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> CatalogueEntry | None:
    """The first "existing" entry that explains a resource going from ``before`` to ``after``."""
    for entry in catalogue:
        if (
            entry.applies_to == "existing"
            and entry.applies(provider, type_)
            and entry.explains(before, after)
        ):
            return entry
    return None
