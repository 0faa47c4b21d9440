"""The AWS collector: one account through boto3, every configured service and enabled region."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from driftwatch.collectors import Collection, register
from driftwatch.collectors.aws.calls import ReadFailure
from driftwatch.collectors.aws.context import AwsContext, make_session
from driftwatch.collectors.aws.regions import region_opt_in
from driftwatch.collectors.aws.services import AWS_SERVICES, AwsService
from driftwatch.config import AwsSettings
from driftwatch.errors import CollectError, CredentialsRejected
from driftwatch.model import CoverageGap, Scope


@register("aws")
class AwsCollector:
    """Reads the configured services (``AWS_SERVICES``) of the account that boto3's credentials belong to."""

    def __init__(self, settings: AwsSettings, session: boto3.session.Session | None = None) -> None:
        self.settings = settings
        self._session = session

    def collect(self) -> Collection:
        """Read every configured service; gaps for what could not be read."""
        try:
            session = self._session or make_session(self.settings)
        except ProfileNotFound as exc:
            raise CollectError(f"[aws] profile: {exc}") from None
        chosen = [s for s in AWS_SERVICES if s.name in self.settings.services]
        workers = self.settings.max_workers
        # Two pools: one for the (service, region) units, one for the per-resource reads those
        # units fan out, so that a unit waiting for its reads can never starve them.
        with (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="driftwatch-aws") as reads,
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="driftwatch-unit") as units,
        ):
            ctx = AwsContext(self.settings, session, reads)
            ctx.account = self._account(ctx)
            result = Collection(tool_versions={"botocore": botocore.__version__})
            work = [(s, ctx.home_region) for s in chosen if not s.regional]
            regional = [s for s in chosen if s.regional]
            status_known = True
            if regional:
                regions, status_known, skipped = self._regions(ctx, regional)
                result = result.merge(skipped)
                work += [(s, r) for r in regions for s in regional]
            for part in units.map(lambda unit: self._unit(ctx, unit[0], unit[1], status_known), work):
                result = result.merge(part)
            return result

    def _unit(self, ctx: AwsContext, service: AwsService, region: str, status_known: bool) -> Collection:
        """One service in one region. Where the account's regions could not be listed, rejected
        credentials in a region mean "not enabled" (case 19), not a failed run."""
        try:
            return service.collect(ctx, region)
        except CredentialsRejected as rejected:
            if status_known or not service.regional:
                raise
            gaps = tuple(
                CoverageGap(
                    Scope("aws", ctx.account, region, type_),
                    rejected.api_call,
                    "region-disabled",
                    rejected.code,
                    f"region {region}: credentials rejected ({rejected.code}) while the account's "
                    "regions could not be listed; treated as a region not enabled and skipped",
                )
                for type_ in service.types
            )
            return Collection(gaps=gaps)

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

    def _regions(self, ctx: AwsContext, regional: list[AwsService]) -> tuple[list[str], bool, Collection]:
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
                Scope("aws", ctx.account, region, type_),
                "ec2.describe_regions",
                "region-disabled",
                "NotOptedIn",
                f"region {region} is not enabled for account {ctx.account}; skipped",
            )
            for region in wanted
            if not opt_in.get(region, True)
            for service in regional
            for type_ in service.types
        )
        return [r for r in wanted if opt_in.get(r, True)], True, Collection(gaps=gaps)
