"""Declarative per-resource reads: each field of a resource document is one AWS call and an extractor."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftwatch.collectors.aws.calls import ABSENT, ReadFailure, call
from driftwatch.model import CoverageGap, JSONValue, ResourceId


@dataclass(frozen=True)
class FieldRead:
    """One field of a resource document: the call that reads it and how to pick the value.

    ``absent`` is the value stored when AWS answers "nothing configured".
    """

    field: str
    operation: str
    extract: Callable[[Mapping[str, Any]], JSONValue]
    absent: JSONValue = None


@dataclass
class FieldResult:
    """The readable fields of one resource, and the fields that could not be read."""

    config: dict[str, JSONValue] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    gaps: list[CoverageGap] = field(default_factory=list)


def read_fields(client: Any, identity: ResourceId, reads: Sequence[FieldRead], **kwargs: Any) -> FieldResult:
    """Make each read for one resource; a failed read becomes a gap, never a value."""
    result = FieldResult()
    for read in reads:
        try:
            answer = call(client, read.operation, **kwargs)
        except ReadFailure as failure:
            result.unreadable[read.field] = failure.code
            result.gaps.append(
                CoverageGap(
                    identity.scope,
                    failure.api_call,
                    failure.kind,
                    failure.code,
                    failure.message,
                    identity,
                    read.field,
                )
            )
            continue
        result.config[read.field] = read.absent if answer is ABSENT else read.extract(answer)
    return result


def tag_map(tags: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    """AWS's ``[{"Key": k, "Value": v}]`` as ``{k: v}``."""
    return {t["Key"]: t.get("Value", "") for t in tags or ()}
