"""The resource types a config has driftwatch read, known without importing any collector (or boto3).

``check-config`` warns of a ``[[guardrail]]`` rule whose ``type`` matches none of them: a typo
there (``githb/org``) would otherwise match nothing, silently, for ever.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatch

from driftwatch.config import Config

AWS_TYPES: dict[str, tuple[str, ...]] = {
    "s3": ("s3/bucket", "s3/account-public-access-block"),
    "iam": ("iam/user", "iam/role", "iam/group", "iam/policy", "iam/password-policy", "iam/account-summary"),
    "ec2": ("ec2/security-group", "ec2/instance"),
    "cloudtrail": ("cloudtrail/trail",),
    "kms": ("kms/key",),
    "rds": ("rds/db-instance", "rds/db-cluster"),
    "ec2-account": ("ec2/account-settings",),
    "ebs": ("ebs/snapshot",),
    "ami": ("ami/image",),
    "lambda": ("lambda/function",),
    "sns": ("sns/topic",),
    "sqs": ("sqs/queue",),
    "config": ("config/recorders",),
    "guardduty": ("guardduty/detectors",),
}
"""Each ``[aws] services`` name and the types it reads (a test keeps it equal to AWS_SERVICES)."""


def configured_types(config: Config) -> list[str]:
    """Every resource type that runs with ``config`` can store: AWS's and each SaaS table's."""
    aws = [t for s in config.aws.services for t in AWS_TYPES.get(s, ())] if config.aws.enabled else []
    saas = [settings.type_of(spec) for settings in config.saas for spec in settings.resources]
    return sorted({*aws, *saas})


def matches_none(patterns: Iterable[str], types: Iterable[str]) -> bool:
    """True when no type matches any of the globs (as the rule engine matches them)."""
    return not any(fnmatch(type_, pattern) for pattern in patterns for type_ in types)
