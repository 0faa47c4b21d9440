"""Resource types described as data: "list, then describe each", and one-per-region settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ReadFailure, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead, FieldResult, read_fields
from driftwatch.model import CoverageGap, JSONValue, Resource, ResourceId, Scope


@dataclass(frozen=True)
class ListedType:
    """A resource type that one paginated call lists and a few calls describe, one resource each.

    ``identify(item, account, region)`` gives a listed item's id and ARN; ``base(item)`` is the
    part of its config that the listing already holds; each of ``reads`` is one more field,
    called with ``arguments(item)``. A read that fails with one of ``gone_codes`` means the
    resource was deleted after the listing, so it is left out as a deleted resource is.
    ``broken(item)`` names fields the listing holds but could not fill (field -> error code).
    ``list_arguments(account)`` are the listing's arguments. ``details(client, identity, item)``
    makes the reads that depend on another answer (each Lambda alias's URL), after ``reads``.
    """

    type: str
    client: str
    list_operation: str
    items: str
    identify: Callable[[Any, str, str], tuple[str, str | None]]
    base: Callable[[Any], dict[str, JSONValue]]
    reads: tuple[FieldRead, ...] = ()
    arguments: Callable[[Any], dict[str, Any]] = lambda _item: {}
    list_arguments: Callable[[str], dict[str, Any]] = lambda _account: {}
    gone_codes: frozenset[str] = frozenset()
    broken: Callable[[Any], dict[str, str]] = lambda _item: {}
    details: Callable[[Any, ResourceId, Any], FieldResult] | None = None


def collect_listed(ctx: AwsContext, region: str, kind: ListedType) -> Collection:
    """Every resource of ``kind`` in one region, described concurrently; gaps for failed reads."""
    scope = Scope("aws", ctx.account, region, kind.type)
    client = ctx.client(kind.client, region)
    try:
        items = paginate(client, kind.list_operation, kind.items, **kind.list_arguments(ctx.account))
    except ReadFailure as failure:
        return Collection(gaps=(failure.gap(scope),))
    resources: list[Resource] = []
    gaps: list[CoverageGap] = []
    for resource, item_gaps in ctx.map(lambda item: _describe(ctx, client, region, kind, item), items):
        if resource is not None:
            resources.append(resource)
        gaps.extend(item_gaps)
    return Collection(tuple(resources), frozenset({scope}), tuple(gaps))


def _describe(
    ctx: AwsContext, client: Any, region: str, kind: ListedType, item: Any
) -> tuple[Resource | None, list[CoverageGap]]:
    id_, arn = kind.identify(item, ctx.account, region)
    identity = ResourceId("aws", ctx.account, region, kind.type, id_, arn)
    fields = read_fields(client, identity, kind.reads, **kind.arguments(item))
    if kind.details is not None and not _gone(kind, fields):
        more = kind.details(client, identity, item)
        fields.config |= more.config
        fields.unreadable |= more.unreadable
        fields.gaps.extend(more.gaps)
    if _gone(kind, fields):
        return None, []
    config = kind.base(item)
    for name, code in kind.broken(item).items():
        config.pop(name, None)
        fields.unreadable[name] = code
        message = f"the listing could not fill {name} ({code})"
        gap = CoverageGap(identity.scope, _api_call(client, kind.list_operation), "error", code, message)
        fields.gaps.append(
            CoverageGap(gap.scope, gap.api_call, gap.kind, gap.code, gap.message, identity, name)
        )
    return Resource(identity, config | fields.config, fields.unreadable), fields.gaps


def _gone(kind: ListedType, fields: FieldResult) -> bool:
    return any(code in kind.gone_codes for code in fields.unreadable.values())


def collect_settings(
    ctx: AwsContext, region: str, type_: str, client: str, reads: tuple[FieldRead, ...]
) -> Collection:
    """A one-per-region settings resource (id ``account``), one field per read.

    Its scope counts as read only when every field was read, as for S3's account-level block.
    """
    identity = ResourceId("aws", ctx.account, region, type_, "account")
    fields = read_fields(ctx.client(client, region), identity, reads)
    scopes = frozenset() if fields.unreadable else frozenset({identity.scope})
    return Collection((Resource(identity, fields.config, fields.unreadable),), scopes, tuple(fields.gaps))


def pick(item: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, JSONValue]:
    """The ``keys`` of ``item`` that it has: settings kept, read-time facts and counters left out."""
    return {key: item[key] for key in keys if key in item}


def _api_call(client: Any, operation: str) -> str:
    return f"{client.meta.service_model.service_name}.{operation}"
