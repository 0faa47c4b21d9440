"""SNS topics and SQS queues: their access policies, encryption and delivery settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead
from driftwatch.collectors.aws.listed import ListedType, collect_listed, pick

TOPIC = "sns/topic"
QUEUE = "sqs/queue"

TOPIC_ATTRIBUTES = (
    "Policy",
    "KmsMasterKeyId",
    "DisplayName",
    "DeliveryPolicy",
    "FifoTopic",
    "ContentBasedDeduplication",
    "SignatureVersion",
    "TracingConfig",
    "ArchivePolicy",
    "Owner",
)
"""What a topic's ``Attributes`` keep; subscription counts and the effective policy are left out."""

QUEUE_ATTRIBUTES = (
    "Policy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "MaximumMessageSize",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "QueueArn",
)
"""What a queue's ``Attributes`` keep; message counts and timestamps are left out."""


def _topic_identity(topic: Mapping[str, Any], _account: str, _region: str) -> tuple[str, str | None]:
    arn = str(topic["TopicArn"])
    return arn.rsplit(":", 1)[-1], arn


TOPICS = ListedType(
    type=TOPIC,
    client="sns",
    list_operation="list_topics",
    items="Topics",
    identify=_topic_identity,
    base=lambda t: {"TopicArn": t["TopicArn"]},
    reads=(
        FieldRead("Attributes", "get_topic_attributes", lambda a: pick(a["Attributes"], TOPIC_ATTRIBUTES)),
    ),
    arguments=lambda t: {"TopicArn": t["TopicArn"]},
    gone_codes=frozenset({"NotFound"}),
)
"""``sns/topic``: each topic's ARN and the kept ``Attributes`` (its policy decoded later)."""


def _queue_identity(url: str, account: str, region: str) -> tuple[str, str | None]:
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return name, f"arn:aws:sqs:{region}:{account}:{name}"


QUEUES = ListedType(
    type=QUEUE,
    client="sqs",
    list_operation="list_queues",
    items="QueueUrls",
    identify=_queue_identity,
    base=lambda url: {"QueueUrl": url},
    reads=(
        FieldRead("Attributes", "get_queue_attributes", lambda a: pick(a["Attributes"], QUEUE_ATTRIBUTES)),
    ),
    arguments=lambda url: {"QueueUrl": url, "AttributeNames": ["All"]},
    # Without MaxResults, ListQueues answers at most 1,000 queues and no NextToken: the rest
    # would be silently left out of a scope marked read.
    list_arguments=lambda _account: {"MaxResults": 1000},
    gone_codes=frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}),
)
"""``sqs/queue``: each queue's URL and the kept ``Attributes`` (its policy decoded later)."""


def collect_topics(ctx: AwsContext, region: str) -> Collection:
    """Every SNS topic in one region."""
    return collect_listed(ctx, region, TOPICS)


def collect_queues(ctx: AwsContext, region: str) -> Collection:
    """Every SQS queue in one region."""
    return collect_listed(ctx, region, QUEUES)
