"""The AWS services driftwatch reads: for each, its collector and whether it is read region by region.

Adding a service is one entry here, its name in ``config.SERVICES``, its calls in
``defaults/iam-policy.json`` and its collector module (see README, "Adding an AWS resource type").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.cloudtrail import TRAIL, collect_trails
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.ec2 import SECURITY_GROUP, collect_security_groups
from driftwatch.collectors.aws.iam import collect_iam
from driftwatch.collectors.aws.kms import KEY, collect_keys
from driftwatch.collectors.aws.rds import CLUSTER, INSTANCE, collect_databases
from driftwatch.collectors.aws.s3 import collect_s3


@dataclass(frozen=True)
class AwsService:
    """One service: ``collect(ctx, region)`` reads it in one region (the home region when global).

    ``types`` are the resource types a regional service lists, so that a region the account has
    not enabled is reported as a gap for each of them. A collector may use ``ctx.map`` for its
    per-resource reads, but the functions it maps must not call ``ctx.map`` again.
    """

    name: str
    collect: Callable[[AwsContext, str], Collection]
    regional: bool
    types: tuple[str, ...] = ()


AWS_SERVICES: tuple[AwsService, ...] = (
    AwsService("s3", lambda ctx, _region: collect_s3(ctx), regional=False),
    AwsService("iam", lambda ctx, _region: collect_iam(ctx), regional=False),
    AwsService("ec2", collect_security_groups, regional=True, types=(SECURITY_GROUP,)),
    AwsService("cloudtrail", collect_trails, regional=True, types=(TRAIL,)),
    AwsService("kms", collect_keys, regional=True, types=(KEY,)),
    AwsService("rds", collect_databases, regional=True, types=(INSTANCE, CLUSTER)),
)
