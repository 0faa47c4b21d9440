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
from driftwatch.collectors.aws.ec2_images import (
    ACCOUNT_SETTINGS,
    IMAGE,
    SNAPSHOT,
    collect_account_settings,
    collect_images,
    collect_snapshots,
)
from driftwatch.collectors.aws.ec2_instances import INSTANCE as EC2_INSTANCE
from driftwatch.collectors.aws.ec2_instances import collect_instances
from driftwatch.collectors.aws.iam import ACCOUNT_SUMMARY, PASSWORD_POLICY, USER, collect_iam
from driftwatch.collectors.aws.iam_entities import GROUP, POLICY, ROLE
from driftwatch.collectors.aws.kms import KEY, collect_keys
from driftwatch.collectors.aws.lambda_functions import FUNCTION, collect_functions
from driftwatch.collectors.aws.messaging import QUEUE, TOPIC, collect_queues, collect_topics
from driftwatch.collectors.aws.monitoring import DETECTORS, RECORDERS, collect_detectors, collect_recorders
from driftwatch.collectors.aws.rds import CLUSTER, INSTANCE, collect_databases
from driftwatch.collectors.aws.s3 import ACCOUNT_BLOCK, BUCKET, collect_s3


@dataclass(frozen=True)
class AwsService:
    """One service: ``collect(ctx, region)`` reads it in one region (the home region when global).

    ``types`` are the resource types the service reads (``resource_types.AWS_TYPES`` repeats them
    for commands that do not load boto3). For a regional service whose calls are refused in a
    region of unknown status (case 19), the region is reported as skipped for each of them. A
    collector may use ``ctx.map`` for its
    per-resource reads, but the functions it maps must not call ``ctx.map`` again.
    """

    name: str
    collect: Callable[[AwsContext, str], Collection]
    regional: bool
    types: tuple[str, ...] = ()


AWS_SERVICES: tuple[AwsService, ...] = (
    AwsService("s3", lambda ctx, _region: collect_s3(ctx), regional=False, types=(BUCKET, ACCOUNT_BLOCK)),
    AwsService(
        "iam",
        lambda ctx, _region: collect_iam(ctx),
        regional=False,
        types=(USER, ROLE, GROUP, POLICY, PASSWORD_POLICY, ACCOUNT_SUMMARY),
    ),
    AwsService(
        "ec2",
        lambda ctx, region: collect_security_groups(ctx, region).merge(collect_instances(ctx, region)),
        regional=True,
        types=(SECURITY_GROUP, EC2_INSTANCE),
    ),
    AwsService("cloudtrail", collect_trails, regional=True, types=(TRAIL,)),
    AwsService("kms", collect_keys, regional=True, types=(KEY,)),
    AwsService("rds", collect_databases, regional=True, types=(INSTANCE, CLUSTER)),
    AwsService("ec2-account", collect_account_settings, regional=True, types=(ACCOUNT_SETTINGS,)),
    AwsService("ebs", collect_snapshots, regional=True, types=(SNAPSHOT,)),
    AwsService("ami", collect_images, regional=True, types=(IMAGE,)),
    AwsService("lambda", collect_functions, regional=True, types=(FUNCTION,)),
    AwsService("sns", collect_topics, regional=True, types=(TOPIC,)),
    AwsService("sqs", collect_queues, regional=True, types=(QUEUE,)),
    AwsService("config", collect_recorders, regional=True, types=(RECORDERS,)),
    AwsService("guardduty", collect_detectors, regional=True, types=(DETECTORS,)),
)
