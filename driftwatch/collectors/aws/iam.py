"""IAM: users (console password, MFA, keys, policies, groups), password policy, account summary.

Roles, groups and customer-managed policies are read by ``iam_entities``; ``collect_iam`` reads all.
"""

from __future__ import annotations

from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ABSENT, ReadFailure, call, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead, read_fields, tag_map
from driftwatch.collectors.aws.iam_entities import (
    collect_groups,
    collect_policies,
    collect_roles,
    inline_policies,
)
from driftwatch.model import GLOBAL_REGION, CoverageGap, JSONValue, Resource, ResourceId, Scope

USER = "iam/user"
PASSWORD_POLICY = "iam/password-policy"
ACCOUNT_SUMMARY = "iam/account-summary"
SUMMARY_KEYS = (
    "AccountAccessKeysPresent",
    "AccountMFAEnabled",
    "AccountPasswordPresent",
    "AccountSigningCertificatesPresent",
)
"""The root user's credentials in ``GetAccountSummary``; a key AWS does not return is left out."""


def collect_iam(ctx: AwsContext) -> Collection:
    """Every IAM user, read concurrently, the account's password policy and summary, and every role,
    group and customer-managed policy."""
    client = ctx.client("iam", ctx.home_region)
    result = _account_resources(ctx, client)
    for collect in (collect_roles, collect_groups, collect_policies):
        result = result.merge(collect(ctx, client))
    scope = Scope("aws", ctx.account, GLOBAL_REGION, USER)
    try:
        users = paginate(client, "list_users", "Users")
    except ReadFailure as failure:
        return result.merge(Collection(gaps=(failure.gap(scope),)))
    resources: list[Resource] = []
    gaps: list[CoverageGap] = []
    for resource, user_gaps in ctx.map(lambda user: _user(ctx, client, user), users):
        resources.append(resource)
        gaps.extend(user_gaps)
    return result.merge(Collection(tuple(resources), frozenset({scope}), tuple(gaps)))


USER_READS = (
    FieldRead(
        "LoginProfile",
        "get_login_profile",
        lambda a: {"PasswordResetRequired": a["LoginProfile"].get("PasswordResetRequired", False)},
    ),
    FieldRead(
        "MFADevices", "list_mfa_devices", lambda items: [d["SerialNumber"] for d in items], items="MFADevices"
    ),
    FieldRead(
        "AccessKeys",
        "list_access_keys",
        lambda items: [{k: key.get(k) for k in ("AccessKeyId", "CreateDate", "Status")} for key in items],
        items="AccessKeyMetadata",
    ),
    FieldRead(
        "AttachedPolicies",
        "list_attached_user_policies",
        lambda items: [p["PolicyArn"] for p in items],
        items="AttachedPolicies",
    ),
    FieldRead(
        "Groups", "list_groups_for_user", lambda items: [g["GroupName"] for g in items], items="Groups"
    ),
    FieldRead("Tags", "list_user_tags", tag_map, items="Tags"),
)
"""Each field of an ``iam/user`` document and the call that reads it (snapshots/README.md)."""


def _user(ctx: AwsContext, client: Any, user: dict[str, Any]) -> tuple[Resource, list[CoverageGap]]:
    name = user["UserName"]
    identity = ResourceId("aws", ctx.account, GLOBAL_REGION, USER, name, user["Arn"])
    observations: dict[str, JSONValue] = {}
    if "PasswordLastUsed" in user:
        observations["PasswordLastUsed"] = user["PasswordLastUsed"].isoformat()
    fields = read_fields(client, identity, USER_READS, UserName=name)
    try:
        fields.config["InlinePolicies"] = inline_policies(client, "user", name)
    except ReadFailure as failure:
        fields.failed("InlinePolicies", failure)
    config = {k: user.get(k) for k in ("Arn", "CreateDate", "Path", "UserName")} | fields.config
    observations.update(_key_last_used(client, fields.config.get("AccessKeys")))
    return Resource(identity, config, fields.unreadable, observations), fields.gaps


def _key_last_used(client: Any, keys: Any) -> dict[str, JSONValue]:
    """When each access key was last used: an observation (it changes on every use), never drift.

    A failed read is noted in the observation itself; it is not configuration, so it is no gap.
    """
    used: dict[str, JSONValue] = {}
    for key in keys if isinstance(keys, list) else []:
        key_id = str(key.get("AccessKeyId"))
        try:
            answer = call(client, "get_access_key_last_used", AccessKeyId=key_id)
            used[key_id] = {} if answer is ABSENT else dict(answer.get("AccessKeyLastUsed", {}))
        except ReadFailure as failure:
            used[key_id] = {"unknown": f"{failure.api_call} failed ({failure.code})"}
    return {"AccessKeyLastUsed": used} if used else {}


def _account_resources(ctx: AwsContext, client: Any) -> Collection:
    reads = {
        PASSWORD_POLICY: FieldRead(
            "PasswordPolicy", "get_account_password_policy", lambda a: a["PasswordPolicy"]
        ),
        ACCOUNT_SUMMARY: FieldRead(
            "SummaryMap",
            "get_account_summary",
            lambda a: {k: a["SummaryMap"][k] for k in SUMMARY_KEYS if k in a["SummaryMap"]},
        ),
    }
    result = Collection()
    for kind, read in reads.items():
        identity = ResourceId("aws", ctx.account, GLOBAL_REGION, kind, "account")
        fields = read_fields(client, identity, (read,))
        scopes = frozenset() if fields.unreadable else frozenset({identity.scope})
        result = result.merge(
            Collection((Resource(identity, fields.config, fields.unreadable),), scopes, tuple(fields.gaps))
        )
    return result
