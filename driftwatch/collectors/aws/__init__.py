"""The AWS collector: one account through boto3, every configured service and enabled region."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from driftwatch.collectors import Collection, register
from driftwatch.collectors.aws.calls import ReadFailure
from driftwatch.collectors.aws.context import AwsContext, make_session
from driftwatch.collectors.aws.ec2 import SECURITY_GROUP, collect_security_groups
from driftwatch.collectors.aws.iam import collect_iam
from driftwatch.collectors.aws.regions import region_opt_in
from driftwatch.collectors.aws.s3 import collect_s3
from driftwatch.config import AwsSettings
from driftwatch.errors import CollectError, CredentialsRejected
from driftwatch.model import CoverageGap, Scope


@register("aws")
class AwsCollector:
    """Reads S3, EC2 and IAM settings of the account that boto3's credentials belong to."""

    def __init__(self, settings: AwsSettings, session: boto3.session.Session | None = None) -> None:
        self.settings = settings
        self._session = session

    def collect(self) -> Collection:
        """Read every configured service; gaps for what could not be read."""
        try:
            session = self._session or make_session(self.settings)
        except ProfileNotFound as exc:
            raise CollectError(f"[aws] profile: {exc}") from None
        with ThreadPoolExecutor(
            max_workers=self.settings.max_workers, thread_name_prefix="driftwatch-aws"
        ) as pool:
            ctx = AwsContext(self.settings, session, pool)
            ctx.account = self._account(ctx)
            result = Collection(tool_versions={"botocore": botocore.__version__})
            if "s3" in self.settings.services:
                result = result.merge(collect_s3(ctx))
            if "iam" in self.settings.services:
                result = result.merge(collect_iam(ctx))
            if "ec2" in self.settings.services:
                regions, status_known, skipped = self._regions(ctx)
                result = result.merge(skipped)
                for regional in ctx.map(lambda r: self._regional(ctx, r, status_known), regions):
                    result = result.merge(regional)
            return result

    def _regional(self, ctx: AwsContext, region: str, status_known: bool) -> Collection:
        """One region's security groups. Where the account's regions could not be listed,
        rejected credentials in a region mean "not enabled" (case 19), not a failed run."""
        try:
            return collect_security_groups(ctx, region)
        except CredentialsRejected as rejected:
            if status_known:
                raise
            gap = CoverageGap(
                Scope("aws", ctx.account, region, SECURITY_GROUP),
                rejected.api_call,
                "region-disabled",
                rejected.code,
                f"region {region}: credentials rejected ({rejected.code}) while the account's "
                "regions could not be listed; treated as a region not enabled and skipped",
            )
            return Collection(gaps=(gap,))

    def _account(self, ctx: AwsContext) -> str:
        sts = ctx.client("sts", ctx.home_region)
        try:
            return str(sts.get_caller_identity()["Account"])
        except NoCredentialsError:
            raise CollectError(
                "AWS: no credentials found. Configure a profile ([aws] profile), "
                "environment variables or an SSO/role session for boto3."
            ) from None
        except (ClientError, BotoCoreError) as exc:
            raise CollectError(f"sts.get_caller_identity failed, so the account is unknown: {exc}") from None

    def _regions(self, ctx: AwsContext) -> tuple[list[str], bool, Collection]:
        """The regions to read, whether their opt-in status is known, and a gap for each configured
        region the account has not enabled (case 19)."""
        wanted = None if self.settings.all_regions else list(self.settings.regions)
        try:
            opt_in = region_opt_in(ctx.client("ec2", ctx.home_region))
        except ReadFailure as failure:
            if wanted is None:
                raise CollectError(
                    f'{failure.api_call} failed ({failure.code}: {failure.message}), so regions = ["*"] '
                    "cannot be resolved; list the regions in [aws] regions"
                ) from None
            gap = CoverageGap(
                Scope("aws", ctx.account, ctx.home_region, "ec2/regions"),
                failure.api_call,
                failure.kind,
                failure.code,
                f"the account's enabled regions are unknown ({failure.message}); reading the "
                "configured regions as asked",
            )
            return wanted, False, Collection(gaps=(gap,))
        if wanted is None:
            return sorted(r for r, enabled in opt_in.items() if enabled), True, Collection()
        gaps = tuple(
            CoverageGap(
                Scope("aws", ctx.account, region, SECURITY_GROUP),
                "ec2.describe_regions",
                "region-disabled",
                "NotOptedIn",
                f"region {region} is not enabled for account {ctx.account}; skipped",
            )
            for region in wanted
            if not opt_in.get(region, True)
        )
        return [r for r in wanted if opt_in.get(r, True)], True, Collection(gaps=gaps)
