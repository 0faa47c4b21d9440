"""Collectors: the interface every collector implements and the registry of built-in ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from driftwatch.model import CoverageGap, Resource, Scope


@dataclass(frozen=True)
class Collection:
    """What one collector read (resources, complete listings) and what it could not read (gaps)."""

    resources: tuple[Resource, ...] = ()
    scopes_read: frozenset[Scope] = frozenset()
    gaps: tuple[CoverageGap, ...] = ()
    tool_versions: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    """The accounts reached, each with how (``credentials``, ``profile NAME``, ``role ARN``)."""
    disabled_regions: frozenset[Scope] = frozenset()
    """Region-wide scopes the account has not enabled (read nothing there, delete nothing there)."""

    def merge(self, other: Collection) -> Collection:
        """Both collections as one."""
        return Collection(
            self.resources + other.resources,
            self.scopes_read | other.scopes_read,
            self.gaps + other.gaps,
            {**self.tool_versions, **other.tool_versions},
            {**self.accounts, **other.accounts},
            self.disabled_regions | other.disabled_regions,
        )


@dataclass(frozen=True)
class Progress:
    """How far a collection is: steps done out of those known so far, and the step just done.

    The total grows as the collection finds out what there is to read (the accounts of an
    organization, the regions enabled in each).
    """

    done: int
    total: int
    step: str


class Collector(Protocol):
    """Reads settings from one provider. Failures are returned as gaps, not raised, except a
    failure of the whole provider (credentials rejected), which raises CollectError."""

    def collect(self) -> Collection:
        """Read every configured scope."""


CollectorFactory = Callable[..., Any]
COLLECTORS: dict[str, CollectorFactory] = {}


def register(name: str) -> Callable[[CollectorFactory], CollectorFactory]:
    """Register a collector factory under ``name``."""

    def add(factory: CollectorFactory) -> CollectorFactory:
        COLLECTORS[name] = factory
        return factory

    return add


@dataclass(frozen=True)
class Collectors:
    """Several collectors as one (AWS and each configured SaaS collector): their collections merged.

    Each collector reads its own scopes, so one that fails leaves the others' files untouched.
    """

    parts: tuple[Collector, ...]

    def collect(self) -> Collection:
        """Every part's collection, merged in order."""
        result = Collection()
        for part in self.parts:
            result = result.merge(part.collect())
        return result
