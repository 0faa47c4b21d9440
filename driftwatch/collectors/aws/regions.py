"""AWS region names: the ones botocore knows, and the ones enabled for an account."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3


@cache
def known_regions() -> frozenset[str]:
    """Every region name of every AWS partition that this botocore knows."""
    session = boto3.session.Session()
    names: set[str] = set()
    for partition in session.get_available_partitions():
        for service in ("ec2", "s3", "iam", "sts"):
            names.update(session.get_available_regions(service, partition_name=partition))
    return frozenset(names)


def region_opt_in(ec2_client: Any) -> dict[str, bool]:
    """Each region of the account mapped to whether it is enabled (opted in or needing no opt-in).

    Failures are raised as by :func:`driftwatch.collectors.aws.calls.call`.
    """
    from driftwatch.collectors.aws.calls import call

    answer = call(ec2_client, "describe_regions", AllRegions=True)
    return {
        r["RegionName"]: r.get("OptInStatus", "opt-in-not-required") != "not-opted-in"
        for r in answer["Regions"]
    }
