"""Declarative per-resource reads: each field of a resource document is one AWS call and an extractor."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftwatch.collectors.aws.calls import ABSENT, ReadFailure, call, paginate
from driftwatch.model import CoverageGap, JSONValue, ResourceId


@dataclass(frozen=True)
class FieldRead:
    """One field of a resource document: the call that reads it and how to pick the value.

    ``absent`` is the value stored when AWS answers "nothing configured", which is one of
    ``calls.ABSENT_CODES`` or, for this call only, one of ``absent_codes`` (Lambda answers
    ``ResourceNotFoundException`` for a function without a URL or a policy). An answer with one of
    those codes whose message begins with one of ``gone_messages`` is about the resource itself
    ("Function not found"): a failed read, which ``ListedType.gone_codes`` can call gone. With
    ``items``, the call is paginated and ``extract`` gets the list of every page's ``items``.
    """

    field: str
    operation: str
    extract: Callable[[Any], JSONValue]
    absent: JSONValue = None
    items: str | None = None
    absent_codes: frozenset[str] = frozenset()
    gone_messages: tuple[str, ...] = ()


@dataclass
class FieldResult:
    """The readable fields of one resource, and the fields that could not be read."""

    identity: ResourceId
    config: dict[str, JSONValue] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    gaps: list[CoverageGap] = field(default_factory=list)

    def failed(self, name: str, failure: ReadFailure) -> None:
        """Record that field ``name`` could not be read: a gap, never a value."""
        self.unreadable[name] = failure.code
        self.gaps.append(failure.gap(self.identity.scope, self.identity, name))


def read_fields(client: Any, identity: ResourceId, reads: Sequence[FieldRead], **kwargs: Any) -> FieldResult:
    """Make each read for one resource; a failed read becomes a gap, never a value."""
    result = FieldResult(identity)
    for read in reads:
        try:
            if read.items:
                answer = paginate(client, read.operation, read.items, **kwargs)
            else:
                answer = call(client, read.operation, **kwargs)
        except ReadFailure as failure:
            if failure.code in read.absent_codes and not (
                read.gone_messages and failure.message.startswith(read.gone_messages)
            ):
                result.config[read.field] = read.absent
            else:
                result.failed(read.field, failure)
            continue
        result.config[read.field] = read.absent if answer is ABSENT else read.extract(answer)
    return result


def tag_map(tags: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    """AWS's ``[{"Key": k, "Value": v}]`` as ``{k: v}``."""
    return {t["Key"]: t.get("Value", "") for t in tags or ()}
