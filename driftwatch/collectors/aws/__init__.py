"""The AWS collector: every configured account, service and enabled region through boto3."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore
from botocore.exceptions import ProfileNotFound

from driftwatch.collectors import Collection, Progress, register
from driftwatch.collectors.aws.accounts import (
    AccountSource,
    account_sources,
    assumed_role_session,
    caller_account,
    profile_session,
)
from driftwatch.collectors.aws.calls import ReadFailure
from driftwatch.collectors.aws.context import AwsContext, make_session
from driftwatch.collectors.aws.regions import region_opt_in
from driftwatch.collectors.aws.services import AWS_SERVICES, AwsService
from driftwatch.config import AwsSettings
from driftwatch.errors import CollectError, CredentialsRejected
from driftwatch.model import CoverageGap, Scope


@dataclass(frozen=True)
class _Unit:
    """One service in one region of one account: the work one pool thread does at a time."""

    ctx: AwsContext
    service: AwsService
    region: str
    status_known: bool

    @property
    def label(self) -> str:
        return f"{self.ctx.account} {self.service.name} {self.region}"


@dataclass
class _Opened:
    """An account reached (its units to run) or not (a gap instead)."""

    source: AccountSource
    account: str = ""
    units: list[_Unit] = field(default_factory=list)
    collection: Collection = field(default_factory=Collection)


@register("aws")
class AwsCollector:
    """Reads the configured services (``AWS_SERVICES``) of every configured account.

    ``progress`` is told, from the calling thread, each time an account is opened or a unit
    (account, service, region) is read, with how many of the units known so far are done.
    """

    def __init__(
        self,
        settings: AwsSettings,
        session: boto3.session.Session | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.settings = settings
        self._session = session
        self._progress = progress or (lambda _progress: None)

    def collect(self) -> Collection:
        """Read every configured account and service; gaps for what could not be read."""
        try:
            session = self._session or make_session(self.settings)
        except ProfileNotFound as exc:
            raise CollectError(f"[aws] profile: {exc}") from None
        workers = self.settings.max_workers
        # Two pools: one for accounts and their (service, region) units, one for the per-resource
        # reads those units fan out, so that a unit waiting for its reads can never starve them.
        with (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="driftwatch-aws") as reads,
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="driftwatch-unit") as units,
        ):
            base = AwsContext(self.settings, session, reads)
            try:
                return self._collect(base, units)
            except BaseException:
                units.shutdown(cancel_futures=True)
                raise

    def _collect(self, base: AwsContext, units: ThreadPoolExecutor) -> Collection:
        sources = account_sources(self.settings, base)
        # Each job is an account being opened (index, -1) or a unit being read (index, n).
        jobs: dict[Future[Any], tuple[int, int]] = {
            units.submit(self._open, base, source): (i, -1) for i, source in enumerate(sources)
        }
        opened: dict[int, _Opened] = {}
        read: dict[tuple[int, int], Collection] = {}
        pending, total, done = set(jobs), len(sources), 0
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index, n = jobs[future]
                done += 1
                if n >= 0:
                    read[(index, n)] = future.result()
                    self._progress(Progress(done, total, opened[index].units[n].label))
                    continue
                account = opened[index] = future.result()
                if account.account in {o.account for i, o in opened.items() if i != index}:
                    account.units = []  # named twice (say, a profile and a role): read once
                for n, unit in enumerate(account.units):
                    submitted = units.submit(self._read, unit)
                    jobs[submitted] = (index, n)
                    pending.add(submitted)
                total += len(account.units)
                self._progress(Progress(done, total, f"{account.account or account.source.label} opened"))
        result = Collection(tool_versions={"botocore": botocore.__version__})
        for index in sorted(opened):  # a stable order, whatever order the threads finished in
            result = result.merge(opened[index].collection)
            for n in range(len(opened[index].units)):
                result = result.merge(read[(index, n)])
        return result

    def _open(self, base: AwsContext, source: AccountSource) -> _Opened:
        """Credentials, account id and regions for one account. With several accounts, one that
        cannot be opened is a gap for that account and the others go on."""
        try:
            return self._open_account(base, source)
        except ReadFailure as failure:
            assert source.account is not None  # only assumed roles raise ReadFailure here
            kind, code, api_call, reason = failure.kind, failure.code, failure.api_call, failure.message
        except (CollectError, CredentialsRejected) as exc:
            if not self.settings.several_accounts:
                raise
            if source.account is None:  # a profile: without its account, no gap can say what it covers
                raise CollectError(f"[aws] profiles: {source.profile}: {exc}") from None
            kind, reason = "denied", str(exc)
            code = getattr(exc, "code", "CredentialsRejected")
            api_call = getattr(exc, "api_call", "sts.assume_role")
        gap = CoverageGap(
            Scope.account_wide("aws", source.account),
            api_call,
            kind,
            code,
            f"{source.label} could not be used: {reason}; nothing of account {source.account} was read",
        )
        return _Opened(source, source.account, collection=Collection(gaps=(gap,)))

    def _open_account(self, base: AwsContext, source: AccountSource) -> _Opened:
        if source.role_arn:
            ctx = AwsContext(self.settings, assumed_role_session(base, source), base.pool)
        elif source.profile:
            ctx = AwsContext(self.settings, profile_session(source.profile), base.pool)
        else:
            ctx = base
        ctx.account = source.account or caller_account(ctx)
        chosen = [s for s in AWS_SERVICES if s.name in self.settings.services]
        work = [(s, ctx.home_region) for s in chosen if not s.regional]
        regional = [s for s in chosen if s.regional]
        status_known = True
        collection = Collection(accounts={ctx.account: source.label})
        if regional:
            regions, status_known, skipped = self._regions(ctx)
            collection = collection.merge(skipped)
            work += [(s, r) for r in regions for s in regional]
        units = [_Unit(ctx, service, region, status_known) for service, region in work]
        return _Opened(source, ctx.account, units, collection)

    def _read(self, unit: _Unit) -> Collection:
        """One service in one region. Where the account's regions could not be listed, rejected
        credentials in a region mean "not enabled" (case 19), not a failed run."""
        ctx, service, region = unit.ctx, unit.service, unit.region
        try:
            return service.collect(ctx, region)
        except CredentialsRejected as rejected:
            if not unit.status_known and service.regional:
                kind, message = (
                    "region-disabled",
                    (
                        f"region {region}: credentials rejected ({rejected.code}) while the account's "
                        "regions could not be listed; treated as a region not enabled and skipped"
                    ),
                )
            elif self.settings.several_accounts:  # one account's credentials must not stop the others
                kind, message = "denied", f"{rejected}"
            else:
                raise
            types = service.types if service.regional else ()
            scopes = [Scope("aws", ctx.account, region, t) for t in types] or [
                Scope.account_wide("aws", ctx.account)
            ]
            gaps = tuple(
                CoverageGap(scope, rejected.api_call, kind, rejected.code, message)  # type: ignore[arg-type]
                for scope in scopes
            )
            return Collection(gaps=gaps)

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
        disabled = frozenset(
            Scope.region_wide("aws", ctx.account, region) for region, enabled in opt_in.items() if not enabled
        )
        if wanted is None:  # every region enabled: the others are not asked for, so they are no gap
            enabled = sorted(r for r, on in opt_in.items() if on)
            return enabled, True, Collection(disabled_regions=disabled)
        gaps = tuple(
            CoverageGap(
                Scope.region_wide("aws", ctx.account, region),
                "ec2.describe_regions",
                "region-disabled",
                "NotOptedIn",
                f"region {region} is not enabled for account {ctx.account}; skipped",
            )
            for region in wanted
            if not opt_in.get(region, True)
        )
        readable = [r for r in wanted if opt_in.get(r, True)]
        return readable, True, Collection(gaps=gaps, disabled_regions=disabled)
