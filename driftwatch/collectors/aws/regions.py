"""The AWS regions enabled for an account (those botocore knows: ``driftwatch.regions``)."""

from __future__ import annotations

from typing import Any


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
