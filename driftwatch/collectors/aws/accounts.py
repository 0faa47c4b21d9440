"""Which AWS accounts a run reads, and the boto3 session that reads each one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import botocore.session
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from driftwatch.collectors.aws.calls import ReadFailure, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.config import AwsSettings
from driftwatch.errors import CollectError

ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class AccountSource:
    """One account to read and how to get its credentials.

    ``account`` is known up front for assumed roles (the id is in the ARN) and found with
    ``sts.get_caller_identity`` for the credentials themselves and for profiles.
    """

    label: str
    account: str | None = None
    profile: str | None = None
    role_arn: str | None = None


def account_sources(settings: AwsSettings, base: AwsContext) -> list[AccountSource]:
    """The accounts the config names, in a stable order, each once.

    With none of ``profiles``, ``accounts``, ``organization`` and ``role_arn``, the one account
    the credentials belong to. Listing the organization's accounts is the only call made here.
    """
    if not settings.several_accounts:
        return [AccountSource("credentials")]
    sources = [AccountSource(f"profile {p}", profile=p) for p in settings.profiles]
    template = settings.role_arn or ""
    ids = list(settings.accounts)
    if settings.organization:
        ids += [a for a in organization_accounts(base) if a not in ids]
    if template and "{account}" not in template:
        ids = [template.split(":")[4]]
    if ids:
        own = caller_account(base)  # read directly: it needs no role (the management account has none)
        sources += [
            AccountSource("credentials", a)
            if a == own
            else AccountSource(f"role {template.format(account=a)}", a, role_arn=template)
            for a in ids
        ]
    return sources


def organization_accounts(base: AwsContext) -> list[str]:
    """The ids of the organization's active accounts, read with the base credentials.

    A failure stops the run: without the list, driftwatch cannot know which accounts to read.
    """
    try:
        listed = paginate(base.client("organizations", base.home_region), "list_accounts", "Accounts")
    except ReadFailure as failure:
        raise CollectError(
            f"{failure.api_call} failed ({failure.code}: {failure.message}), so [aws] organization = true "
            "cannot list the accounts to read; run driftwatch with the management account's (or a "
            "delegated administrator's) credentials and organizations:ListAccounts"
        ) from None
    # `State` replaces the deprecated `Status`; either says whether the account is active.
    return sorted(str(a["Id"]) for a in listed if a.get("State", a.get("Status")) == ACTIVE)


def caller_account(ctx: AwsContext) -> str:
    """The account the context's credentials belong to (``sts.get_caller_identity``)."""
    try:
        return str(ctx.client("sts", ctx.home_region).get_caller_identity()["Account"])
    except NoCredentialsError:
        raise CollectError(
            "AWS: no credentials found. Configure a profile ([aws] profile), "
            "environment variables or an SSO/role session for boto3."
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise CollectError(f"sts.get_caller_identity failed, so the account is unknown: {exc}") from None


def profile_session(name: str) -> boto3.session.Session:
    """A session with the named profile's credentials; CollectError when there is no such profile."""
    try:
        return boto3.session.Session(profile_name=name)
    except ProfileNotFound as exc:
        raise CollectError(str(exc)) from None


def assumed_role_session(base: AwsContext, source: AccountSource) -> boto3.session.Session:
    """A session that reads ``source``'s account through its role, renewing the credentials as they expire.

    The first ``sts.assume_role`` is made here, so that a role that cannot be assumed raises
    ReadFailure now (a gap for that account) rather than inside the first read.
    """
    settings = base.settings
    assert source.role_arn is not None and source.account is not None
    role_arn = source.role_arn.format(account=source.account)
    sts = base.client("sts", base.home_region)
    arguments: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": settings.role_session_name}
    if settings.external_id:
        arguments["ExternalId"] = settings.external_id

    def fetch() -> dict[str, Any]:
        from driftwatch.collectors.aws.calls import call

        credentials = call(sts, "assume_role", **arguments)["Credentials"]
        expiry = credentials["Expiration"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
        }

    credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "assume-role")
    core = botocore.session.get_session()
    # botocore has no public setter for refreshable credentials; this is the usual way in.
    core._credentials = credentials
    return boto3.session.Session(botocore_session=core)
