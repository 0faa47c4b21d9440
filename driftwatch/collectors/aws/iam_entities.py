"""IAM roles (trust policy and permissions), groups, and customer-managed policies (default version)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ABSENT, ReadFailure, call, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead, read_fields, tag_map
from driftwatch.model import GLOBAL_REGION, CoverageGap, JSONValue, Resource, ResourceId, Scope

ROLE = "iam/role"
GROUP = "iam/group"
POLICY = "iam/policy"


def _policy_arns(items: list[dict[str, Any]]) -> JSONValue:
    return [p["PolicyArn"] for p in items]


ROLE_READS = (
    FieldRead("AttachedPolicies", "list_attached_role_policies", _policy_arns, items="AttachedPolicies"),
    FieldRead(
        "PermissionsBoundary",
        "get_role",
        lambda a: (a["Role"].get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
    ),
    FieldRead("Tags", "list_role_tags", tag_map, items="Tags"),
)
"""Each field of an ``iam/role`` document read per role (snapshots/README.md)."""

GROUP_READS = (
    FieldRead("AttachedPolicies", "list_attached_group_policies", _policy_arns, items="AttachedPolicies"),
    FieldRead("Members", "get_group", lambda items: [u["UserName"] for u in items], items="Users"),
)
"""Each field of an ``iam/group`` document read per group (snapshots/README.md)."""

POLICY_READS = (FieldRead("Document", "get_policy_version", lambda a: a["PolicyVersion"]["Document"]),)
"""The default version's document of a customer-managed policy (``iam/policy``)."""


def inline_policies(client: Any, kind: str, name: str) -> dict[str, JSONValue]:
    """Every inline policy of one user, group or role (``kind``), by name; failures raise ReadFailure."""
    named = {f"{kind.capitalize()}Name": name}
    policies: dict[str, JSONValue] = {}
    for policy_name in paginate(client, f"list_{kind}_policies", "PolicyNames", **named):
        answer = call(client, f"get_{kind}_policy", PolicyName=policy_name, **named)
        if answer is not ABSENT:
            policies[policy_name] = answer["PolicyDocument"]
    return policies


def collect_roles(ctx: AwsContext, client: Any) -> Collection:
    """Every role: trust policy, inline and attached policies, permissions boundary, tags."""

    def role(item: dict[str, Any]) -> tuple[Resource, list[CoverageGap]]:
        name = item["RoleName"]
        keep = ("Arn", "AssumeRolePolicyDocument", "CreateDate", "Description", "MaxSessionDuration")
        config = {k: item.get(k) for k in (*keep, "Path", "RoleName")}
        return _entity(ctx, client, ROLE, item, config, ROLE_READS, "role", RoleName=name)

    return _listing(ctx, client, ROLE, "list_roles", "Roles", role)


def collect_groups(ctx: AwsContext, client: Any) -> Collection:
    """Every group: members, inline and attached policies."""

    def group(item: dict[str, Any]) -> tuple[Resource, list[CoverageGap]]:
        config = {k: item.get(k) for k in ("Arn", "CreateDate", "GroupName", "Path")}
        return _entity(ctx, client, GROUP, item, config, GROUP_READS, "group", GroupName=item["GroupName"])

    return _listing(ctx, client, GROUP, "list_groups", "Groups", group)


def collect_policies(ctx: AwsContext, client: Any) -> Collection:
    """Every customer-managed policy with its default version's document.

    ``AttachmentCount`` and ``UpdateDate`` are left out: they change with other resources'
    attachments and with each new version, which the document and ``DefaultVersionId`` show.
    """

    def policy(item: dict[str, Any]) -> tuple[Resource, list[CoverageGap]]:
        identity = ResourceId("aws", ctx.account, GLOBAL_REGION, POLICY, item["PolicyName"], item["Arn"])
        version = item["DefaultVersionId"]
        fields = read_fields(client, identity, POLICY_READS, PolicyArn=item["Arn"], VersionId=version)
        keep = ("Arn", "CreateDate", "DefaultVersionId", "IsAttachable", "Path", "PolicyName")
        config = {k: item.get(k) for k in keep} | fields.config
        return Resource(identity, config, fields.unreadable), fields.gaps

    return _listing(ctx, client, POLICY, "list_policies", "Policies", policy, Scope="Local")


def _entity(
    ctx: AwsContext,
    client: Any,
    type_: str,
    item: dict[str, Any],
    config: dict[str, Any],
    reads: Sequence[FieldRead],
    kind: str,
    **named: str,
) -> tuple[Resource, list[CoverageGap]]:
    (name,) = named.values()
    identity = ResourceId("aws", ctx.account, GLOBAL_REGION, type_, name, item["Arn"])
    fields = read_fields(client, identity, reads, **named)
    try:
        fields.config["InlinePolicies"] = inline_policies(client, kind, name)
    except ReadFailure as failure:
        fields.failed("InlinePolicies", failure)
    return Resource(identity, config | fields.config, fields.unreadable), fields.gaps


def _listing(
    ctx: AwsContext,
    client: Any,
    type_: str,
    operation: str,
    key: str,
    read_one: Callable[[dict[str, Any]], tuple[Resource, list[CoverageGap]]],
    **kwargs: Any,
) -> Collection:
    """List, then read each item concurrently: a failed listing is a gap for the whole scope."""
    scope = Scope("aws", ctx.account, GLOBAL_REGION, type_)
    try:
        items = paginate(client, operation, key, **kwargs)
    except ReadFailure as failure:
        return Collection(gaps=(failure.gap(scope),))
    resources: list[Resource] = []
    gaps: list[CoverageGap] = []
    for resource, item_gaps in ctx.map(read_one, items):
        resources.append(resource)
        gaps.extend(item_gaps)
    return Collection(tuple(resources), frozenset({scope}), tuple(gaps))
