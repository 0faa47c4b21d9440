"""AWS Config recorders and GuardDuty detectors, one settings document per region each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ABSENT, ReadFailure, call, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead, FieldResult
from driftwatch.collectors.aws.listed import collect_settings, pick
from driftwatch.model import JSONValue, Resource, ResourceId

RECORDERS = "config/recorders"
DETECTORS = "guardduty/detectors"

RECORDER_READS = (
    FieldRead(
        "Recorders",
        "describe_configuration_recorders",
        lambda a: {
            r["name"]: pick(r, ("roleARN", "recordingGroup", "recordingMode"))
            for r in a.get("ConfigurationRecorders", [])
        },
        absent={},
    ),
    FieldRead(
        "Recording",
        "describe_configuration_recorder_status",
        # lastStatus and the start/stop times change by themselves; whether it records does not.
        lambda a: {s["name"]: bool(s.get("recording")) for s in a.get("ConfigurationRecordersStatus", [])},
        absent={},
    ),
)
"""The fields of a ``config/recorders`` document: each recorder's settings, and whether it records."""


def collect_recorders(ctx: AwsContext, region: str) -> Collection:
    """The region's AWS Config recorders and whether each is recording."""
    return collect_settings(ctx, region, RECORDERS, "config", RECORDER_READS)


def detector_config(answer: Mapping[str, Any]) -> dict[str, JSONValue]:
    """The settings of one GetDetector answer: status, publishing frequency, features, tags."""
    features = {f["Name"]: f.get("Status") for f in answer.get("Features", []) if "Name" in f}
    return pick(answer, ("Status", "FindingPublishingFrequency", "ServiceRole")) | {
        "Features": features,
        "Tags": dict(answer.get("Tags") or {}),
    }


def collect_detectors(ctx: AwsContext, region: str) -> Collection:
    """The region's GuardDuty detectors (at most one per account and region) and their status."""
    identity = ResourceId("aws", ctx.account, region, DETECTORS, "account")
    client = ctx.client("guardduty", region)
    fields = FieldResult(identity)
    try:
        detectors: dict[str, JSONValue] = {}
        for detector_id in paginate(client, "list_detectors", "DetectorIds"):
            answer = call(client, "get_detector", DetectorId=detector_id)
            if answer is not ABSENT:
                detectors[detector_id] = detector_config(answer)
        fields.config["Detectors"] = detectors
    except ReadFailure as failure:
        fields.failed("Detectors", failure)
    scopes = frozenset() if fields.unreadable else frozenset({identity.scope})
    return Collection((Resource(identity, fields.config, fields.unreadable),), scopes, tuple(fields.gaps))
