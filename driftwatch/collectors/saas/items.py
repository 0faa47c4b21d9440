"""From JSON documents to resources: the items, their ids, volatile fields dropped, secrets redacted."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from driftwatch.collectors.saas.settings import ResourceSpec, SaasSettings
from driftwatch.jsonpaths import delete_matches, replace_matches
from driftwatch.layout import SAAS
from driftwatch.model import GLOBAL_REGION, GapKind, JSONValue, Resource, ResourceId, Scope
from driftwatch.normalise import Redactor, canonical_text


class ReadFailure(Exception):
    """One resource type could not be read (completely): it becomes a coverage gap, never deletions."""

    def __init__(self, kind: GapKind, code: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.code, self.message = kind, code, message


@dataclass(frozen=True)
class Items:
    """Turns the documents read for one resource type into that type's resources."""

    settings: SaasSettings
    spec: ResourceSpec
    redactor: Redactor

    @property
    def scope(self) -> Scope:
        """The listing these resources come from: a collector's type is read whole, or not at all."""
        return Scope(SAAS, self.settings.name, GLOBAL_REGION, self.settings.type_of(self.spec))

    def select(self, document: JSONValue) -> list[JSONValue]:
        """The items in one document (one page): what ``items`` matches, or the document itself."""
        if self.spec.items is None:
            return [document]
        found = self.spec.items.find(document)
        if not found and (self.spec.items_optional or self._empty_container(document)):
            return []
        if not found:
            raise ReadFailure(
                "error",
                "NoItems",
                f"the answer has nothing at items = {self.spec.items} (an error page, or the API changed?)",
            )
        if len(found) == 1 and isinstance(found[0][1], list):  # "$.value" names the list itself
            return list(found[0][1])
        return [value for _, value in found]

    def _empty_container(self, document: JSONValue) -> bool:
        """True when the list (or object) that ``items`` takes every member of is there, and empty.

        An empty list is zero items, so the last one deleted is recorded as deleted; a missing
        list is a gap (an error page must never delete anything).
        """
        if self.spec.items_container is None:
            return False
        containers = self.spec.items_container.values(document)
        return bool(containers) and all(c == [] or c == {} for c in containers)

    def resources(self, items: Iterable[JSONValue]) -> list[Resource]:
        """One resource per item, each with its id; a missing or repeated id fails the whole type."""
        resources: dict[str, Resource] = {}
        for index, item in enumerate(items):
            config = copy.deepcopy(item) if isinstance(item, dict) else {"value": copy.deepcopy(item)}
            id_ = self._id(index, config)
            if id_ in resources:
                raise ReadFailure(
                    "error", "DuplicateId", f"two items have the id {id_!r} (at {self.spec.id})"
                )
            for path in self.spec.volatile:
                delete_matches(config, path)
            for path in self.spec.redact:
                replace_matches(config, path, self._redact)
            identity = ResourceId(
                SAAS, self.settings.name, GLOBAL_REGION, self.settings.type_of(self.spec), id_
            )
            resources[id_] = Resource(identity, config)
        return list(resources.values())

    def _id(self, index: int, item: JSONValue) -> str:
        if self.spec.id is None:
            return self.spec.fixed_id
        values = [
            v for v in self.spec.id.values(item) if isinstance(v, str | int) and not isinstance(v, bool)
        ]
        if len(values) != 1 or str(values[0]) == "":
            raise ReadFailure("error", "NoId", f"item {index} has no single id at id = {self.spec.id}")
        return str(values[0])

    def _redact(self, value: JSONValue) -> JSONValue:
        if value is None:
            return None  # "not set" stays visible: it is not a secret
        return self.redactor.redact(value if isinstance(value, str) else canonical_text(value))
